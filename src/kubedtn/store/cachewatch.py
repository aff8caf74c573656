"""Watches served from a watch-fed cache: many in-process readers, one API watch.

The cache (``kubedtn.store.kubecache.ObjectCache``) appends each event it applies to an
``ChangeLog``; a ``CacheWatch`` reads that log from a resourceVersion on, as a watch of the
API server would. When the cache lists again (410 Gone, or the API back after an outage)
the changes in between were never seen as events, so every open watch of the log, and any
later one from an older position, ends with ``ExpiredError``: its reader lists again (from
the cache, at no cost to the API) and carries on, the same cure as for a real watch.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from kubedtn.store.base import EventType, WatchEvent
from kubedtn.store.errors import ExpiredError
from kubedtn.store.objects import KubeObject

# Events kept for watches that fall behind; a reader further back lists again.
LOG_SIZE = 20_000


@dataclass(frozen=True)
class _Entry:
    position: int
    event: WatchEvent


class ChangeLog:
    """The cache's recent events, in resourceVersion order, for ``CacheWatch`` readers."""

    def __init__(self, *, size: int = LOG_SIZE) -> None:
        self._entries: deque[_Entry] = deque(maxlen=size)
        self._changed = threading.Condition()
        self._floor = 0  # a watch from before this position missed something: 410
        self._position = 0
        self._epoch = 0  # lists so far: a watch begun before the last one missed its changes

    def append(self, kind: EventType, obj: KubeObject, position: int) -> None:
        with self._changed:
            if self._entries.maxlen is not None and len(self._entries) == self._entries.maxlen:
                self._floor = self._entries[0].position
            self._entries.append(_Entry(position, WatchEvent(kind, obj)))
            self._position = max(self._position, position)
            self._changed.notify_all()

    def restart(self, position: int) -> None:
        """The cache listed again at ``position``: what came before cannot be replayed."""
        with self._changed:
            self._entries.clear()
            self._epoch += 1
            self._floor = position
            self._position = position
            self._changed.notify_all()

    def advance(self, position: int) -> None:
        """A bookmark: nothing happened up to ``position``."""
        with self._changed:
            if position > self._position:
                self._position = position
                self._changed.notify_all()

    def watch(
        self, *, resource_version: str | None, timeout: float | None, types: Collection[EventType] | None
    ) -> CacheWatch:
        with self._changed:
            start = (
                int(resource_version) if resource_version and resource_version.isdigit() else self._position
            )
            epoch = self._epoch if start >= self._floor else -1
        return CacheWatch(self, start=start, epoch=epoch, timeout=timeout, types=types)

    def _read(self, after: int, epoch: int) -> tuple[list[_Entry], int, bool]:
        """Entries after ``after``, the log's position, and whether the reader is too old."""
        expired = after < self._floor or epoch != self._epoch
        return [e for e in self._entries if e.position > after], self._position, expired


class CacheWatch:
    """One reader of a ``ChangeLog``: the store's ``WatchStream`` (module docstring)."""

    def __init__(
        self,
        log: ChangeLog,
        *,
        start: int,
        epoch: int,
        timeout: float | None,
        types: Collection[EventType] | None,
    ) -> None:
        self._log = log
        self._position = start
        self._epoch = epoch
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._types = None if types is None else frozenset(types)
        self._ready: deque[WatchEvent] = deque()
        self._stopped = False

    @property
    def pending(self) -> int:
        return len(self._ready)

    @property
    def position(self) -> int:
        return self._position

    def stop(self) -> None:
        with self._log._changed:
            self._stopped = True
            self._log._changed.notify_all()

    def __iter__(self) -> Iterator[WatchEvent]:
        return self

    def __next__(self) -> WatchEvent:
        while not self._ready:
            if not self._fill():
                raise StopIteration
        return self._ready.popleft()

    def _fill(self) -> bool:
        """Wait for entries after our position; False when stopped or timed out."""
        cond = self._log._changed
        with cond:
            while True:
                if self._stopped:
                    return False
                entries, position, expired = self._log._read(self._position, self._epoch)
                if expired:
                    raise ExpiredError(
                        f"watch from resourceVersion {self._position}: the cache listed again since",
                        resource_version=self._position,
                        oldest=self._log._floor,
                    )
                if entries:
                    for entry in entries:
                        if self._types is None or entry.event.type in self._types:
                            self._ready.append(entry.event)
                    self._position = entries[-1].position
                    if self._ready:
                        return True
                    continue
                self._position = max(self._position, position)  # a bookmark
                left = None if self._deadline is None else self._deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                cond.wait(left)
