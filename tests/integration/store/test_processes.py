"""Several OS processes on one store file: optimistic concurrency and watch across processes.

Children are spawned (not forked), as separate programs opening the file would be.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.context
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedtn.store import ConflictError, SqliteStore
from tests.integration.store import workers

CTX = multiprocessing.get_context("spawn")


@contextlib.contextmanager
def processes(target: Callable[..., None], *arg_lists: tuple[Any, ...]) -> Iterator[list[Any]]:
    """Start one process per argument tuple; on exit wait for them, killing stragglers."""
    started = [CTX.Process(target=target, args=args) for args in arg_lists]
    for p in started:
        p.start()
    try:
        yield started
    finally:
        for p in started:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
                p.join()


def collect(results: Any, count: int) -> list[Any]:
    return [results.get(timeout=120) for _ in range(count)]


def test_read_modify_write_from_many_processes_loses_no_increment(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    workers_n, times = 4, 100
    with SqliteStore(path) as store:
        start = store.create({"metadata": {"name": "counter"}, "spec": {"count": 0}})
        barrier, results = CTX.Barrier(workers_n), CTX.Queue()
        with processes(
            workers.increment, *[(path, "counter", times, barrier, results)] * workers_n
        ) as started:
            conflicts = collect(results, workers_n)
        assert [p.exitcode for p in started] == [0] * workers_n
        final = store.get("default", "counter")
        assert final["spec"]["count"] == workers_n * times
        assert final["metadata"]["generation"] == 1 + workers_n * times
        # Every committed write is one event, and each saw the count one higher than the last.
        counts = [
            e.object["spec"]["count"]
            for e in store.watch(resource_version=start["metadata"]["resourceVersion"], timeout=0.1)
        ]
        assert counts == list(range(1, workers_n * times + 1))
    print(f"\nconflicts retried per process: {conflicts}")


def test_a_write_from_another_process_makes_my_copy_stale(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    with SqliteStore(path) as store:
        mine = store.create({"metadata": {"name": "r1"}, "spec": {"count": 0}})
        with processes(workers.update_once, (path, "r1")) as started:
            pass
        assert started[0].exitcode == 0
        mine["spec"]["count"] = 100
        with pytest.raises(
            ConflictError, match=r"^topology default/r1: resourceVersion 1 is stale, current is 2"
        ):
            store.update(mine)
        assert store.get("default", "r1")["spec"]["count"] == 1


def test_simultaneous_creates_of_one_name_have_one_winner(tmp_path: Path) -> None:
    # The file does not exist yet: the processes also race to create it and its schema.
    path = str(tmp_path / "fresh" / "store.db")
    n = 6
    barrier = CTX.Barrier(n)
    results = CTX.Queue()
    with processes(workers.create_after_barrier, *[(path, "r1", barrier, results)] * n) as started:
        outcomes = collect(results, n)
    assert [p.exitcode for p in started] == [0] * n
    assert sorted(outcomes) == ["created"] + ["exists"] * (n - 1)
    with SqliteStore(path) as store:
        items, rv = store.list()
        assert [o["metadata"]["name"] for o in items] == ["r1"]
        assert rv == "1"


def test_watcher_in_another_process_sees_every_event_in_order(tmp_path: Path) -> None:
    path = str(tmp_path / "store.db")
    writers, per_writer = 3, 4
    expected_count = writers * per_writer * 5 + 2
    with SqliteStore(path) as store:
        store.create({"metadata": {"name": "before"}, "spec": {}})  # not after the watch's start: unseen
        _, start = store.list()
        ready, seen_q, written_q = CTX.Event(), CTX.Queue(), CTX.Queue()
        with processes(workers.watch_until, (path, start, expected_count, ready, seen_q)) as watcher:
            assert ready.wait(timeout=60), "the watcher process did not start"
            with processes(
                workers.write_lifecycles, *[(path, f"w{i}", per_writer, written_q) for i in range(writers)]
            ):
                written = [entry for batch in collect(written_q, writers) for entry in batch]
            # Two more from this process, after the others: a plain delete and a late create.
            assert store.delete("default", "before") is None
            written.append((int(store.list()[1]), "DELETED", "before"))
            late = store.create({"metadata": {"name": "late"}, "spec": {}})
            written.append((int(late["metadata"]["resourceVersion"]), "ADDED", "late"))
            seen = seen_q.get(timeout=120)
        assert watcher[0].exitcode == 0
    assert len(written) == expected_count
    assert seen == sorted(written)
    rvs = [rv for rv, _, _ in seen]
    assert rvs == list(range(int(start) + 1, int(start) + 1 + expected_count)), "no gap, no repeat"
