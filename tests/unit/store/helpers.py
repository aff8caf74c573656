"""Helpers for store tests: a watch consumed on a thread, waiting for a condition with a deadline."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator

from kubedtn.store import WatchEvent, WatchStream


def wait_until(condition: Callable[[], bool], *, what: str, timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.001)


@contextlib.contextmanager
def consumed(watch: WatchStream) -> Iterator[queue.Queue[WatchEvent | BaseException]]:
    """Iterate ``watch`` on a thread, putting each event (or the error that ended it) on a queue.
    On exit the watch is stopped and the thread joined."""
    received: queue.Queue[WatchEvent | BaseException] = queue.Queue()

    def run() -> None:
        try:
            for event in watch:
                received.put(event)
        except BaseException as e:
            received.put(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield received
    finally:
        watch.stop()
        thread.join(timeout=10)
        assert not thread.is_alive(), "stop() must end a waiting watch"


def next_event(received: queue.Queue[WatchEvent | BaseException], timeout: float = 10.0) -> WatchEvent:
    item = received.get(timeout=timeout)
    if isinstance(item, BaseException):
        raise item
    return item
