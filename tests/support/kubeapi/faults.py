"""Faults a test switches on to see how a client copes: errors, silence, latency, conflicts, drops.

Each fault is a `Rule` matched against a request's method (WATCH for a GET with watch=true),
resource (None matches any; discovery requests have resource "") and client (its User-Agent
header, None matches any: one client cut off while the others go on, as a network partition of one
replica does), active until `clear(rule)` (or the end of its `with` block) or for its first `times`
matches.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

WRITES = frozenset({"PUT", "PATCH"})


@dataclass
class Rule:
    method: str | None = None
    resource: str | None = None
    status: int | None = None  # answer with this code instead of serving the request
    hang: bool = False  # do not answer until cleared, then drop the connection
    delay: float = 0.0  # answer, but this many seconds late
    conflict: bool = False  # answer a write with 409 Conflict
    times: int | None = None  # matches left; None for until cleared
    released: threading.Event = field(default_factory=threading.Event)
    user_agent: str | None = None  # only requests of the client that sends this User-Agent

    def matches(self, method: str, resource: str, user_agent: str = "") -> bool:
        if self.conflict and method not in WRITES:
            return False
        return (
            self.method in (None, method)
            and self.resource in (None, resource)
            and self.user_agent in (None, user_agent)
        )


@dataclass
class Decision:
    delay: float = 0.0
    status: int | None = None
    conflict: bool = False
    hang: threading.Event | None = None


@dataclass(eq=False)
class OpenWatch:
    sock: socket.socket
    stop: threading.Event


class Faults:
    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake  # wakes watch streams so they notice they were stopped
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # a watch opened or a request is held
        self._held = 0
        self._rules: list[Rule] = []
        self._ever: list[Rule] = []  # to release, at stop, holds of rules already used up
        self._watches: set[OpenWatch] = set()
        self.stopping = threading.Event()

    # --- switching faults on and off -------------------------------------------------------

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
            self._ever.append(rule)
        return rule

    def clear(self, rule: Rule | None = None) -> None:
        """Remove one rule (or all); requests it holds unanswered are then dropped."""
        with self._lock:
            gone = [r for r in self._rules if rule in (None, r)]
            self._rules = [r for r in self._rules if r not in gone]
        for r in gone:
            r.released.set()

    def fail(
        self,
        status: int = 503,
        method: str | None = None,
        resource: str | None = None,
        times: int | None = None,
        user_agent: str | None = None,
    ) -> Rule:
        return self.add(Rule(method, resource, status=status, times=times, user_agent=user_agent))

    def hang(
        self,
        method: str | None = None,
        resource: str | None = None,
        times: int | None = None,
        user_agent: str | None = None,
    ) -> Rule:
        return self.add(Rule(method, resource, hang=True, times=times, user_agent=user_agent))

    def slow(self, seconds: float, method: str | None = None, resource: str | None = None) -> Rule:
        return self.add(Rule(method, resource, delay=seconds))

    def conflict_next_writes(self, n: int, resource: str | None = None) -> Rule:
        return self.add(Rule(resource=resource, conflict=True, times=n))

    @contextlib.contextmanager
    def active(self, rule: Rule) -> Iterator[Rule]:
        """`with faults.active(faults.fail(503, resource="pods")):` — the fault lasts the block."""
        try:
            yield rule
        finally:
            self.clear(rule)

    def drop_watches(self) -> int:
        """Cut every open watch stream mid-way (no final chunk), as a lost connection would."""
        with self._lock:
            watches, self._watches = self._watches, set()
        for w in watches:
            w.stop.set()
            with contextlib.suppress(OSError):
                w.sock.shutdown(socket.SHUT_RDWR)
        self._wake()
        return len(watches)

    @property
    def open_watches(self) -> int:
        with self._lock:
            return len(self._watches)

    # --- used by the request handler -------------------------------------------------------

    def decide(self, method: str, resource: str, user_agent: str = "") -> Decision:
        decision = Decision()
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(method, resource, user_agent):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
                decision.delay += rule.delay
                if rule.status is not None and decision.status is None:
                    decision.status = rule.status
                decision.conflict = decision.conflict or rule.conflict
                if rule.hang and decision.hang is None:
                    decision.hang = rule.released
        return decision

    def wait_for_watches(self, count: int, timeout: float = 30.0) -> bool:
        """Until `count` watches are open (a test's cue that a client is now waiting on one)."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._watches) >= count, timeout)

    def wait_for_held(self, count: int, timeout: float = 30.0) -> bool:
        """Until `count` requests are held unanswered by `hang` rules."""
        with self._changed:
            return self._changed.wait_for(lambda: self._held >= count, timeout)

    def hold(self, released: threading.Event) -> None:
        """Hold a request until its rule is cleared (or the server stops)."""
        with self._changed:
            self._held += 1
            self._changed.notify_all()
        try:
            released.wait()
        finally:
            with self._lock:
                self._held -= 1

    def watch_opened(self, watch: OpenWatch) -> None:
        with self._lock:
            self._watches.add(watch)
            self._changed.notify_all()

    def watch_closed(self, watch: OpenWatch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def stop(self) -> None:
        """The server is stopping: release held requests and end every watch."""
        self.stopping.set()
        self.clear()
        with self._lock:
            watches, self._watches = self._watches, set()
            held = list(self._ever)
        for rule in held:
            rule.released.set()
        for w in watches:
            w.stop.set()
        self._wake()
