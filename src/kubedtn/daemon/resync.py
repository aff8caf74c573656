"""The periodic resync: links that failed for a while are tried again without a new request.

A link whose far end failed (the peer's daemon was restarting, unreachable, or refused for
a moment) is left out of both pods' statuses, and nothing asks for it again: the peer's
SetupPod came and went. Two nodes restarted together each reconcile while the other is
down, so each gets only its own ends. Every ``interval`` seconds, and sooner after a pass
that failed (``retry``, growing), ``resync_once`` looks at the pods recorded running on
this node:

* a pod whose namespace is gone, or whose path names another namespace now, is taken down
  (as the start-up reconcile does);
* a pod whose status lacks links of its spec whose peers are up gets them (AddLinks): the
  same decision the Kubernetes follower takes for a spec edit (``livespec.spec_diff``'s
  ``added``). Links that are there are not touched, so a quiet node does nothing but read.

It reads and writes only through the manager, so it works on both store backends. One
pod's failure is logged and counted; the others are still tried.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from kubedtn.daemon.livespec import spec_diff
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.plan import is_alive
from kubedtn.model import Link, Topology
from kubedtn.model.podref import PodRef

log = EventLog(logging.getLogger(__name__))

INTERVAL_S: Final = 45.0
RETRY_S: Final = (1.0, 2.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class ResyncPass:
    """What one pass did: pods given links again, pods whose try failed, pods taken down."""

    retried: int = 0
    failed: int = 0
    destroyed: int = 0


def missing_links(topo: Topology, pods: dict[str, Topology]) -> tuple[Link, ...]:
    """The links of ``topo``'s spec its status lacks and whose peers are up (``pods``: the
    stored pods by ``namespace/name``)."""

    def peer_up(link: Link) -> bool:
        peer = pods.get(f"{topo.namespace}/{link.peer_pod}")
        return peer is not None and is_alive(peer)

    return spec_diff(topo, live={}, peer_up=peer_up).added


def resync_once(manager: LinkManager) -> ResyncPass:
    """One pass over the pods recorded running on this node (module docstring)."""
    pods = {t.key: t for t in manager.records.listed()}
    here = [t for t in pods.values() if is_alive(t) and t.status.src_ip == manager.node.ip]
    gone = {t.key: t for t in here if not manager.records.namespace_still(t)}
    failed = 0
    if gone:
        for outcome in manager.destroy_pods(
            [PodRef(namespace=t.namespace, name=t.name) for t in gone.values()]
        ):
            failed += not outcome.ok
    retried = 0
    for topo in here:
        if topo.key in gone:
            continue
        wanted = missing_links(topo, pods)
        if not wanted:
            continue
        retried += 1
        pod = PodRef(namespace=topo.namespace, name=topo.name)
        error: Exception | None
        try:
            error = manager.add_links(pod, wanted).error
        except Exception as e:  # one pod's trouble never stops the others
            error = e
        if error is not None:
            failed += 1
            log.warning("resync: links still missing", pod=pod.name, namespace=pod.namespace, error=error)
    if retried or gone:
        log.info("resync", action="resync", retried=retried, failed=failed, destroyed=len(gone))
    return ResyncPass(retried=retried, failed=failed, destroyed=len(gone))


class Resync:
    """``resync_once`` on a thread: a first pass at once (start it after the start-up
    reconcile), then every ``interval`` seconds, and after a pass with a failure again after
    ``retry[n]`` (n+1 failed passes in a row; the last repeats until a pass succeeds).
    ``stop()`` ends it; ``wait_passes`` lets tests see passes complete."""

    def __init__(
        self, manager: LinkManager, *, interval: float = INTERVAL_S, retry: Sequence[float] = RETRY_S
    ) -> None:
        self.manager = manager
        self.interval = interval
        self.retry = tuple(retry)
        self.passes = 0
        self.last = ResyncPass()
        self._stopped = threading.Event()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="kubedtn-resync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wait_passes(self, count: int, *, timeout: float) -> bool:
        """True once ``count`` passes have completed since the start (False after timeout)."""
        with self._done:
            return self._done.wait_for(lambda: self.passes >= count, timeout=timeout)

    def delay(self, failures: int) -> float:
        """The wait before the next pass, after ``failures`` failed passes in a row."""
        return self.retry[min(failures, len(self.retry)) - 1] if failures and self.retry else self.interval

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            try:
                result = resync_once(self.manager)
            except Exception as e:  # (the store unreachable: try again, sooner)
                log.error("resync failed", action="resync", error=e)
                result = ResyncPass(failed=1)
            failures = failures + 1 if result.failed else 0
            with self._done:
                self.passes += 1
                self.last = result
                self._done.notify_all()
            self._stopped.wait(self.delay(failures))
