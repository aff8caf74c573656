"""Delivering a store's changes to watchers: prompt in-process wake-ups, polling across processes.

A watcher fetches the events after its position, then waits. Writers in the same
process wake it at once through a :class:`Notifier` (one per database file); writers
in other processes cannot, so the watcher also re-checks after a poll interval that
starts short and doubles while nothing happens (``poll_min`` .. ``poll_max``), and
a cheap ``changed`` probe (SQLite's ``PRAGMA data_version``) decides whether a
re-check needs to read the events at all.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Iterator

from kubedtn.store.base import WatchEvent

EventBatch = list[WatchEvent]
# Events after a position, and the position to continue from.
Fetch = Callable[[int], tuple[EventBatch, int]]


class Notifier:
    """A sequence number bumped after every local commit, with a condition to wait for it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.seq = 0

    def notify(self) -> None:
        with self._cond:
            self.seq += 1
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake waiters without claiming a change (used to stop a watch)."""
        with self._cond:
            self._cond.notify_all()

    def wait(self, *, seen: int, timeout: float, cancelled: Callable[[], bool]) -> None:
        """Block until ``seq`` moves past ``seen``, the watch is cancelled, or ``timeout`` passes."""
        with self._cond:
            if self.seq == seen and not cancelled():
                self._cond.wait(timeout)


_notifiers: dict[str, Notifier] = {}
_notifiers_lock = threading.Lock()


def notifier_for(path: str) -> Notifier:
    """The one Notifier of this process for a database file, so every store on it shares wake-ups."""
    key = os.path.realpath(path)
    with _notifiers_lock:
        return _notifiers.setdefault(key, Notifier())


class PollingWatch:
    """A :class:`~kubedtn.store.base.WatchStream` over a fetch function; see the module doc."""

    def __init__(
        self,
        *,
        fetch: Fetch,
        start: int,
        notifier: Notifier,
        changed: Callable[[], bool],
        initial: list[WatchEvent] | None = None,
        timeout: float | None = None,
        poll_min: float,
        poll_max: float,
    ) -> None:
        self._fetch = fetch
        self._position = start
        self._notifier = notifier
        self._changed = changed
        self._buffer: collections.deque[WatchEvent] = collections.deque(initial or ())
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._poll_min = poll_min
        self._poll_max = poll_max
        self._interval = poll_min
        self._stopped = False
        self._must_fetch = True
        self._seen_seq = notifier.seq

    @property
    def position(self) -> int:
        """The resourceVersion up to which every event has been fetched."""
        return self._position

    @property
    def pending(self) -> int:
        """Events fetched and not yet returned (next() returns them without waiting)."""
        return len(self._buffer)

    def __iter__(self) -> Iterator[WatchEvent]:
        return self

    def __next__(self) -> WatchEvent:
        while True:
            if self._stopped:
                raise StopIteration
            if self._buffer:
                return self._buffer.popleft()
            remaining = None if self._deadline is None else self._deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise StopIteration
            # Read the wake-up signals before fetching, so a commit landing after the
            # fetch still shows as a change and is not slept through.
            seq = self._notifier.seq
            changed = self._changed()
            if self._must_fetch or seq != self._seen_seq or changed:
                self._seen_seq = seq
                self._must_fetch = False
                events, self._position = self._fetch(self._position)
                if events:
                    self._buffer.extend(events)
                    self._interval = self._poll_min
                    continue
            wait = self._interval if remaining is None else min(self._interval, remaining)
            self._notifier.wait(seen=self._seen_seq, timeout=wait, cancelled=lambda: self._stopped)
            self._interval = min(self._interval * 2, self._poll_max)

    def stop(self) -> None:
        """End the stream; safe from any thread, wakes the watcher if it is waiting."""
        self._stopped = True
        self._notifier.wake()
