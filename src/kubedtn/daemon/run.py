"""The daemon process: start, reconcile, serve until SIGTERM/SIGINT, stop cleanly.

Start-up order (each step logged):

1. refuse to start when the pidfile names a live kubedtn daemon, or another daemon holds
   the lock beside it (``<pidfile>.lock``, held while the daemon runs: the pidfile itself
   is written last and replaced whole, so it cannot carry the lock);
2. open the store, switch the eBPF TCP/IP bypass on or off (``kubedtn.daemon.bypass``:
   never fatal), find this node's underlay (the interface holding HOST_IP);
3. write the topology pod list (so the CNI plugin can pass other pods through at once)
   and keep it current from a store watch;
4. reconcile the pods recorded alive on this node (``LinkManager.reconcile``), then keep
   trying the links that are still missing (``kubedtn.daemon.resync``);
5. metrics on HTTP_ADDR, gRPC on GRPC_PORT and the unix socket, then the pidfile —
   when the pidfile exists, the socket answers.

A pod or a stored object that cannot be handled (steps 3 and 4, and the threads after)
is that pod's error, not the daemon's: it is logged by name and reported by Status with
the health of each background job (kubedtn.daemon.health).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

from kubedtn.daemon.bypass import BypassSwitch
from kubedtn.daemon.config import DaemonConfig
from kubedtn.daemon.follow import SpecFollower
from kubedtn.daemon.health import FAILING, OK, HealthReport, JobHealth
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.metrics import DaemonMetrics
from kubedtn.daemon.plan import NodeInfo
from kubedtn.daemon.podlist import PodListWriter
from kubedtn.daemon.remote import GrpcRemote
from kubedtn.daemon.resync import Resync
from kubedtn.daemon.server import DaemonServer
from kubedtn.daemon.tls import node_pem
from kubedtn.dataplane import NetlinkDataplane
from kubedtn.errors import KubedtnError
from kubedtn.store import SqliteStore, open_store
from kubedtn.store.checkpoint import Checkpointer, checkpointer_for
from kubedtn.store.factory import open_kube_store
from kubedtn.store.resource import topology_resource

log = EventLog(logging.getLogger(__name__))

# The daemon's own network namespace (the node's), as a path the dataplane can open.
OWN_NETNS = "/proc/self/ns/net"

# Python's cyclic garbage collector, set for a daemon whose requests make many short-lived
# containers (link specs, plans, status dicts, netlink requests), all freed by reference
# counting. With the default thresholds (700, 10, 10), a large SetupPods ran full
# collections in the middle of the request, and they found nothing to free (the commit
# that tuned this has the numbers). The young generation is now collected every 50 000
# allocations, so a full collection comes about 57 times more rarely (50 000 x 20 x 20
# against 700 x 10 x 10); what start-up left alive (modules, gRPC, the store) is frozen
# out of every collection.
GC_THRESHOLDS = (50_000, 20, 20)


def tune_garbage_collector() -> None:
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def node_addresses(dataplane: NetlinkDataplane) -> list[str]:
    """Every address of the node namespace (CIDRs), for HOST_IP detection."""
    return [a for iface in dataplane.read(OWN_NETNS) for a in iface.addresses]


def find_underlay(dataplane: NetlinkDataplane, host_ip: str) -> tuple[str, int] | None:
    """The interface of the node namespace that holds HOST_IP (the VXLAN underlay), and its MTU."""
    iface = dataplane.holder_of(OWN_NETNS, host_ip)
    return None if iface is None else (iface.name, iface.mtu)


def detect_addresses() -> list[str]:
    return node_addresses(NetlinkDataplane())


def _pid_alive_daemon(pidfile: Path) -> int | None:
    """The pid in the pidfile when that process is alive and a kubedtn daemon."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid == os.getpid():
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return None
    return pid if b"kubedtn" in cmdline and b"daemon" in cmdline else None


def lock_beside_pidfile(pidfile: Path) -> int:
    """The fd of ``<pidfile>.lock``, locked for this process (closed: unlocked)."""
    path = pidfile.with_name(f"{pidfile.name}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise KubedtnError(
            f"another kubedtn daemon holds {path} (the lock of pidfile {pidfile}); stop it first"
        ) from None
    return fd


def write_pidfile(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, path)


def remove_pidfile(path: Path) -> None:
    """Remove the pidfile if it is still ours (a newer daemon may have replaced it)."""
    with contextlib.suppress(OSError, ValueError):
        if int(path.read_text().strip()) == os.getpid():
            path.unlink()


def checkpoint_report(checkpointer: Checkpointer) -> HealthReport:
    state = FAILING if checkpointer.failing else OK
    return HealthReport("checkpoints", state, checkpointer.last_error, checkpointer.failures)


def rows_report(store: SqliteStore) -> HealthReport:
    """The store's rows its last list left out (unreadable)."""
    bad = store.unreadable
    return HealthReport("store", FAILING if bad else OK, "; ".join(bad.values()), len(bad))


class Daemon:
    """One daemon: ``start()`` brings it up, ``stop()`` takes it down (idempotent)."""

    def __init__(self, config: DaemonConfig) -> None:
        self.config = config
        self.stopping = threading.Event()
        self._started: list[str] = []

    def start(self) -> None:
        cfg = self.config
        other = _pid_alive_daemon(cfg.pidfile)
        if other is not None:
            raise KubedtnError(
                f"another kubedtn daemon (pid {other}) runs with pidfile {cfg.pidfile}; stop it first"
            )
        self._lock = lock_beside_pidfile(cfg.pidfile)
        self._started.append("lock")
        if cfg.backend == "kubernetes":
            self.store = open_kube_store(
                kubeconfig=cfg.kubeconfig,
                context=cfg.kube_context,
                resource=topology_resource(cfg.api_group),
            )
        else:
            self.store = open_store(cfg.store_path, background_checkpoints=True)
        self._started.append("store")
        # Before the reconcile: it marks (or, off, unmarks) the link ends that exist already.
        self.bypass = BypassSwitch(
            enabled=cfg.tcpip_bypass, pin_dir=cfg.bypass_pin_dir, cgroup=cfg.bypass_cgroup
        )
        self.dataplane = NetlinkDataplane(marker=self.bypass.start())
        self._started.append("bypass")
        underlay = find_underlay(self.dataplane, cfg.host_ip)
        if underlay is None:
            log.warning(
                "HOST_IP is on no interface of this node; cross-node and physical links cannot be built",
                host_ip=cfg.host_ip,
            )
        node = NodeInfo(
            ip=cfg.host_ip,
            underlay=underlay[0] if underlay else None,
            underlay_mtu=underlay[1] if underlay else None,
        )
        pem = None if cfg.tls is None else node_pem(cfg.tls, host_ip=cfg.host_ip)
        self.remote = GrpcRemote(port=cfg.grpc_port, pem=pem)
        self.manager = LinkManager(store=self.store, dataplane=self.dataplane, node=node, remote=self.remote)
        self.podlist = PodListWriter(store=self.store, path=cfg.pod_list_path, on_object=self.manager.prime)
        self.podlist.start()
        self._started.append("podlist")
        self.reconciled = JobHealth("reconcile")
        self.manager.reconcile(self.reconciled)
        if cfg.backend == "kubernetes":
            # On a cluster, users change links by editing Topologies; in lab mode the CLI
            # calls the daemon instead, and a watch of every status write would cost each
            # lab daemon a read of each (the pod list watches only creations and deletions).
            self.follower = SpecFollower(store=self.store, manager=self.manager)
            self.follower.start()
            self._started.append("follower")
        # Links whose far end failed for a while (a peer restarting too) are tried again.
        self.resync = Resync(self.manager)
        self.resync.start()
        self._started.append("resync")
        self.metrics = DaemonMetrics(self.manager, bypass=self.bypass)
        if cfg.http_port is not None:
            try:
                port = self.metrics.serve(cfg.http_host, cfg.http_port)
            except OSError as e:
                raise KubedtnError(
                    f"cannot serve metrics on {cfg.http_host or '*'}:{cfg.http_port} (HTTP_ADDR): "
                    f"{e.strerror}"
                ) from e
            self._started.append("metrics")
            log.info(
                "serving metrics", action="serve", http=f"{cfg.http_host or '*'}:{port}", path="/metrics"
            )
        self.server = DaemonServer(
            config=cfg, manager=self.manager, metrics=self.metrics, pem=pem, jobs=self.jobs
        )
        self.server.start()
        self._started.append("server")
        write_pidfile(cfg.pidfile)
        self._started.append("pidfile")
        log.info(
            "daemon ready",
            action="start",
            pid=os.getpid(),
            node=cfg.node_name,
            host_ip=cfg.host_ip,
            underlay=node.underlay,
            underlay_mtu=node.underlay_mtu,
            store=str(cfg.store_path) if cfg.backend == "sqlite" else str(self.store),
        )

    def jobs(self) -> list[HealthReport]:
        """The health of the background jobs (Status)."""
        reports = [self.podlist.health.report(), self.reconciled.report()]
        bypass = self.bypass.report()
        if bypass is not None:
            reports.append(bypass)
        if "follower" in self._started:
            reports.append(self.follower.health.report())
        if isinstance(self.store, SqliteStore):
            reports.append(checkpoint_report(checkpointer_for(str(self.config.store_path))))
            reports.append(rows_report(self.store))
        return reports

    def stop(self) -> None:
        started, self._started = self._started, []
        if "pidfile" in started:
            remove_pidfile(self.config.pidfile)
        if "server" in started:
            self.server.stop()
        if "metrics" in started:
            self.metrics.stop()
        if "resync" in started:
            self.resync.stop()
        if "follower" in started:
            self.follower.stop()
        if "podlist" in started:
            self.podlist.stop()
            self.remote.close()
        if "store" in started:
            self.store.close()
        if "bypass" in started:
            self.bypass.close()  # (its pins keep it attached: a restarted daemon reuses them)
        if "lock" in started:
            os.close(self._lock)
        if started:
            log.info("daemon stopped", action="stop", pid=os.getpid())

    def wait(self) -> None:
        while not self.stopping.wait(1.0):
            pass


def run(config: DaemonConfig) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit code."""
    daemon = Daemon(config)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal received; stopping", action="stop", signal=signal.Signals(signum).name)
        daemon.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.start()
        tune_garbage_collector()
        daemon.wait()
    except KubedtnError as e:
        log.error("daemon cannot run", error=e)
        return 1
    finally:
        daemon.stop()
    return 0
