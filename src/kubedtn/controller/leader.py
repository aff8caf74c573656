"""Leader election on a ``coordination.k8s.io/v1`` Lease, as client-go's leaderelection does,
so that of several controller replicas exactly one acts.

The Lease's ``spec`` is the record: ``holderIdentity``, ``leaseDurationSeconds``,
``acquireTime``, ``renewTime`` (RFC 3339 with microseconds) and ``leaseTransitions``. A
candidate, every ``retry_period`` (with up to 20 % jitter):

1. reads the Lease; creates it holding it when there is none;
2. when the record differs from the one it saw last, notes *its own* monotonic time of
   that observation. Another holder's lease counts as expired once
   ``leaseDurationSeconds`` have passed since that observation with no change: only the
   elector's own clock is trusted, never the remote ``renewTime`` (clocks of nodes differ);
3. takes the Lease when it is free (no holder), expired, or its own, by an update carrying
   the resourceVersion it read: a 409 Conflict means another replica won this round.

The leader renews every ``retry_period``, by an update on the version it wrote last (one
request; a 409 sends it back to reading first). When a renewal round cannot succeed within
``renew_deadline`` it steps down: ``is_leader()`` turns False, ``on_stopped_leading`` is
called, and it goes back to being a candidate. ``is_leader()`` also turns False on its own
once ``renew_deadline + retry_period`` have passed since the last successful renewal, even
if the elector's thread is late, so that ``lease_duration > renew_deadline +
retry_period`` (checked) keeps two leaders from overlapping. On ``stop()`` a leader calls
``on_stopped_leading`` and then releases the Lease (holder "", ``leaseDurationSeconds`` 1)
so another replica takes over at once.

Callbacks run on the elector's thread and should return soon (start or stop the work).
API calls should time out (``KubeStore(..., request_timeout=...)``, below
``renew_deadline``), or a silent API server holds a renewal round past its deadline.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubedtn.errors import KubedtnError
from kubedtn.store.base import ObjectStore
from kubedtn.store.errors import ConflictError, NotFoundError

log = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "kubedtn-system"
DEFAULT_NAME = "kubedtn-controller"
JITTER = 0.2


@dataclass(frozen=True)
class LeaderConfig:
    """Who competes for which Lease, and the timing (client-go's defaults: 15 s, 10 s, 2 s)."""

    identity: str
    name: str = DEFAULT_NAME
    namespace: str = DEFAULT_NAMESPACE
    lease_duration: int = 15  # seconds, whole (the Lease's leaseDurationSeconds)
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_stop: bool = True

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("leader election: identity is empty; give each replica its own (the pod name)")
        if not 0 < self.retry_period < self.renew_deadline:
            raise ValueError(
                f"leader election: retry_period {self.retry_period}s, renew_deadline {self.renew_deadline}s: "
                "need 0 < retry_period < renew_deadline"
            )
        if self.lease_duration <= self.renew_deadline + self.retry_period:
            raise ValueError(
                f"leader election: lease_duration {self.lease_duration}s must exceed renew_deadline + "
                f"retry_period ({self.renew_deadline + self.retry_period}s), or two leaders could overlap"
            )


def micro_time(when: datetime) -> str:
    """A MicroTime as the API writes it: ``2026-01-02T03:04:05.123456Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """One replica's part in the election (module docstring)."""

    def __init__(
        self,
        leases: ObjectStore,
        config: LeaderConfig,
        *,
        on_started_leading: Callable[[], None] = lambda: None,
        on_stopped_leading: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._leases = leases
        self.config = config
        self._on_started = on_started_leading
        self._on_stopped = on_stopped_leading
        self._clock = clock
        self._now = wall_clock
        self._lock = threading.Lock()
        self._leading = False
        self._renewed_at = 0.0  # clock() of the last successful acquire or renew
        self._observed: dict[str, Any] | None = None  # the Lease as last read or written
        self._observed_at = 0.0
        self._stopping = threading.Event()
        self._changed = threading.Condition(self._lock)
        self._thread = threading.Thread(target=self._run, name="kubedtn-leader", daemon=True)
        self.transitions = 0  # times this elector became leader (a metric)

    # ---- public ----------------------------------------------------------------------------

    def start(self) -> LeaderElector:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Stop competing; a leader steps down (callback) and releases the Lease."""
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def is_leader(self) -> bool:
        with self._lock:
            return self._leading_now()

    def holder(self) -> str:
        """The holder as this elector last saw it ("" for none or not read yet)."""
        with self._lock:
            return str((self._observed or {}).get("spec", {}).get("holderIdentity") or "")

    def wait_for(self, leading: bool, timeout: float) -> bool:
        """Until ``is_leader() == leading``; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._leading_now() == leading, timeout)

    # ---- the loop --------------------------------------------------------------------------

    def _leading_now(self) -> bool:
        window = self.config.renew_deadline + self.config.retry_period
        return self._leading and self._clock() - self._renewed_at < window

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self._try_acquire_or_renew():
                self._stopping.wait(self.config.retry_period * (1 + random.random() * JITTER))
                continue
            self._set_leading(True)
            self.transitions += 1
            log.info("%s leads (lease %s/%s)", self.config.identity, self.config.namespace, self.config.name)
            self._call(self._on_started, "on_started_leading")
            self._renew_until_lost()
            self._set_leading(False)
            self._call(self._on_stopped, "on_stopped_leading")
            if self._stopping.is_set() and self.config.release_on_stop:
                self._release()

    def _renew_until_lost(self) -> None:
        period, deadline = self.config.retry_period, self.config.renew_deadline
        while not self._stopping.wait(period):
            started = self._clock()
            while not self._try_acquire_or_renew():
                if self._clock() - started >= deadline:
                    log.warning(
                        "%s could not renew the lease within %.1fs; stepping down",
                        self.config.identity,
                        deadline,
                    )
                    return
                if self._stopping.wait(period):
                    return

    def _set_leading(self, leading: bool) -> None:
        with self._changed:
            self._leading = leading
            self._changed.notify_all()

    def _call(self, callback: Callable[[], None], what: str) -> None:
        try:
            callback()
        except Exception:
            log.exception("leader election: %s failed", what)

    # ---- one attempt -----------------------------------------------------------------------

    def _record(self, old: dict[str, Any] | None) -> dict[str, Any]:
        now = micro_time(self._now())
        spec = dict(old or {})
        mine = spec.get("holderIdentity") == self.config.identity
        spec.update(
            holderIdentity=self.config.identity,
            leaseDurationSeconds=self.config.lease_duration,
            renewTime=now,
        )
        if not mine or not spec.get("acquireTime"):
            spec["acquireTime"] = now
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if old else 0)
        return spec

    def _try_acquire_or_renew(self) -> bool:
        c = self.config
        try:
            if self._renew_optimistically():
                return True
            try:
                lease = self._leases.get(c.namespace, c.name)
            except NotFoundError:
                body = {"metadata": {"name": c.name, "namespace": c.namespace}, "spec": self._record(None)}
                self._observe(self._leases.create(body))
                return True
            spec = lease.get("spec") or {}
            with self._lock:
                if self._observed is None or self._observed.get("spec") != spec:
                    self._observed, self._observed_at = lease, self._clock()
                holder = spec.get("holderIdentity") or ""
                duration = float(spec.get("leaseDurationSeconds") or c.lease_duration)
                if holder and holder != c.identity and self._clock() < self._observed_at + duration:
                    return False  # held by another, not expired by our own observation
            lease["spec"] = self._record(spec)
            self._observe(self._leases.update(lease))
            return True
        except KubedtnError as e:  # a conflict (another won), the API unavailable, ...
            log.debug("%s: lease %s/%s not acquired or renewed: %s", c.identity, c.namespace, c.name, e)
            return False
        except Exception:  # the elector's thread must go on: this round is lost, not the election
            log.exception("%s: lease %s/%s: unexpected failure", c.identity, c.namespace, c.name)
            return False

    def _renew_optimistically(self) -> bool:
        """A leader renews on the version it wrote last, without reading first (one request
        instead of two); False when it is not the leader or that version is stale (read then)."""
        with self._lock:
            lease = copy.deepcopy(self._observed) if self._leading else None
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.config.identity:
            return False
        lease["spec"] = self._record(lease["spec"])
        try:
            self._observe(self._leases.update(lease))
        except ConflictError:
            return False
        return True

    def _observe(self, lease: dict[str, Any]) -> None:
        with self._lock:
            self._observed, self._observed_at = lease, self._clock()
            self._renewed_at = self._observed_at

    def _release(self) -> None:
        with self._lock:
            lease = self._observed
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.config.identity:
            return
        now = micro_time(self._now())
        spec = dict(lease["spec"], holderIdentity="", leaseDurationSeconds=1, renewTime=now, acquireTime=now)
        try:
            self._observe(self._leases.update(dict(lease, spec=spec)))
        except KubedtnError as e:
            log.warning("%s could not release the lease (the next leader waits for it to expire): %s",
                        self.config.identity, e)  # fmt: skip
