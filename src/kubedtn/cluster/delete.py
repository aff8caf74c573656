"""Delete Topologies and, if asked, wait until they are gone.

A Topology with finalizers is only marked deleted; the daemons remove its links first
and then its finalizer, and the API server deletes it. Waiting lists the objects, then
watches from the list's resourceVersion until each is DELETED, so no deletion is missed
between the two.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from kubedtn.store.base import EventType, ObjectStore
from kubedtn.store.errors import NotFoundError

Key = tuple[str, str]  # (namespace, name)


@dataclass(frozen=True)
class Deleted:
    done: tuple[Key, ...]  # deleted, or marked deleted
    held: tuple[Key, ...]  # still there, held by finalizers (after delete)
    missing: tuple[str, ...]  # one line per object that was not there


def delete_all(store: ObjectStore, keys: Sequence[Key]) -> Deleted:
    done: list[Key] = []
    held: list[Key] = []
    missing: list[str] = []
    for ns, name in keys:
        try:
            answer = store.delete(ns, name)
        except NotFoundError as e:
            missing.append(str(e))
            continue
        done.append((ns, name))
        if answer is not None:
            held.append((ns, name))
    return Deleted(tuple(done), tuple(held), tuple(missing))


def wait_gone(store: ObjectStore, keys: Iterable[Key], *, timeout: float) -> set[Key]:
    """Wait until none of ``keys`` exists; the ones still there after ``timeout`` seconds."""
    remaining = set(keys)
    namespaces = {ns for ns, _ in remaining}
    scope = next(iter(namespaces)) if len(namespaces) == 1 else None
    deadline = time.monotonic() + timeout
    while remaining:
        items, version = store.list(namespace=scope)
        remaining &= {(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in items}
        left = deadline - time.monotonic()
        if not remaining or left <= 0:
            break
        stream = store.watch(
            resource_version=version, namespace=scope, timeout=left, types=(EventType.DELETED,)
        )
        try:
            for event in stream:
                meta = event.object["metadata"]
                remaining.discard((meta.get("namespace", ""), meta["name"]))
                if not remaining:
                    break
        finally:
            stream.stop()
        if time.monotonic() >= deadline:
            break
    return remaining
