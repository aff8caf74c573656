"""The controller process: informers, the leader election, the work queue and its workers,
probes and metrics; ``run(config)`` serves until SIGTERM/SIGINT.

The informers (Topologies and Nodes, watch-fed caches) run in every replica, so a standby
takes over warm. Only the leader's workers reconcile: winning the Lease starts them and
queues every Topology; losing it stops them before anything more is written.
``/readyz`` answers 200 once the caches have listed; ``/healthz`` while the process runs.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass
from types import FrameType
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kubedtn.controller.events import EventRecorder
from kubedtn.controller.leader import LeaderConfig, LeaderElector
from kubedtn.controller.nodes import DEFAULT_GRACE_S
from kubedtn.controller.probes import Endpoint, health_endpoint, metrics_endpoint
from kubedtn.controller.reconciler import Key, Reconciler
from kubedtn.controller.workqueue import Workers, WorkQueue
from kubedtn.store import EventType
from kubedtn.store.kube import KubeStore, api_client
from kubedtn.store.kubecache import CachedKubeStore
from kubedtn.store.resource import EVENT, LEASE, NODE, topology_resource

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ControllerConfig:
    kubeconfig: str | None = None
    context: str | None = None
    api_group: str = "kubedtn.io"
    workers: int = 2
    node_grace_s: float = DEFAULT_GRACE_S
    metrics_addr: str = ":8080"  # "" or "off": none
    health_addr: str = ":8081"
    leader_elect: bool = True
    lease_namespace: str = "kubedtn-system"
    lease_name: str = "kubedtn-controller"
    identity: str = ""  # default: host name and pid
    lease_duration: int = 15
    renew_deadline: float = 10.0
    retry_period: float = 2.0


class _Metrics(Collector):
    """The controller's counters, read at scrape time."""

    def __init__(self, controller: Controller) -> None:
        self._c = controller

    def collect(self) -> Any:
        q = self._c.queue.metrics()
        depth = GaugeMetricFamily("kubedtn_controller_queue_depth", "Topologies waiting to be reconciled")
        depth.add_metric([], q.depth + q.delayed)
        yield depth
        done = CounterMetricFamily(
            "kubedtn_controller_reconciles", "Topologies reconciled", labels=["result"]
        )
        done.add_metric(["ok"], max(q.processed - q.failures, 0))
        done.add_metric(["error"], q.failures)
        yield done
        leader = GaugeMetricFamily("kubedtn_controller_leader", "1 while this replica is the leader")
        leader.add_metric([], 1.0 if self._c.leading.is_set() else 0.0)
        yield leader
        events = CounterMetricFamily(
            "kubedtn_controller_events", "Kubernetes Events written or dropped", labels=["result"]
        )
        events.add_metric(["written"], self._c.recorder.written)
        events.add_metric(["dropped"], self._c.recorder.dropped)
        yield events


class Controller:
    """One replica (module docstring): ``start()``, then ``stop()``."""

    def __init__(self, config: ControllerConfig) -> None:
        self.config = config
        self.leading = threading.Event()
        self._workers: Workers[Key] | None = None
        self._lock = threading.Lock()
        self._endpoints: list[Endpoint] = []

    def start(self) -> None:
        cfg = self.config
        client = api_client(kubeconfig=cfg.kubeconfig, context=cfg.context)
        self.queue: WorkQueue[Key] = WorkQueue()
        self.recorder = EventRecorder(KubeStore(client, resource=EVENT, request_timeout=10.0))
        self.topologies = CachedKubeStore(
            client, resource=topology_resource(cfg.api_group), handlers=[self._on_topology]
        )
        self.nodes = CachedKubeStore(client, resource=NODE, handlers=[self._on_node])
        self.reconciler = Reconciler(
            topologies=self.topologies,
            nodes=self.nodes,
            recorder=self.recorder,
            requeue=self.queue.add_after,
            grace_s=cfg.node_grace_s,
        )
        registry = CollectorRegistry()
        registry.register(_Metrics(self))
        if cfg.metrics_addr not in ("", "off"):
            self._endpoints.append(metrics_endpoint(registry, cfg.metrics_addr).start())
        if cfg.health_addr not in ("", "off"):
            self._endpoints.append(health_endpoint(cfg.health_addr, self.readiness).start())
        if cfg.leader_elect:
            identity = cfg.identity or f"{socket.gethostname()}_{os.getpid()}"
            leader = LeaderConfig(
                identity=identity,
                name=cfg.lease_name,
                namespace=cfg.lease_namespace,
                lease_duration=cfg.lease_duration,
                renew_deadline=cfg.renew_deadline,
                retry_period=cfg.retry_period,
            )
            leases = KubeStore(client, resource=LEASE, request_timeout=max(1.0, cfg.renew_deadline / 2))
            self.elector: LeaderElector | None = LeaderElector(
                leases, leader, on_started_leading=self._lead, on_stopped_leading=self._follow
            ).start()
        else:
            self.elector = None
            self._lead()
        log.info("controller started (group %s, %d workers)", cfg.api_group, cfg.workers)

    def readiness(self) -> tuple[bool, str]:
        for cache, what in ((self.topologies, "topologies"), (self.nodes, "nodes")):
            if not cache.cache.wait_synced(0):
                return False, f"the {what} have not been listed yet"
        return True, ""

    # ---- leading ------------------------------------------------------------------------

    def _lead(self) -> None:
        with self._lock:
            if self._workers is not None:
                return
            self.queue = WorkQueue() if self.queue.shutting_down else self.queue
            self.reconciler.requeue = self.queue.add_after
            self._workers = Workers(self.queue, self.reconciler.reconcile, count=self.config.workers).start()
            self.leading.set()
        self.topologies.cache.wait_synced(30)
        items, _ = self.topologies.list()
        for obj in items:
            self.queue.add((str(obj["metadata"].get("namespace") or "default"), str(obj["metadata"]["name"])))
        log.info("leading: %d topologies queued", len(items))

    def _follow(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, None
            self.leading.clear()
        if workers is not None:
            workers.stop(timeout=30)
        log.info("not leading: workers stopped")

    def _on_topology(self, kind: EventType, obj: dict[str, Any]) -> None:
        if self.leading.is_set():
            for key in self.reconciler.keys_for_topology(kind, obj):
                self.queue.add(key)

    def _on_node(self, kind: EventType, obj: dict[str, Any]) -> None:
        keys = self.reconciler.keys_for_node(kind, obj)  # (notes the node's readiness always)
        if self.leading.is_set():
            for key in keys:
                self.queue.add(key)

    def stop(self) -> None:
        if self.elector is not None:
            self.elector.stop(timeout=15)  # steps down (stops the workers), releases the Lease
        self._follow()
        for endpoint in self._endpoints:
            endpoint.stop()
        self.recorder.close()
        self.topologies.close()
        self.nodes.close()


def run(config: ControllerConfig) -> int:
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    controller = Controller(config)
    controller.start()
    try:
        stopping.wait()
    finally:
        controller.stop()
    log.info("controller stopped")
    return 0
