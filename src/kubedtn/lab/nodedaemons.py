"""The daemons of simulated nodes: one ``kubedtn daemon --netns LAB+n-NODE`` per node.

Each has its own socket, pidfile, state directory and log (``nodes.NodePaths``), its
node's underlay IP as HOST_IP, and the lab's one store. Inside its namespace it serves
gRPC on the default port, so peers reach it at its IP for ``Remote.Update``, with mutual
TLS as on a cluster: the lab makes a CA (``<state>/ca``) and, each time a node's daemon
starts, a certificate naming the node's IP and name (``<state>/nodes/NODE/tls``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from kubedtn.daemon import certs
from kubedtn.daemon.config import TlsFiles
from kubedtn.errors import KubedtnError
from kubedtn.lab import daemonproc
from kubedtn.lab.client import LabDaemonClient, PodResult
from kubedtn.lab.names import LabPaths
from kubedtn.lab.nodes import NodePaths
from kubedtn.lab.state import BypassRecord, NodeRecord, PodRecord


def spawn(
    paths: LabPaths, node: NodeRecord, *, store: str, bypass: BypassRecord | None = None
) -> tuple[NodeRecord, subprocess.Popen[bytes] | None]:
    """The node's running daemon, or a new one (not waited for); the process when spawned."""
    files = NodePaths(paths, node.name)
    pid = daemonproc.running_pid(files)
    if pid is not None:
        return replace(node, pid=pid), None
    tls = node_certificate(paths, node)
    argv = daemonproc.daemon_argv(
        files, host_ip=node.ip, store=store, node=(node.name, node.netns), tls=tls, bypass=bypass
    )
    proc = daemonproc.spawn(argv, log_file=files.daemon_log)
    return replace(node, pid=proc.pid, argv=tuple(argv)), proc


def node_certificate(paths: LabPaths, node: NodeRecord) -> TlsFiles:
    """A new certificate for the node (its IP may have changed), from the lab's CA (made once)."""
    ca_dir = paths.state_dir / "ca"
    if not (ca_dir / certs.CA_CERT).exists():
        certs.make_ca(ca_dir, name="kubedtn-lab-ca")
    return certs.make_node_cert(ca_dir, ip=node.ip, name=node.name, out=NodePaths(paths, node.name).tls_dir)


def wait(paths: LabPaths, node: NodeRecord, proc: subprocess.Popen[bytes] | None) -> None:
    """Waits until the node's daemon answers on its socket (DaemonStartError with its log)."""
    files = NodePaths(paths, node.name)
    with LabDaemonClient(str(files.socket)) as client:
        if proc is not None:
            daemonproc.wait_started(proc, ready=client.answers, log_file=files.daemon_log)
        elif node.pid is not None:
            daemonproc.wait_ready(node.pid, ready=client.answers, log_file=files.daemon_log)


def start_all(paths: LabPaths, nodes: Sequence[NodeRecord], *, store: str) -> list[NodeRecord]:
    """Every node's daemon running and answering (spawned together, then waited for)."""
    spawned = [spawn(paths, n, store=store) for n in nodes]
    for node, proc in spawned:
        wait(paths, node, proc)
    return [node for node, _ in spawned]


def stop(paths: LabPaths, node: NodeRecord) -> bool:
    """Stops the node's daemon (SIGTERM, then SIGKILL); True when it was running."""
    pid = daemonproc.running_pid(NodePaths(paths, node.name))
    return daemonproc.stop(pid) if pid is not None else False


def answers(paths: LabPaths, node: NodeRecord) -> bool:
    if daemonproc.running_pid(NodePaths(paths, node.name)) is None:
        return False
    with client(paths, node.name) as c:
        return c.answers()


def client(paths: LabPaths, node: str) -> LabDaemonClient:
    return LabDaemonClient(str(NodePaths(paths, node).socket))


def setup_pods(
    paths: LabPaths,
    records: Sequence[PodRecord],
    *,
    on_done: Callable[[int], None] = lambda _: None,
) -> tuple[PodResult, ...]:
    """SetupPods on every node's daemon for its own pods, all nodes at once; the failures."""
    by_node: dict[str, list[PodRecord]] = {}
    for p in records:
        by_node.setdefault(p.node, []).append(p)

    def one(node: str) -> list[PodResult]:
        pods = by_node[node]
        try:
            with client(paths, node) as c:
                return c.setup_pods([(p.name, p.kube_ns, p.netns_path) for p in pods])
        except KubedtnError as e:
            return [PodResult(p.name, p.kube_ns, False, f"on node {node}: {e}") for p in pods]

    done = 0
    failed: list[PodResult] = []
    with ThreadPoolExecutor(max_workers=max(1, len(by_node)), thread_name_prefix="kubedtn-node") as pool:
        for outcomes in pool.map(one, sorted(by_node)):
            done += len(outcomes)
            on_done(done)
            failed += [o for o in outcomes if not o.ok]
    return tuple(failed)


def destroy_pods(paths: LabPaths, records: Sequence[PodRecord], alive: Mapping[str, bool]) -> list[str]:
    """DestroyPods on each pod's node whose daemon answers; the problems met."""
    problems: list[str] = []
    by_node: dict[str, list[PodRecord]] = {}
    for p in records:
        if alive.get(p.node):
            by_node.setdefault(p.node, []).append(p)
    for node, pods in sorted(by_node.items()):
        try:
            with client(paths, node) as c:
                outcomes = c.destroy_pods([(p.name, p.kube_ns) for p in pods])
            problems += [
                f"{o.kube_ns}/{o.name}: DestroyPods on {node}: {o.error}" for o in outcomes if not o.ok
            ]
        except KubedtnError as e:
            problems.append(f"DestroyPods on {node}: {e}")
    return problems
