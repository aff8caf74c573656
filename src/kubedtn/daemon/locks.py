"""Locks per link: one link is never plumbed by two requests at once.

A request takes the locks of every link it touches, in sorted order, so two requests
sharing links never wait for each other in a cycle. Keys are (Kubernetes namespace,
uid): a uid names one link within its namespace. Locks exist only while held or waited
for, so the table does not grow with every uid ever seen.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence

LinkKey = tuple[str, int]


class LinkLocks:
    """A table of per-key locks (see the module docstring)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[LinkKey, tuple[threading.Lock, int]] = {}

    def _ref(self, keys: Sequence[LinkKey]) -> list[threading.Lock]:
        """The locks of ``keys``, each counted as used; one trip through the guard for all."""
        with self._guard:
            out = []
            for key in keys:
                lock, users = self._locks.get(key, (None, 0))
                if lock is None:
                    lock = threading.Lock()
                self._locks[key] = (lock, users + 1)
                out.append(lock)
            return out

    def _unref(self, keys: Sequence[LinkKey]) -> None:
        with self._guard:
            for key in keys:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    @contextlib.contextmanager
    def holding(self, keys: Iterable[LinkKey]) -> Iterator[tuple[LinkKey, ...]]:
        """Hold the locks of ``keys`` (taken in sorted order) for the block."""
        ordered = tuple(sorted(set(keys)))
        locks = self._ref(ordered)
        taken = 0
        try:
            for lock in locks:
                lock.acquire()
                taken += 1
            yield ordered
        finally:
            for lock in reversed(locks[:taken]):
                lock.release()
            self._unref(ordered)

    def held(self) -> int:
        """How many keys are held or waited for (for tests and metrics)."""
        with self._guard:
            return len(self._locks)
