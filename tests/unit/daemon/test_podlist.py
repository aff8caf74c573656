"""The topology pod list: written atomically, follows the store's Topologies, survives expiry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedtn.daemon.podlist import PodListWriter, read_pod_list, write_pod_list
from kubedtn.store import SqliteStore


def wait_for(condition: object, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def topo(name: str, namespace: str = "default") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"links": []}}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db", max_events=5, compact_every=1)
    try:
        yield s
    finally:
        s.close()


def test_the_file_is_sorted_keys_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "state" / "topology-pods.json"
    write_pod_list(path, ["lab/r2", "default/r1", "lab/r2"])
    assert read_pod_list(path) == ["default/r1", "lab/r2"]
    assert [p.name for p in path.parent.iterdir()] == ["topology-pods.json"]  # no temp file left


def test_the_writer_follows_added_and_deleted_topologies_but_not_status_writes(
    store: SqliteStore, tmp_path: Path
) -> None:
    store.create(topo("r1"))
    path = tmp_path / "topology-pods.json"
    writer = PodListWriter(store=store, path=path)
    writer.start()
    try:
        assert read_pod_list(path) == ["default/r1"]
        store.create(topo("r2", "lab"))
        wait_for(lambda: read_pod_list(path) == ["default/r1", "lab/r2"], "r2 in the list")
        writes = writer.writes
        obj = store.get("default", "r1")
        obj["status"] = {"src_ip": "10.0.0.1", "net_ns": "/n"}
        store.update_status(obj)
        store.delete("lab", "r2")
        # The writer counts a write just after the file is in place: wait for both.
        wait_for(
            lambda: read_pod_list(path) == ["default/r1"] and writer.writes > writes,
            "r2 gone from the list",
        )
        # Events come in order: a rewrite for the status write would have been counted first.
        assert writer.writes == writes + 1  # the status write rewrote nothing
    finally:
        writer.stop()


def test_an_expired_watch_lists_again(store: SqliteStore, tmp_path: Path) -> None:
    path = tmp_path / "topology-pods.json"
    writer = PodListWriter(store=store, path=path)
    store.create(topo("first"))
    rv = writer.sync()
    for i in range(12):  # past the store's 5 kept events: a watch from rv has expired
        store.create(topo(f"p{i}"))
    store.compact()
    thread = threading.Thread(target=writer._run, args=(rv,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: len(read_pod_list(path)) == 13, "the relisted pods")
        assert writer.writes == 2  # the first sync, then one relist (not 12 event-by-event writes)
    finally:
        writer.stop()
        writer._stopped.set()
        thread.join(timeout=40)


def test_a_burst_of_topologies_is_one_rewrite(tmp_path: Path) -> None:
    """200 Topologies committed at once (one lab up) arrive in one fetch: one file write."""
    with SqliteStore(tmp_path / "store.db") as store:
        path = tmp_path / "topology-pods.json"
        writer = PodListWriter(store=store, path=path)
        writer.start()
        try:
            assert writer.writes == 1  # the start's sync
            with store.batch():
                for i in range(200):
                    store.create(topo(f"p{i:03}", "lab"))
            wait_for(lambda: writer.writes > 1, "the burst written")
            assert read_pod_list(path) == [f"lab/p{i:03}" for i in range(200)]
            assert writer.writes == 2
        finally:
            writer.stop()


def test_added_objects_are_handed_on(store: SqliteStore, tmp_path: Path) -> None:
    # Not an empty store: its list's resourceVersion would be "0", and a watch from "0" starts
    # wherever the store is when the writer's thread gets to it (a list of what exists then).
    store.create(topo("r0"))
    seen: list[tuple[str, str]] = []
    writer = PodListWriter(
        store=store,
        path=tmp_path / "topology-pods.json",
        on_object=lambda o: seen.append((o["metadata"]["name"], o["metadata"]["resourceVersion"])),
    )
    writer.start()
    try:
        first = store.create(topo("r1"))
        first["status"] = {"src_ip": "10.0.0.1"}
        store.update_status(first)
        store.delete("default", "r1")
        second = store.create(topo("r2"))
        # Events arrive in order: once r2 is handed on, r1's status change and deletion were read.
        wait_for(lambda: len(seen) >= 2, "r2 handed on")
        assert seen == [
            ("r1", first["metadata"]["resourceVersion"]),
            ("r2", second["metadata"]["resourceVersion"]),
        ]  # not the status change, not the deletion
    finally:
        writer.stop()
