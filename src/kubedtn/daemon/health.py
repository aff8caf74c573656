"""The health of the daemon's background jobs, for its ``Status`` (``kubedtn lab status``).

Each job (the pod list writer, the follower, the start-up reconcile, the store's
checkpoints) holds a ``JobHealth`` and says when it failed and when it works again. A job
never dies of an error: it logs it (naming the pod or object), records it here, and goes
on or tries again after ``Backoff``. ``Status`` reports each job's state, its last error
and how many errors it had, so an operator sees what is wrong without reading the log.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Final

OK: Final = "ok"
FAILING: Final = "failing"  # the last attempt failed; it is being tried again
STOPPED: Final = "stopped"

# Waits between the attempts of a job that keeps failing (a full disk, an unreachable API).
BACKOFF_FIRST_S: Final = 0.5
BACKOFF_MAX_S: Final = 10.0


@dataclass(frozen=True)
class HealthReport:
    name: str
    state: str
    last_error: str  # "" when it never failed
    failures: int  # errors since the daemon started


class JobHealth:
    """One job's state; thread-safe."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._state = OK
        self._last_error = ""
        self._failures = 0

    def ok(self) -> None:
        with self._lock:
            self._state = OK

    def failed(self, error: object) -> None:
        with self._lock:
            self._state = FAILING
            self._last_error = str(error)
            self._failures += 1

    def stopped(self) -> None:
        with self._lock:
            self._state = STOPPED

    def report(self) -> HealthReport:
        with self._lock:
            return HealthReport(self.name, self._state, self._last_error, self._failures)


class Backoff:
    """The waits of a retry loop: doubling from ``first`` up to ``cap``; ``reset`` after a
    success."""

    def __init__(self, first: float = BACKOFF_FIRST_S, cap: float = BACKOFF_MAX_S) -> None:
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        wait, self._next = self._next, min(self._next * 2, self.cap)
        return wait

    def reset(self) -> None:
        self._next = self.first
