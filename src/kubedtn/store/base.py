"""The store interface: the Kubernetes object model, cut to what kubedtn needs.

A backend stores objects of one :class:`~kubedtn.store.resource.Resource` as plain
dicts in Kubernetes JSON form. The calls and their semantics follow the API server
(optimistic concurrency on ``metadata.resourceVersion``, a status subresource,
finalizers, watch from a resourceVersion with 410 Gone when it is too old), so a
Kubernetes backend is a thin adapter over the official client and code written
against the embedded SQLite store runs unchanged on a cluster.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from kubedtn.store.objects import KubeObject
from kubedtn.store.resource import Resource
from kubedtn.store.selectors import SelectorLike

ObjectList = list[KubeObject]  # an alias: inside ObjectStore, ``list`` names the method
StatusWrite = tuple[str | None, str, str, Mapping[str, Any]]  # namespace, name, resourceVersion, status
WrittenVersions = list[str | None]  # per StatusWrite: its new resourceVersion, None if not written
KnownVersion = tuple[str | None, str, str]  # namespace, name, the resourceVersion the reader has ("": none)
Changed = dict[tuple[str, str], KubeObject | None]  # get_changed's answer, by (namespace, name)


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class WatchEvent:
    """One change. ``object`` is the object after the change; for DELETED, its last state
    stamped with the resourceVersion of the deletion."""

    type: EventType
    object: KubeObject


class WatchStream(Protocol):
    """An iterator of events that ends at its timeout or when stop() is called (from any thread)."""

    def __iter__(self) -> Iterator[WatchEvent]: ...

    def __next__(self) -> WatchEvent: ...

    @property
    def pending(self) -> int:
        """Events already received and not yet returned: next() will not wait for them.
        A consumer that only needs the latest state acts once this is 0."""
        ...

    @property
    def position(self) -> int:
        """The resourceVersion up to which every event was received (those of other types
        too, skipped): with ``pending`` 0, a new watch from here misses nothing (like a
        Kubernetes bookmark)."""
        ...

    def stop(self) -> None: ...


class ObjectStore(Protocol):
    """Objects of one resource. Every returned dict is the caller's own copy.

    Errors (all in :mod:`kubedtn.store.errors`): ``NotFoundError``; ``ConflictError``
    for a stale resourceVersion or uid precondition; ``AlreadyExistsError`` (a
    ConflictError) from create; ``ValidationError`` for malformed bodies;
    ``ExpiredError`` from watch.
    """

    # Whether reads come from a cache that may lag other writers' writes (then a
    # ``get_changed(..., latest=True)`` reads something else); False: every read is latest.
    cached: bool

    @property
    def resource(self) -> Resource: ...

    def get(self, namespace: str | None, name: str) -> KubeObject:
        """The object, or NotFoundError. ``namespace`` is None/"" for cluster-scoped kinds."""
        ...

    def get_if_changed(self, namespace: str | None, name: str, resource_version: str) -> KubeObject | None:
        """The object, or None when it is still the version ``resource_version`` (a reader
        with that version parsed already skips reading it again); NotFoundError when absent.
        A backend that cannot ask the server this cheaply may get and compare."""
        ...

    def get_changed(self, known: Sequence[KnownVersion], *, latest: bool = False) -> Changed:
        """get_if_changed of many objects, all read from one snapshot (as they were at one
        moment: of two objects written together, a reader sees both writes or neither).
        Keyed by (namespace, name); an absent object is left out; "" as the version: not
        known, the object is returned. ``latest``: read past any cache of this store, as the
        backing service holds them now (a cache may lag other writers' writes); a store
        without a cache always reads so."""
        ...

    def list(
        self, namespace: str | None = None, label_selector: SelectorLike = None
    ) -> tuple[ObjectList, str]:
        """Objects sorted by (namespace, name) and the resourceVersion this list is consistent
        with: watching from it misses nothing and repeats nothing. ``namespace`` None = all."""
        ...

    def create(self, obj: Mapping[str, Any]) -> KubeObject:
        """Store a new object: sets uid, resourceVersion, generation=1, creationTimestamp; drops
        status; namespace defaults to "default". AlreadyExistsError when the name is taken."""
        ...

    def update(self, obj: Mapping[str, Any]) -> KubeObject:
        """Replace everything but status and server-owned metadata. ``metadata.resourceVersion`` is
        required and must be current (else ConflictError). generation bumps when content outside
        metadata/status changes. Removing the last finalizer of an object being deleted deletes it."""
        ...

    def update_status(self, obj: Mapping[str, Any]) -> KubeObject:
        """Replace only ``status`` (absent = cleared); resourceVersion checked as in update."""
        ...

    def write_status(
        self, namespace: str | None, name: str, *, resource_version: str, status: Mapping[str, Any]
    ) -> str:
        """update_status of ``{"metadata": {name, namespace, resourceVersion}, "status": status}``
        for a caller that needs only the new resourceVersion back (the old one when the status
        already is this: nothing is written). Errors as update_status."""
        ...

    def write_statuses(self, writes: Sequence[StatusWrite]) -> WrittenVersions:
        """write_status of each ``(namespace, name, resourceVersion, status)``, together (one
        transaction where the backend has them). Per write: the new resourceVersion (the old
        one when nothing needed writing), or None where nothing was written because the
        object is absent, its resourceVersion is another one (also after an earlier write of
        the same object in the list) or the write is malformed; write_status of that one
        alone says which."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """Writes of this thread inside the block may be committed together (one transaction:
        many small writes cost about one). Each write keeps its own checks and errors (a failed
        one changes nothing and the others stand); others see the writes when the block ends.
        A backend without transactions (the Kubernetes API) writes each at once."""
        ...

    def delete(
        self, namespace: str | None, name: str, *, resource_version: str | None = None
    ) -> KubeObject | None:
        """Delete now (returns None) or, when the object has finalizers, mark it with
        deletionTimestamp and return it; deleting a marked object again changes nothing.
        ``resource_version`` is an optional precondition (ConflictError when stale)."""
        ...

    def watch(
        self,
        *,
        resource_version: str | None = None,
        namespace: str | None = None,
        timeout: float | None = None,
        types: Collection[EventType] | None = None,
    ) -> WatchStream:
        """Every change after ``resource_version``, in order, blocking until one comes.

        None or "0" first replays the current objects as ADDED events (like a list) and then
        streams changes. ExpiredError when events after ``resource_version`` were compacted away
        (at the call, or later if the watcher falls that far behind). The stream ends after
        ``timeout`` seconds (None: never) or when stopped. ``types``: only events of these
        types (None: all); the others are skipped where the backend can, unread (a watcher
        of the set of objects need not load every status write)."""
        ...

    def close(self) -> None: ...
