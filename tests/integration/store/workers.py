"""Code run in child processes by the multi-process store tests (spawned, so importable here)."""

from __future__ import annotations

import multiprocessing.synchronize
from multiprocessing.queues import Queue
from typing import Any

from kubedtn.store import AlreadyExistsError, ConflictError, SqliteStore, retry_on_conflict

NAMESPACE = "default"


def increment(
    path: str, name: str, times: int, barrier: multiprocessing.synchronize.Barrier, results: Queue[Any]
) -> None:
    """Read-modify-write ``spec.count`` ``times`` times, retrying lost races; report the losses."""
    conflicts = 0
    with SqliteStore(path) as store:
        barrier.wait(timeout=60)  # all start together, so their writes really interleave

        def once() -> None:
            nonlocal conflicts
            obj = store.get(NAMESPACE, name)
            obj["spec"]["count"] += 1
            try:
                store.update(obj)
            except ConflictError:
                conflicts += 1
                raise

        for _ in range(times):
            retry_on_conflict(once, attempts=10_000, delay=0.002)
    results.put(conflicts)


def update_once(path: str, name: str) -> None:
    with SqliteStore(path) as store:
        obj = store.get(NAMESPACE, name)
        obj["spec"]["count"] += 1
        store.update(obj)


def create_after_barrier(
    path: str, name: str, barrier: multiprocessing.synchronize.Barrier, results: Queue[Any]
) -> None:
    """Open the store (maybe creating the file) and create ``name`` at the same moment as the others."""
    barrier.wait(timeout=60)
    with SqliteStore(path) as store:
        try:
            store.create({"metadata": {"name": name}, "spec": {}})
            results.put("created")
        except AlreadyExistsError:
            results.put("exists")


def write_lifecycles(path: str, prefix: str, objects: int, results: Queue[Any]) -> None:
    """Take objects through create, update, status, delete-with-finalizer; report (rv, type, name)."""
    done: list[tuple[int, str, str]] = []
    with SqliteStore(path) as store:
        for i in range(objects):
            name = f"{prefix}-{i}"

            def rv(obj: dict[str, Any]) -> int:
                return int(obj["metadata"]["resourceVersion"])

            obj = store.create(
                {"metadata": {"name": name, "finalizers": ["kubedtn.io/test"]}, "spec": {"n": 0}}
            )
            done.append((rv(obj), "ADDED", name))
            obj["spec"]["n"] = 1
            obj = store.update(obj)
            done.append((rv(obj), "MODIFIED", name))
            obj["status"] = {"seen": True}
            obj = store.update_status(obj)
            done.append((rv(obj), "MODIFIED", name))
            marked = store.delete(NAMESPACE, name)
            assert marked is not None
            done.append((rv(marked), "MODIFIED", name))
            marked["metadata"]["finalizers"] = []
            gone = store.update(marked)
            done.append((rv(gone), "DELETED", name))
    results.put(done)


def watch_until(path: str, resource_version: str, count: int, ready: Any, results: Queue[Any]) -> None:
    """Watch from ``resource_version`` until ``count`` events arrived (or 60 s passed); report them."""
    seen: list[tuple[int, str, str]] = []
    with SqliteStore(path) as store:
        watch = store.watch(resource_version=resource_version, timeout=60)
        ready.set()
        for event in watch:
            meta = event.object["metadata"]
            seen.append((int(meta["resourceVersion"]), event.type.value, meta["name"]))
            if len(seen) == count:
                break
    results.put(seen)
