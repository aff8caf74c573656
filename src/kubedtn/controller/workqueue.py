"""A work queue of keys for level-triggered reconcilers, with the guarantees of client-go's:

* **de-duplication**: a key added many times while it waits is handed out once;
* **per-key serialisation**: a key being processed is never handed to a second worker; added
  again meanwhile, it is handed out once more after ``done(key)``;
* **delays and rate-limited retries**: ``add_after(key, s)``; ``add_rate_limited(key)`` waits
  ``base * 2**n`` (capped at ``max_delay``) for the key's n-th retry in a row, until
  ``forget(key)`` resets n (after a success);
* **shutdown**: ``shutdown()`` stops handing out keys (waiting and delayed ones are dropped;
  with ``drain=True`` the waiting ones are still handed out first) and makes ``get`` return
  None, so workers end.

``Workers`` runs N threads, each ``get``, ``handler(key)``, ``done``: a handler that returns
forgets the key's failures; one that raises has the key retried with backoff. ``stop()``
shuts the queue down and joins the threads.

Keys are any hashable value but None (``get`` answers None when the queue is shut down).
The counters in ``QueueMetrics`` are plain ints, read with ``WorkQueue.metrics()``: a caller
exports them (a Prometheus collector reads them at scrape time).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

DEFAULT_BASE_DELAY_S = 0.005
DEFAULT_MAX_DELAY_S = 30.0


@dataclass(frozen=True)
class QueueMetrics:
    """What the queue has done, as counters (and two gauges) a caller exports."""

    depth: int  # keys waiting to be handed out now
    delayed: int  # keys waiting for their delay or backoff to pass
    processing: int  # keys handed out and not yet done
    adds: int  # keys put in the queue (an add of a key already waiting is not counted)
    retries: int  # add_rate_limited calls
    processed: int  # done calls
    failures: int  # handlers that raised (Workers)


class WorkQueue(Generic[K]):
    """Keys to process (module docstring). Thread-safe."""

    def __init__(
        self,
        *,
        base_delay: float = DEFAULT_BASE_DELAY_S,
        max_delay: float = DEFAULT_MAX_DELAY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if base_delay <= 0 or max_delay < base_delay:
            raise ValueError(
                f"work queue backoff: base_delay {base_delay} and max_delay {max_delay}: "
                "need 0 < base_delay <= max_delay (seconds)"
            )
        self._base = base_delay
        self._max = max_delay
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[K] = deque()
        self._dirty: set[K] = set()  # waiting in _queue, or to be queued again when done
        self._processing: set[K] = set()
        self._delayed: dict[K, float] = {}  # key -> when it is due (the earliest asked for)
        self._heap: list[tuple[float, int, K]] = []  # (due, tie-breaker, key); stale entries skipped
        self._seq = itertools.count()
        self._failures: dict[K, int] = {}
        self._shutting_down = False
        self._drain = False
        self._adds = self._retries = self._processed = self._failed = 0

    # ---- adding ----------------------------------------------------------------------------

    def add(self, key: K) -> None:
        """Queue ``key`` unless it waits already; a key being processed is queued after done."""
        with self._cond:
            self._add(key)

    def _add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self._adds += 1
        if key not in self._processing:
            self._queue.append(key)
            self._cond.notify()

    def add_after(self, key: K, delay: float) -> None:
        """Queue ``key`` once ``delay`` seconds have passed (at once for delay <= 0)."""
        with self._cond:
            if self._shutting_down:
                return
            if delay <= 0:
                self._add(key)
                return
            due = self._clock() + delay
            if key in self._delayed and self._delayed[key] <= due:
                return  # due earlier already
            self._delayed[key] = due
            heapq.heappush(self._heap, (due, next(self._seq), key))
            self._cond.notify_all()  # a waiting get() may need to wake earlier now

    def add_rate_limited(self, key: K) -> float:
        """Queue ``key`` after its backoff (``base * 2**retries``, capped); returns the delay."""
        with self._cond:
            self._retries += 1
        delay = self.next_delay(key)
        self.add_after(key, delay)
        return delay

    def next_delay(self, key: K) -> float:
        """The key's next backoff, counting one more retry of it."""
        with self._cond:
            n = self._failures.get(key, 0)
            self._failures[key] = n + 1
        return min(self._base * 2.0 ** min(n, 64), self._max)

    def forget(self, key: K) -> None:
        """Reset the key's backoff (its next retry waits ``base`` again)."""
        with self._cond:
            self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    # ---- handing out -----------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> K | None:
        """The next key, marked processing until ``done(key)``; None once shut down (or when
        ``timeout`` seconds pass without one)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._move_due()
                if self._queue and (not self._shutting_down or self._drain):
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                if self._shutting_down:
                    return None
                wait = self._until_next_due()
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return None
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def done(self, key: K) -> None:
        """Processing of ``key`` ended; if it was added meanwhile, it is queued again."""
        with self._cond:
            self._processing.discard(key)
            self._processed += 1
            if key in self._dirty and not self._shutting_down:
                self._queue.append(key)
                self._cond.notify()
            elif self._shutting_down:
                self._dirty.discard(key)
            self._cond.notify_all()  # wait_idle() callers

    def _move_due(self) -> None:
        now = self._clock()
        while self._heap and self._heap[0][0] <= now:
            due, _, key = heapq.heappop(self._heap)
            if self._delayed.get(key) == due:
                del self._delayed[key]
                self._add(key)

    def _until_next_due(self) -> float | None:
        if not self._heap:
            return None
        return max(0.0, self._heap[0][0] - self._clock())

    # ---- state -----------------------------------------------------------------------------

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    def metrics(self) -> QueueMetrics:
        with self._cond:
            return QueueMetrics(
                depth=len(self._queue),
                delayed=len(self._delayed),
                processing=len(self._processing),
                adds=self._adds,
                retries=self._retries,
                processed=self._processed,
                failures=self._failed,
            )

    def record_failure(self) -> None:
        with self._cond:
            self._failed += 1

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Until nothing waits (now or delayed) and nothing is processing; False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._queue and not self._delayed and not self._processing, timeout
            )

    @property
    def shutting_down(self) -> bool:
        with self._cond:
            return self._shutting_down

    def shutdown(self, *, drain: bool = False) -> None:
        """Stop handing out keys (module docstring); keys being processed may still call done."""
        with self._cond:
            self._shutting_down = True
            self._drain = drain
            self._delayed.clear()
            self._heap.clear()
            if not drain:
                self._queue.clear()
            self._cond.notify_all()


class Workers(Generic[K]):
    """N threads handing the queue's keys to ``handler`` (module docstring)."""

    def __init__(
        self,
        queue: WorkQueue[K],
        handler: Callable[[K], None],
        *,
        count: int = 2,
        name: str = "kubedtn-worker",
    ) -> None:
        if count < 1:
            raise ValueError(f"workers: count {count}: need at least 1")
        self.queue = queue
        self._handler = handler
        self._threads = [
            threading.Thread(target=self._run, name=f"{name}-{i}", daemon=True) for i in range(count)
        ]

    def start(self) -> Workers[K]:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, *, drain: bool = False, timeout: float | None = None) -> bool:
        """Shut the queue down and join the threads; False when one is still in its handler
        after ``timeout`` seconds."""
        self.queue.shutdown(drain=drain)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            if thread.ident is not None:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def _run(self) -> None:
        while (key := self.queue.get()) is not None:
            try:
                self._handler(key)
            except Exception:
                self.queue.record_failure()
                delay = self.queue.add_rate_limited(key)
                log.exception("reconciling %s failed; retrying in %.3fs", key, delay)
            else:
                self.queue.forget(key)
            finally:
                self.queue.done(key)
