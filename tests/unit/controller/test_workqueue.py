"""The controller's work queue: de-duplication, one worker per key, backoff, shutdown."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from kubedtn.controller.workqueue import Workers, WorkQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_added_many_times_while_waiting_is_handed_out_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(5):
        q.add("default/r1")
    q.add("default/r2")
    assert len(q) == 2
    assert [q.get(timeout=1), q.get(timeout=1)] == ["default/r1", "default/r2"]
    assert q.get(timeout=0.01) is None
    assert q.metrics().adds == 2 and q.metrics().processing == 2


def test_a_key_added_while_processing_waits_for_done_and_comes_once_more() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("k")
    assert q.get(timeout=1) == "k"
    q.add("k")
    q.add("k")
    assert q.get(timeout=0.01) is None  # not to a second worker while the first has it
    q.done("k")
    assert q.get(timeout=1) == "k"
    q.done("k")
    assert q.get(timeout=0.01) is None and q.wait_idle(1)


def test_many_workers_never_share_a_key_and_see_its_last_state() -> None:
    # Producers bump each key's state and add the key; a level-triggered handler reads the
    # state. Whatever the interleaving, no key is in two handlers at once and each key's last
    # state is handled after its last add.
    q: WorkQueue[int] = WorkQueue()
    lock = threading.Lock()
    state: Counter[int] = Counter()
    seen: dict[int, int] = {}
    in_flight: Counter[int] = Counter()
    overlaps: list[int] = []

    def handle(key: int) -> None:
        with lock:
            in_flight[key] += 1
            if in_flight[key] > 1:
                overlaps.append(key)
            seen[key] = state[key]
        threading.Event().wait(0.0001)  # let others run while this key is held
        with lock:
            in_flight[key] -= 1

    def produce(offset: int) -> None:
        for i in range(300):
            key = (i + offset) % 10
            with lock:
                state[key] += 1
            q.add(key)

    workers = Workers(q, handle, count=8).start()
    producers = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    try:
        for p in producers:
            p.start()
        for p in producers:
            p.join()
        assert q.wait_idle(30)
    finally:
        assert workers.stop(timeout=10)
    assert overlaps == []
    assert seen == dict(state)


def test_backoff_doubles_per_retry_up_to_the_cap_and_forget_resets_it() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.005, max_delay=0.04)
    assert [q.next_delay("k") for _ in range(6)] == [0.005, 0.01, 0.02, 0.04, 0.04, 0.04]
    assert q.next_delay("other") == 0.005  # per key
    assert q.num_requeues("k") == 6
    q.forget("k")
    assert q.num_requeues("k") == 0 and q.next_delay("k") == 0.005


def test_a_delayed_key_is_handed_out_only_once_due() -> None:
    clock = FakeClock()
    q: WorkQueue[str] = WorkQueue(clock=clock)
    q.add_after("k", 30)
    q.add_after("k", 60)  # the earlier due time stands
    assert q.get(timeout=0.01) is None and q.metrics().delayed == 1
    clock.now += 30
    assert q.get(timeout=1) == "k"
    assert q.metrics().delayed == 0


def test_a_failing_handler_is_retried_with_backoff_until_it_succeeds() -> None:
    q: WorkQueue[str] = WorkQueue(base_delay=0.001, max_delay=0.01)
    calls: list[int] = []
    succeeded = threading.Event()

    def handle(key: str) -> None:
        calls.append(q.num_requeues(key))
        if len(calls) <= 3:
            raise RuntimeError("the API said no")
        succeeded.set()

    workers = Workers(q, handle, count=2).start()
    try:
        q.add("k")
        assert succeeded.wait(10)
        assert q.wait_idle(10)
    finally:
        assert workers.stop(timeout=10)
    assert calls == [0, 1, 2, 3]  # each retry counted one more failure of the key
    assert q.num_requeues("k") == 0  # forgotten after the success
    metrics = q.metrics()
    assert (metrics.retries, metrics.failures, metrics.processed) == (3, 3, 4)


def test_shutdown_ends_idle_workers_and_waits_for_busy_ones() -> None:
    q: WorkQueue[str] = WorkQueue()
    entered, release = threading.Event(), threading.Event()
    handled: list[str] = []

    def handle(key: str) -> None:
        handled.append(key)
        entered.set()
        release.wait(10)

    workers = Workers(q, handle, count=3, name="test-worker").start()
    q.add("busy")
    assert entered.wait(10)
    q.add("queued")  # another worker takes this one (and blocks too)
    q.add_after("later", 3600)
    assert not workers.stop(timeout=0.05)  # a handler still runs
    release.set()
    assert workers.stop(timeout=10)
    assert not any(t.name.startswith("test-worker") for t in threading.enumerate())
    assert "later" not in handled
    q.add("after")
    assert q.get(timeout=0.01) is None  # a shut-down queue hands out nothing


def test_shutdown_with_drain_hands_out_what_waits() -> None:
    q: WorkQueue[str] = WorkQueue()
    for key in ("a", "b"):
        q.add(key)
    q.shutdown(drain=True)
    assert [q.get(), q.get(), q.get()] == ["a", "b", None]


def test_bad_settings_are_refused_naming_them() -> None:
    with pytest.raises(ValueError, match=r"base_delay 1 and max_delay 0\.5"):
        WorkQueue(base_delay=1, max_delay=0.5)
    with pytest.raises(ValueError, match="count 0"):
        Workers(WorkQueue(), lambda key: None, count=0)
