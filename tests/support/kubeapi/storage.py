"""Objects, one global resourceVersion counter and the event log that watches read from.

API Conventions, "Concurrency Control and Consistency": the resourceVersion changes every time an
object is modified and a write carrying a stale one fails with 409 Conflict. The event log keeps
the last `window` changes; a watch from before them gets 410 Gone (reason Expired), as etcd's
compaction makes the real server do.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.support.kubeapi import errors
from tests.support.kubeapi.resources import ResourceType


def _clone(obj: Any) -> Any:
    """A copy of JSON data (what every stored object is): a round trip through the C JSON
    codec, several times faster than copy.deepcopy, which was most of a write's cost."""
    return json.loads(json.dumps(obj))


Obj = dict[str, Any]
GroupResource = tuple[str, str]
_NAMESPACES: GroupResource = ("", "namespaces")
# Top-level fields that are not part of the desired state: changing them leaves `generation` alone.
_NOT_SPEC = ("metadata", "status", "kind", "apiVersion")


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED or DELETED
    resource: GroupResource
    obj: Obj
    # The object before the change (None for ADDED): a watch with a selector turns a change that
    # moves an object out of (into) the selection into DELETED (ADDED).
    prev: Obj | None = None


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_preconditions(rt: ResourceType, current: Obj, sent: dict[str, Any]) -> None:
    """A uid or resourceVersion the client sent must be the object's (else 409 Conflict)."""
    meta = current["metadata"]
    name = meta["name"]
    if sent.get("uid") not in (None, "", meta["uid"]):
        why = f"Precondition failed: UID in precondition: {sent['uid']}, UID in object meta: {meta['uid']}"
        raise errors.conflict(rt.plural, name, rt.group, why)
    if sent.get("resourceVersion") not in (None, "", meta["resourceVersion"]):
        raise errors.conflict(rt.plural, name, rt.group)


def _desired(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in _NOT_SPEC}


class Store:
    """Thread-safe object store; every change gets the next resourceVersion and an event."""

    def __init__(self, window: int = 1000) -> None:
        self.window = window
        self.cond = threading.Condition()
        self._rv = 0
        self._objects: dict[GroupResource, dict[tuple[str, str], Obj]] = {}
        self._log: deque[Event] = deque()
        self._compacted = 0  # the newest resourceVersion whose event has left the log

    # --- reading -------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self.cond:
            return self._rv

    def get(self, rt: ResourceType, ns: str, name: str) -> Obj:
        with self.cond:
            return self._view(rt, self._existing(rt, ns, name))

    def objects(self, rt: ResourceType, ns: str | None) -> tuple[list[Obj], int]:
        """The objects of one type (in one namespace, or all), sorted, and the list's version."""
        with self.cond:
            objs = self._objects.get((rt.group, rt.plural), {})
            items = [self._view(rt, o) for (o_ns, _), o in sorted(objs.items()) if ns in (None, o_ns)]
            return items, self._rv

    def events_after(self, resource: GroupResource, rv: int) -> tuple[list[Event], int]:
        """Events of one group-resource newer than `rv` and the version they reach.

        410 Expired when some of those events have left the log.
        """
        with self.cond:
            if rv < self._compacted:
                raise errors.expired(
                    f"too old resource version: {rv} ({self._compacted + 1}); "
                    f"the server keeps the last {self.window} changes"
                )
            return [e for e in self._log if e.rv > rv and e.resource == resource], self._rv

    def compact(self) -> None:
        """Drop every event from the log, as etcd compaction does: older watches then get 410."""
        with self.cond:
            self._log.clear()
            self._compacted = self._rv
            self.cond.notify_all()

    # --- writing -------------------------------------------------------------------------

    def create(self, rt: ResourceType, ns: str, body: Obj) -> Obj:
        meta = body.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.invalid(rt.kind, "", "metadata", meta, "an object", rt.group)
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = meta["generateName"] + secrets.token_hex(3)[:5]
        if not name:
            raise errors.invalid(
                rt.kind, "", "metadata.name", name, "name or generateName is required", rt.group
            )
        with self.cond:
            if rt.namespaced and ("", ns) not in self._objects.get(_NAMESPACES, {}):
                raise errors.not_found("namespaces", ns)
            objs = self._objects.setdefault((rt.group, rt.plural), {})
            key = (ns if rt.namespaced else "", name)
            if key in objs:
                raise errors.already_exists(rt.plural, name, rt.group)
            obj = _clone(body)
            if rt.status_subresource:
                # API Conventions, "Spec and Status": POST ignores status.
                obj.pop("status", None)
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            meta = obj["metadata"]
            for server_set in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
                meta.pop(server_set, None)
            meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339(), generation=1)
            if rt.namespaced:
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            objs[key] = obj
            self._record("ADDED", rt, obj)
            return self._view(rt, obj)

    def update(
        self, rt: ResourceType, ns: str, name: str, change: Callable[[Obj], Obj], subresource: str = ""
    ) -> Obj:
        """Replace an object by `change(current)` (under the lock, so patches never race).

        The new object's resourceVersion, when set, must be the current one (else 409 Conflict).
        On the main resource status is kept; on the status subresource only status changes.
        """
        with self.cond:
            current = self._existing(rt, ns, name)
            new = change(self._view(rt, current))
            meta = new.get("metadata")
            if not isinstance(meta, dict):
                raise errors.invalid(rt.kind, name, "metadata", meta, "an object", rt.group)
            if meta.get("name", name) != name:
                raise errors.bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
                )
            _check_preconditions(rt, current, meta)
            if subresource == "status":
                new = _clone(current) | {"status": _clone(new.get("status"))}
                if new["status"] is None:
                    del new["status"]
            else:
                new = _clone(new)
                if rt.status_subresource:
                    new.pop("status", None)
                    if "status" in current:
                        new["status"] = _clone(current["status"])
                for kept in (
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                    "namespace",
                    "name",
                    "generation",
                ):
                    if kept in current["metadata"]:
                        new["metadata"][kept] = current["metadata"][kept]
                    else:
                        new["metadata"].pop(kept, None)
                if _desired(new) != _desired(current):
                    new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if new == current:
                return self._view(rt, current)  # a no-op write keeps the resourceVersion
            key = (ns if rt.namespaced else "", name)
            objs = self._objects[(rt.group, rt.plural)]
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                del objs[key]
                self._record("DELETED", rt, new, current)
            else:
                objs[key] = new
                self._record("MODIFIED", rt, new, current)
            return self._view(rt, new)

    def delete(
        self, rt: ResourceType, ns: str, name: str, preconditions: dict[str, str] | None = None
    ) -> tuple[Obj, bool]:
        """Delete, or with finalizers only mark deleted (deletionTimestamp); True when gone.

        DeleteOptions.preconditions (uid, resourceVersion) must match, else 409 Conflict.
        """
        with self.cond:
            current = self._existing(rt, ns, name)
            _check_preconditions(rt, current, preconditions or {})
            key = (ns if rt.namespaced else "", name)
            if current["metadata"].get("finalizers"):
                if not current["metadata"].get("deletionTimestamp"):
                    before = _clone(current)
                    current["metadata"].update(deletionTimestamp=now_rfc3339(), deletionGracePeriodSeconds=0)
                    self._record("MODIFIED", rt, current, before)
                return self._view(rt, current), False
            del self._objects[(rt.group, rt.plural)][key]
            self._record("DELETED", rt, current, _clone(current))
            return self._view(rt, current), True

    def drop_resource(self, group: str, plural: str) -> None:
        """Delete every object of a group-resource (its CRD went away)."""
        with self.cond:
            for obj in list(self._objects.pop((group, plural), {}).values()):
                self._rv += 1
                obj["metadata"]["resourceVersion"] = str(self._rv)
                self._append(Event(self._rv, "DELETED", (group, plural), _clone(obj)))
            self.cond.notify_all()

    # --- internals -----------------------------------------------------------------------

    def _existing(self, rt: ResourceType, ns: str, name: str) -> Obj:
        obj = self._objects.get((rt.group, rt.plural), {}).get((ns if rt.namespaced else "", name))
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return obj

    def _view(self, rt: ResourceType, obj: Obj) -> Obj:
        out: Obj = _clone(obj)
        out["apiVersion"], out["kind"] = rt.api_version, rt.kind
        return out

    def _record(self, kind: str, rt: ResourceType, obj: Obj, prev: Obj | None = None) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        before = self._view(rt, prev) if prev is not None else None
        self._append(Event(self._rv, kind, (rt.group, rt.plural), self._view(rt, obj), before))
        self.cond.notify_all()

    def _append(self, event: Event) -> None:
        self._log.append(event)
        while len(self._log) > self.window:
            self._compacted = self._log.popleft().rv
