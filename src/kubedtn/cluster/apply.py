"""Create or update Topologies, as ``kubectl apply`` reports it: created, configured, unchanged.

An update replaces the spec and adds the file's labels and annotations to the live ones;
everything else of the live object (status, finalizers, other metadata) is kept. A write
that loses a race (409 Conflict) starts again from the current object.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from kubedtn.errors import KubedtnError
from kubedtn.store.base import ObjectStore
from kubedtn.store.errors import AlreadyExistsError, ConflictError, NotFoundError, StoreUnavailableError
from kubedtn.store.objects import KubeObject
from kubedtn.store.retry import retry_on_conflict

CONCURRENT_APPLIES = 8


class Outcome(enum.StrEnum):
    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Applied:
    namespace: str
    name: str
    outcome: Outcome


def merged(live: Mapping[str, Any], want: Mapping[str, Any]) -> dict[str, Any]:
    """The live object with the file's spec, labels and annotations."""
    out = copy.deepcopy(dict(live))
    out["spec"] = copy.deepcopy(want.get("spec", {}))
    meta = out.setdefault("metadata", {})
    for key in ("labels", "annotations"):
        wanted = want.get("metadata", {}).get(key) or {}
        if wanted:
            meta[key] = {**(meta.get(key) or {}), **wanted}
    return out


_UNKNOWN: Any = object()  # (no listing said whether the object exists)


def apply_one(
    store: ObjectStore, want: Mapping[str, Any], *, listed: KubeObject | None = _UNKNOWN
) -> Applied:
    """``listed``: the object as a list just read it (None: absent), which saves the first get."""
    meta = want["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    first = [listed]

    def attempt() -> Outcome:
        try:
            seen = first.pop() if first else _UNKNOWN
            if seen is None:
                raise NotFoundError(f"{namespace}/{name}")
            live: KubeObject = store.get(namespace, name) if seen is _UNKNOWN else seen
        except NotFoundError:
            try:
                store.create(want)
            except AlreadyExistsError as e:  # made meanwhile: update it instead
                raise ConflictError(str(e)) from e
            return Outcome.CREATED
        new = merged(live, want)
        if new == live:
            return Outcome.UNCHANGED
        store.update(new)
        return Outcome.CONFIGURED

    return Applied(namespace, name, retry_on_conflict(attempt))


def apply_all(store: ObjectStore, objects: Sequence[Mapping[str, Any]]) -> tuple[list[Applied], list[str]]:
    """Apply each object; the ones done and one line per problem of the others.

    An API server that cannot be reached stops the run (StoreUnavailableError): every
    later object would fail the same way.
    """
    done: list[Applied] = []
    problems: list[str] = []
    # One list per namespace instead of a get per object (a retry after a conflict gets).
    listed: dict[tuple[str, str], KubeObject] = {}
    for namespace in sorted({str(w["metadata"]["namespace"]) for w in objects}):
        items, _ = store.list(namespace)
        listed.update({(namespace, str(o["metadata"]["name"])): o for o in items})

    def one(want: Mapping[str, Any]) -> Applied | KubedtnError:
        key = (str(want["metadata"]["namespace"]), str(want["metadata"]["name"]))
        try:
            return apply_one(store, want, listed=listed.get(key))
        except StoreUnavailableError:
            raise
        except KubedtnError as e:
            return e

    # Objects are independent and each costs two round trips (get, then create or update):
    # a few at a time, results in the files' order.
    with ThreadPoolExecutor(max_workers=CONCURRENT_APPLIES, thread_name_prefix="kubedtn-apply") as pool:
        for result in pool.map(one, objects):
            if isinstance(result, KubedtnError):
                problems.extend(getattr(result, "problems", None) or [str(result)])
            else:
                done.append(result)
    return done, problems
