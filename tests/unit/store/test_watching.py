"""PollingWatch over a scripted fetch: order, back-off, timeout, stop."""

from __future__ import annotations

import threading
from typing import Any

from kubedtn.store.base import EventType, WatchEvent
from kubedtn.store.watching import EventBatch, Notifier, PollingWatch, notifier_for


def event(rv: int) -> WatchEvent:
    return WatchEvent(EventType.MODIFIED, {"metadata": {"name": "r1", "resourceVersion": str(rv)}})


class Script:
    """A fetch that serves prepared batches and records the positions it was asked for."""

    def __init__(self, *batches: EventBatch) -> None:
        self.batches = list(batches)
        self.asked: list[int] = []

    def __call__(self, position: int) -> tuple[EventBatch, int]:
        self.asked.append(position)
        batch = self.batches.pop(0) if self.batches else []
        return batch, int(batch[-1].object["metadata"]["resourceVersion"]) if batch else position


def test_events_in_order_and_positions_advance() -> None:
    fetch = Script([event(1), event(2)], [], [event(5)])
    watch = PollingWatch(
        fetch=fetch, start=0, notifier=Notifier(), changed=lambda: True, timeout=None, poll_min=0, poll_max=0
    )
    assert [next(watch).object["metadata"]["resourceVersion"] for _ in range(3)] == ["1", "2", "5"]
    assert fetch.asked == [0, 2, 2]
    assert watch.position == 5


def test_no_fetch_without_a_sign_of_change() -> None:
    fetch = Script()
    watch = PollingWatch(
        fetch=fetch,
        start=3,
        notifier=Notifier(),
        changed=lambda: False,
        timeout=0.05,
        poll_min=0.001,
        poll_max=0.01,
    )
    assert list(watch) == []
    assert fetch.asked == [3], "only the first fetch: nothing was committed since"


def report_waits(notifier: Notifier) -> threading.Event:
    """An event set whenever a watcher on ``notifier`` is about to wait."""
    waiting = threading.Event()
    original_wait = notifier.wait

    def wait_and_report(**kwargs: Any) -> None:
        waiting.set()
        original_wait(**kwargs)

    notifier.wait = wait_and_report  # type: ignore[method-assign]
    return waiting


def waiting_watch(fetch: Script, notifier: Notifier) -> PollingWatch:
    """A watch that, without a notification, would not look again for an hour."""
    return PollingWatch(
        fetch=fetch,
        start=0,
        notifier=notifier,
        changed=lambda: False,
        timeout=None,
        poll_min=3600,
        poll_max=3600,
    )


def test_a_notification_wakes_the_watcher() -> None:
    notifier = Notifier()
    waiting = report_waits(notifier)
    fetch = Script([], [event(1)])
    watch = waiting_watch(fetch, notifier)

    def notify_once_waiting() -> None:
        waiting.wait(10)
        notifier.notify()

    writer = threading.Thread(target=notify_once_waiting)
    writer.start()
    assert next(watch).object["metadata"]["resourceVersion"] == "1"
    writer.join()


def test_stop_from_another_thread_ends_a_waiting_watch() -> None:
    notifier = Notifier()
    waiting = report_waits(notifier)
    watch = waiting_watch(Script(), notifier)

    def stop_once_waiting() -> None:
        waiting.wait(10)
        watch.stop()

    stopper = threading.Thread(target=stop_once_waiting)
    stopper.start()
    assert list(watch) == []
    stopper.join()


def test_one_notifier_per_file(tmp_path: object) -> None:
    assert notifier_for("/tmp/x/../a.db") is notifier_for("/tmp/a.db")
    assert notifier_for("/tmp/a.db") is not notifier_for("/tmp/b.db")
