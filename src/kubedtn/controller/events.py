"""Kubernetes Events (core/v1) about the objects the controller acts on, for ``kubectl
describe`` and ``kubectl get events``.

``EventRecorder.normal(obj, reason, message)`` / ``.warning(...)`` queue an Event with
``involvedObject`` (apiVersion, kind, name, namespace, uid of ``obj``), ``source.component``
(``kubedtn-controller``), ``firstTimestamp``/``lastTimestamp`` and ``count``. One thread
writes them, so a reconciler never waits on the API for an Event and is never failed by
one: a write that fails is logged and dropped (as client-go's recorder does), and so are
Events beyond ``max_pending`` waiting ones.

Repeats are aggregated as client-go's correlator does: an Event with the same object,
type, reason and message as one written before bumps that Event's ``count`` and
``lastTimestamp`` (an update on its resourceVersion) instead of making a new one. The
recorder remembers the last ``remember`` such Events; a repeat of one it forgot, or whose
Event was deleted meanwhile, makes a new Event.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubedtn.store.base import ObjectStore
from kubedtn.store.errors import ConflictError, NotFoundError

log = logging.getLogger(__name__)

COMPONENT = "kubedtn-controller"
NORMAL = "Normal"
WARNING = "Warning"
MAX_MESSAGE = 1024  # the API's limit for a note; longer messages are cut

Key = tuple[str, str, str, str, str, str, str]  # involved uid/kind/namespace/name, type, reason, message


def _timestamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def involved(obj: Mapping[str, Any]) -> dict[str, str]:
    """An ObjectReference to ``obj``."""
    meta = obj.get("metadata") or {}
    ref = {"apiVersion": str(obj.get("apiVersion", "")), "kind": str(obj.get("kind", ""))}
    for field in ("name", "namespace", "uid", "resourceVersion"):
        if meta.get(field):
            ref[field] = str(meta[field])
    return ref


class EventRecorder:
    """Writes Events on its own thread (module docstring). ``close()`` writes what is queued."""

    def __init__(
        self,
        events: ObjectStore,
        *,
        component: str = COMPONENT,
        host: str = "",
        remember: int = 4096,
        max_pending: int = 1000,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._events = events
        self._component = component
        self._host = host
        self._remember = remember
        self._now = wall_clock
        self._written: OrderedDict[Key, dict[str, Any]] = OrderedDict()  # the Event each key last made
        self._pending: queue.Queue[tuple[Mapping[str, Any], str, str, str] | None] = queue.Queue(max_pending)
        self.written = 0  # Events created or bumped (metrics)
        self.dropped = 0  # Events not written: queue full or the API failed
        self._thread = threading.Thread(target=self._run, name="kubedtn-events", daemon=True)
        self._thread.start()

    def normal(self, obj: Mapping[str, Any], reason: str, message: str) -> None:
        self.record(obj, NORMAL, reason, message)

    def warning(self, obj: Mapping[str, Any], reason: str, message: str) -> None:
        self.record(obj, WARNING, reason, message)

    def record(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """Queue an Event; never raises (an Event is not worth failing a reconcile for)."""
        try:
            self._pending.put_nowait((obj, event_type, reason, message[:MAX_MESSAGE]))
        except queue.Full:
            self.dropped += 1
            log.warning(
                "event %s %s dropped: %d events wait already", event_type, reason, self._pending.maxsize
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Until every queued Event has been written (or dropped); False on timeout."""
        done = threading.Event()
        deadline = None if timeout is None else time.monotonic() + timeout

        def waiter() -> None:
            self._pending.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        return done.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def close(self, timeout: float | None = 10.0) -> None:
        self._pending.put(None)
        self._thread.join(timeout)

    # ---- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while (item := self._pending.get()) is not None:
            obj, event_type, reason, message = item
            try:
                self._write(obj, event_type, reason, message)
                self.written += 1
            except Exception as e:  # never into the caller, and the thread goes on
                self.dropped += 1
                log.warning("event %s %s about %s not written: %s", event_type, reason, involved(obj), e)
            finally:
                self._pending.task_done()
        self._pending.task_done()

    def _write(self, obj: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        ref = involved(obj)
        key: Key = (ref.get("uid", ""), ref["kind"], ref.get("namespace", ""), ref.get("name", ""),
                    event_type, reason, message)  # fmt: skip
        now = _timestamp(self._now())
        held = self._written.get(key)
        if held is not None and self._bump(key, held, now):
            return
        namespace = ref.get("namespace") or "default"  # cluster-scoped objects: "default", as kubectl
        event = {
            "metadata": {"name": f"{ref.get('name', 'object')}.{time.time_ns():x}", "namespace": namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": {"component": self._component} | ({"host": self._host} if self._host else {}),
            **({"reportingInstance": self._host} if self._host else {}),
            "reportingComponent": self._component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self._keep(key, self._events.create(event))

    def _bump(self, key: Key, held: dict[str, Any], now: str) -> bool:
        """Count a repeat on the Event made before; False when that Event is gone."""
        for attempt in range(2):
            bumped = dict(held, count=int(held.get("count") or 1) + 1, lastTimestamp=now)
            try:
                self._keep(key, self._events.update(bumped))
                return True
            except NotFoundError:
                self._written.pop(key, None)
                return False
            except ConflictError:
                if attempt:
                    raise
                meta = held["metadata"]
                held = self._events.get(meta.get("namespace"), meta["name"])  # someone else bumped it
        return False

    def _keep(self, key: Key, event: dict[str, Any]) -> None:
        self._written[key] = event
        self._written.move_to_end(key)
        while len(self._written) > self._remember:
            self._written.popitem(last=False)
