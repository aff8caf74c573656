"""Prometheus metrics of the daemon, on HTTP_ADDR ``/metrics`` (a private registry).

* ``kubedtn_interface_{receive,transmit}_{packets,bytes,errors,drops}_total{pod,namespace,interface}``
  — counters of the link interfaces of pods alive on this node, read from the kernel;
* ``kubedtn_links{kind}`` — links with an end on this node (veth, vxlan, macvlan), counted
  from the same read;
* ``kubedtn_pods{state}`` — pods recorded alive on this node;
* ``kubedtn_metrics_namespace_reads_total`` — pod namespaces the scrapes have read;
* ``kubedtn_rpc_duration_seconds{method}`` — a histogram of gRPC request durations;
* ``kubedtn_rpc_errors_total{method,code}`` — failed requests by gRPC status code;
* ``kubedtn_bypass_{redirected,passed,marked}_total`` — the eBPF TCP/IP bypass's counters
  (messages sent straight to the peer socket, messages left to the stack, flows marked
  on link ends with properties), and ``kubedtn_bypass_enabled`` (0 or 1).

Reading the interfaces enters every pod's namespace, so it is done at most once per
``SNAPSHOT_TTL_S``, by the scrape that finds the last read older (the scrapes that arrive
meanwhile wait for it and share it): a storm of scrapes costs the node one read per TTL,
and what a scrape shows is at most that old.

HTTP_ADDR binds exactly the address it gives (an empty host: every interface). On a
cluster give it the node's own address (the DaemonSet's ``status.podIP``, the node's IP
with hostNetwork) for a Prometheus that scrapes over the network, or ``127.0.0.1`` when
an agent on the node scrapes, so that the pods' networks never reach it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubedtn.daemon.logs import EventLog
from kubedtn.errors import KubedtnError

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from kubedtn.daemon.manager import LinkManager

log = EventLog(logging.getLogger(__name__))

# (metric suffix, help, Counters attribute)
_COUNTERS: Final = (
    ("receive_packets", "Packets received", "rx_packets"),
    ("transmit_packets", "Packets transmitted", "tx_packets"),
    ("receive_bytes", "Bytes received", "rx_bytes"),
    ("transmit_bytes", "Bytes transmitted", "tx_bytes"),
    ("receive_errors", "Receive errors", "rx_errors"),
    ("transmit_errors", "Transmit errors", "tx_errors"),
    ("receive_drops", "Received packets dropped", "rx_dropped"),
    ("transmit_drops", "Transmitted packets dropped", "tx_dropped"),
)
_LABELS: Final = ["pod", "namespace", "interface"]
LINK_KINDS: Final = ("veth", "vxlan", "macvlan")
# gRPC requests span sub-millisecond reads to multi-second batches.
_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


# A read of every pod namespace is reused this long; Prometheus scrapes every 15 s or more.
SNAPSHOT_TTL_S: Final = 5.0


@dataclass(frozen=True)
class _Snapshot:
    metrics: list[Metric]
    taken: float


class InterfaceCollector(Collector):
    """The link interfaces of this node's pods, read at most once per ``ttl_s``."""

    def __init__(
        self,
        manager: LinkManager,
        *,
        ttl_s: float = SNAPSHOT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.manager = manager
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()  # one read at a time; scrapes meanwhile wait for it
        self._snapshot: _Snapshot | None = None
        self.namespace_reads = 0

    def describe(self) -> Iterator[Metric]:
        """Nothing: registering the collector must not read every namespace (the registry
        collects a collector without ``describe`` to learn its names)."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or self._clock() - snapshot.taken >= self.ttl_s:
                snapshot = self._snapshot = _Snapshot(list(self._read()), self._clock())
            reads = self.namespace_reads
        yield from snapshot.metrics
        counter = CounterMetricFamily(
            "kubedtn_metrics_namespace_reads", "Pod namespaces read for the interface metrics"
        )
        counter.add_metric([], reads)
        yield counter

    def _read(self) -> Iterator[Metric]:
        families = {
            attr: CounterMetricFamily(
                f"kubedtn_interface_{suffix}", f"{text} by a link interface", labels=_LABELS
            )
            for suffix, text, attr in _COUNTERS
        }
        links = GaugeMetricFamily("kubedtn_links", "Links with an end on this node", labels=["kind"])
        pods = GaugeMetricFamily("kubedtn_pods", "Topology pods on this node", labels=["state"])
        seen: dict[str, set[tuple[str, int]]] = {kind: set() for kind in LINK_KINDS}
        try:
            here = self.manager.pods_here()
        except KubedtnError as e:
            log.warning("metrics: cannot list pods", error=e)
            here = []
        for topo in here:
            self.namespace_reads += 1
            try:
                interfaces = self.manager.dataplane.read(topo.status.net_ns, owned_only=True)
            except KubedtnError:
                continue  # the pod went away during the scrape
            for iface in interfaces:
                if iface.counters is not None:
                    labels = [topo.name, topo.namespace, iface.name]
                    for attr, family in families.items():
                        family.add_metric(labels, getattr(iface.counters, attr))
                if iface.kind in seen and iface.uid is not None:
                    seen[iface.kind].add((topo.namespace, iface.uid))
        for kind, uids in seen.items():
            links.add_metric([kind], len(uids))
        pods.add_metric(["alive"], len(here))
        yield from families.values()
        yield links
        yield pods


_BYPASS_COUNTERS: Final = (
    ("redirected", "Messages the TCP/IP bypass sent straight to the peer socket"),
    ("passed", "Messages the TCP/IP bypass left to the TCP/IP stack"),
    ("marked", "Packets marked on link ends with properties, so their flows are never bypassed"),
)


class BypassCounters(Protocol):
    def counters(self) -> dict[str, int] | None: ...


class BypassCollector(Collector):
    """The bypass's counters, read from its map at each scrape: a few bpf(2) lookups, no
    namespace entered, so no snapshot is kept (unlike ``InterfaceCollector``)."""

    def __init__(self, bypass: BypassCounters) -> None:
        self.bypass = bypass

    def describe(self) -> Iterator[Metric]:
        return iter(())

    def collect(self) -> Iterator[Metric]:
        try:
            values = self.bypass.counters()
        except KubedtnError as e:
            log.warning("metrics: cannot read the bypass counters", error=e)
            values = None
        enabled = GaugeMetricFamily("kubedtn_bypass_enabled", "1 when the eBPF TCP/IP bypass is attached")
        enabled.add_metric([], 0 if values is None else 1)
        yield enabled
        if values is None:
            return
        for name, text in _BYPASS_COUNTERS:
            family = CounterMetricFamily(f"kubedtn_bypass_{name}", text)
            family.add_metric([], values.get(name, 0))
            yield family


class DaemonMetrics:
    """The registry, the RPC instruments, and the HTTP listener."""

    def __init__(self, manager: LinkManager | None = None, *, bypass: BypassCounters | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.rpc_duration = Histogram(
            "kubedtn_rpc_duration_seconds",
            "Duration of gRPC requests served by the daemon",
            ["method"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.rpc_errors = Counter(
            "kubedtn_rpc_errors",
            "gRPC requests that failed, by status code",
            ["method", "code"],
            registry=self.registry,
        )
        if manager is not None:
            self.registry.register(InterfaceCollector(manager))
        if bypass is not None:
            self.registry.register(BypassCollector(bypass))
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    def observe(self, method: str, seconds: float, *, code: str | None = None) -> None:
        self.rpc_duration.labels(method=method).observe(seconds)
        if code is not None:
            self.rpc_errors.labels(method=method, code=code).inc()

    def serve(self, host: str, port: int) -> int:
        """Start ``/metrics`` on host:port (port 0: any free one); returns the port."""
        try:
            self._server, self._thread = start_http_server(port, addr=host or "::", registry=self.registry)
        except OSError:
            if host:
                raise
            # No IPv6 on this node: every IPv4 interface then.
            self._server, self._thread = start_http_server(port, addr="0.0.0.0", registry=self.registry)
        self.port = int(self._server.server_address[1])
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
