"""A simulated Kubernetes cluster for end-to-end tests: the API double, nodes, a kubelet.

::

    root namespace:   the test, kubectl  ──  API double on 127.0.0.1 (kubeconfig)
    NAME+h-XXXX:      "control plane" on the fabric; the same double on CP_IP
                      (kubeconfig-cp), where the controller runs
    NAME+n-nodeN:     one ``kubedtn daemon --backend kubernetes`` each (kubeconfig-cp, and
                      a node certificate: the daemons call one another with mutual TLS)
    NAME-POD:         a pod's namespace, brought up by the harness's "kubelet"

``SimCluster`` is what the tests drive: the double with the Topology CRD (kubedtn.io, and
kube-dtn's y-young.github.io when ``api_group`` says so), a Ready Node object per node
(InternalIP = its underlay IP), and a kubelet: ``run_pod`` makes the pod's namespace, records
the Pod as scheduled on the node, runs the node's CNI chain (Debian's bridge plugin, then the
kubedtn plugin, which calls the node daemon's ``SetupPod``: tests/support/nodecni.py) and
records the Pod running with the address it got; ``delete_pod`` is CNI DEL (the daemon's
``DestroyPod``), then the namespace and the Pod go; ``move_pod`` is a delete and a
run elsewhere, as a rescheduled pod; ``kill_node`` is a dead machine: its daemon SIGKILLed,
its pods' namespaces gone without DEL, its Node ``Ready=Unknown`` as the node lifecycle
controller records it. ``start_controller`` runs ``kubedtn controller`` in the control-plane
namespace, or skips the test when this build has no such command.

``objects`` reads and writes the double's store in-process, past its HTTP faults: what a
user's change is while the API refuses the daemons. Everything is removed afterwards, and
the harness fails the test if a namespace or a process is left.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import ipaddress
import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from kubedtn.dataplane import create_namespaces, delete_namespaces
from kubedtn.lab import daemonproc, fabric, nodedaemons, selfexec
from kubedtn.lab.names import LabPaths
from kubedtn.lab.nodes import NodePaths, fabric_netns, plan_nodes
from kubedtn.lab.state import NodeRecord
from kubedtn.store.resource import TOPOLOGY
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD
from tests.support.kubeapi.routes import Target
from tests.support.kubeapi.storage import now_rfc3339
from tests.support.nodecni import NodeCni, in_netns
from tests.support.simnodes import attach_host, namespaces_of

KUBE_DTN_GROUP: Final = "y-young.github.io"
MERGE: Final = "application/merge-patch+json"
CONTROLLER_NAMESPACE: Final = "kubedtn-system"  # the controller's Deployment and Lease


def _crd_for(group: str) -> dict[str, Any]:
    """The Topology CRD of kubedtn, moved to ``group`` (kube-dtn's objects carry the same fields)."""
    docs = [d for d in yaml.safe_load_all(TOPOLOGY_CRD.read_text()) if d]
    (crd,) = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    crd["metadata"]["name"] = f"{crd['spec']['names']['plural']}.{group}"
    crd["spec"]["group"] = group
    return dict(crd)


class Objects:
    """The double's objects, read and written in-process (no HTTP, so no faults)."""

    def __init__(self, server: KubeApiServer) -> None:
        self.server = server

    def target(self, plural: str, name: str = "", ns: str | None = "default", *, group: str = "") -> Target:
        rt = self.server.registry.find(group, "v1", plural)
        if rt is None:
            raise KeyError(f"{plural}.{group or 'core'} is not served by the double")
        return Target(rt, ns if rt.namespaced else None, name)

    def get(self, plural: str, name: str, ns: str = "default", *, group: str = "") -> dict[str, Any]:
        return self.server.api.get(self.target(plural, name, ns, group=group))

    def exists(self, plural: str, name: str, ns: str = "default", *, group: str = "") -> bool:
        return any(
            o["metadata"]["name"] == name
            for o in self.server.api.list(self.target(plural, "", ns, group=group), {})["items"]
        )

    def create(self, plural: str, obj: dict[str, Any], ns: str = "default", *, group: str = "") -> None:
        self.server.api.create(self.target(plural, "", ns, group=group), obj)

    def merge(
        self,
        plural: str,
        name: str,
        patch: dict[str, Any],
        ns: str = "default",
        *,
        group: str = "",
        status: bool = False,
    ) -> dict[str, Any]:
        t = self.target(plural, name, ns, group=group)
        if status:
            t = Target(t.rt, t.namespace, name, "status")
        return self.server.api.patch(t, MERGE, json.dumps(patch).encode())[0]

    def delete(self, plural: str, name: str, ns: str = "default", *, group: str = "") -> None:
        self.server.api.delete(self.target(plural, name, ns, group=group))


@dataclass
class RunningPod:
    name: str
    kube_ns: str
    node: str
    netns: str  # its namespace's name in /run/netns


@dataclass
class SimCluster:
    """A running simulated cluster (see the module docstring)."""

    name: str
    root: Path
    api: KubeApiServer
    api_group: str
    command: list[str]
    paths: LabPaths
    fabric: str
    nodes: list[NodeRecord]
    cp_netns: str = ""
    cp_ip: str = ""
    kubeconfig: Path = Path()  # for the test's own clients and kubectl (127.0.0.1)
    cp_kubeconfig: Path = Path()  # for the daemons and the controller (CP_IP)
    pods: dict[str, RunningPod] = field(default_factory=dict)
    cni: dict[str, NodeCni] = field(default_factory=dict)  # node -> its CNI chain
    extra_netns: list[str] = field(default_factory=list)
    daemons: dict[str, int] = field(default_factory=dict)  # node -> pid
    controllers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)  # every process started, for the leftover check

    @property
    def objects(self) -> Objects:
        return Objects(self.api)

    def node(self, name: str) -> NodeRecord:
        return next(n for n in self.nodes if n.name == name)

    def socket(self, node: str) -> str:
        return str(NodePaths(self.paths, node).socket)

    def daemon_log(self, node: str) -> Path:
        return NodePaths(self.paths, node).daemon_log

    def topology(self, name: str, ns: str = "default") -> dict[str, Any]:
        return self.objects.get("topologies", name, ns, group=self.api_group)

    def edit_spec(self, name: str, change: Callable[[dict[str, Any]], None], ns: str = "default") -> None:
        """Changes a Topology's spec in the double's store, in-process (past any fault)."""
        spec = self.topology(name, ns)["spec"]
        change(spec)
        self.objects.merge("topologies", name, {"spec": spec}, ns, group=self.api_group)

    # ---- nodes ---------------------------------------------------------------------------

    def start_daemon(self, node: str) -> None:
        record = self.node(node)
        files = NodePaths(self.paths, node)
        argv = daemonproc.daemon_argv(
            files,
            host_ip=record.ip,
            store=str(self.root / "unused.db"),  # daemon_argv's; the kubernetes backend has none
            command=self.command,
            node=(record.name, record.netns),
            tls=nodedaemons.node_certificate(self.paths, record),  # Remote with mutual TLS
        )
        argv += [
            "--backend",
            "kubernetes",
            "--kubeconfig",
            str(self.cp_kubeconfig),
            "--api-group",
            self.api_group,
        ]
        proc = daemonproc.spawn(argv, log_file=files.daemon_log)
        self.pids.add(proc.pid)
        self.daemons[node] = proc.pid
        nodedaemons.wait(self.paths, record, proc)

    def record_node(self, record: NodeRecord, ready: str) -> None:
        """The Node object with its Ready condition (True, or Unknown as the node lifecycle
        controller sets it when the kubelet stops reporting) and its addresses."""
        now = now_rfc3339()
        status = {
            "conditions": [
                {
                    "type": "Ready",
                    "status": ready,
                    "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": record.ip},
                {"type": "Hostname", "address": record.name},
            ],
        }
        if not self.objects.exists("nodes", record.name, ""):
            self.objects.create(
                "nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": record.name}}, ""
            )
        self.objects.merge("nodes", record.name, {"status": status}, "", status=True)

    def kill_node(self, node: str) -> None:
        """The machine dies: its daemon SIGKILLed, its pods' namespaces gone without CNI DEL,
        its Node recorded Ready=Unknown (the node lifecycle controller's part)."""
        pid = self.daemons.pop(node, None)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            daemonproc.stop(pid)  # reaps it
        gone = [p for p in self.pods.values() if p.node == node]
        delete_namespaces([p.netns for p in gone])
        for p in gone:
            del self.pods[p.name]
        self.record_node(self.node(node), "Unknown")

    # ---- the kubelet ---------------------------------------------------------------------

    def run_pod(self, name: str, node: str, kube_ns: str = "default") -> None:
        """Schedules ``name`` on ``node`` (a Pod as kubectl left it, or a new one) and starts
        it: its namespace, CNI ADD on the node, the Pod recorded running with its address."""
        assert name not in self.pods, f"pod {name} already runs on {self.pods[name].node}"
        netns = f"{self.name}-{name}"
        create_namespaces([netns], loopback_up=True)
        self.pods[name] = RunningPod(name, kube_ns, node, netns)
        if not self.objects.exists("pods", name, kube_ns):
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name},
                "spec": {"containers": [{"name": "pod", "image": "alpine"}]},
            }
            self.objects.create("pods", pod, kube_ns)
        self.objects.merge("pods", name, {"spec": {"nodeName": node}}, kube_ns)
        pod_ip = self.cni[node].add(name, kube_ns, netns)
        status = {
            "phase": "Running",
            "hostIP": self.node(node).ip,
            "podIP": pod_ip,
            "conditions": [{"type": "Ready", "status": "True"}],
        }
        self.objects.merge("pods", name, {"status": status}, kube_ns, status=True)

    def delete_pod(self, name: str) -> None:
        """CNI DEL (the daemon's DestroyPod), then the pod's namespace and its Pod object."""
        pod = self.pods.pop(name)
        self.cni[pod.node].delete(name, pod.kube_ns, pod.netns)
        delete_namespaces([pod.netns])
        self.objects.delete("pods", name, pod.kube_ns)

    def move_pod(self, name: str, node: str) -> None:
        """Rescheduled: deleted where it runs, the same Pod made again and run on ``node``."""
        kube_ns = self.pods[name].kube_ns
        before = self.objects.get("pods", name, kube_ns)
        self.delete_pod(name)
        again = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": before["metadata"].get("labels", {})},
        }
        again["spec"] = {k: v for k, v in before.get("spec", {}).items() if k != "nodeName"}
        self.objects.create("pods", copy.deepcopy(again), kube_ns)
        self.run_pod(name, node, kube_ns)

    def netns(self, pod: str) -> str:
        return self.pods[pod].netns

    # ---- the controller ------------------------------------------------------------------

    def start_controller(self, *extra: str) -> subprocess.Popen[bytes]:
        """``kubedtn controller`` on the cluster's API group, in the control-plane namespace (not
        waited for; its log is ``controller-N.log``, it is ``controller-N`` in a Lease); skips
        the test when this build has no controller. ``extra``: more flags (--node-grace, ...)."""
        why = controller_missing(tuple(self.command))
        if why:
            pytest.skip(why)
        n = len(self.controllers)
        log = self.root / f"controller-{n}.log"
        argv = [
            *("ip", "netns", "exec", self.cp_netns, *self.command, "controller"),
            *("--kubeconfig", str(self.cp_kubeconfig), "--api-group", self.api_group),
            *("--identity", f"controller-{n}", "--metrics-addr", "off", "--health-addr", "off"),
            *extra,
        ]
        proc = daemonproc.spawn(argv, log_file=log)
        self.controllers.append(proc)
        self.pids.add(proc.pid)
        return proc

    def kill_controller(self, proc: subprocess.Popen[bytes] | None = None) -> None:
        """SIGKILL one controller (default: the last started): no clean shutdown."""
        target = proc or self.controllers[-1]
        with contextlib.suppress(ProcessLookupError):
            target.kill()
        target.wait()

    # ---- cleanup -------------------------------------------------------------------------

    def leftovers(self) -> list[str]:
        out = [f"namespace {n}" for n in namespaces_of(self.name)]
        out += [f"process {p}" for p in self.pids if daemonproc.process_alive(p)]
        return out


@functools.cache
def controller_missing(command: tuple[str, ...]) -> str | None:
    """Why ``kubedtn controller`` cannot run from this build (None when it can)."""
    probe = subprocess.run(
        [*command, "controller", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    if probe.returncode == 0:
        return None
    said = (probe.stderr.strip().splitlines() or ["no output"])[-1]
    return f"`kubedtn controller` is not in this build yet (issue 14): {' '.join(command)} said: {said}"


@contextmanager
def sim_cluster(
    root: Path, nodes: int = 3, *, api_group: str = TOPOLOGY.group, command: Sequence[str] | None = None
) -> Iterator[SimCluster]:
    """``nodes`` nodes with their daemons on the API double; everything removed afterwards."""
    name = f"k{os.urandom(4).hex()[:7]}"
    paths = LabPaths(lab=name, state_dir=root / "state", run_dir=root / "run")
    plan = plan_nodes(lab=name, count=nodes, pods=[], file_nodes={}, previous=None)
    assert plan is not None
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    with KubeApiServer(event_window=1000, bookmark_every=0.5) as server:
        c = SimCluster(
            name,
            root,
            server,
            api_group,
            list(command or selfexec.command()),
            paths,
            fabric_netns(name),
            list(plan.nodes),
        )
        try:
            server.register_crd(TOPOLOGY_CRD)
            server.create("", "v1", "namespaces", {"metadata": {"name": CONTROLLER_NAMESPACE}})
            if api_group != TOPOLOGY.group:
                server.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", _crd_for(api_group))
            fabric.build(c.fabric, c.nodes, plan.subnet)
            subnet = ipaddress.ip_network(plan.subnet)
            c.cp_ip = str(subnet.broadcast_address - 1)
            c.cp_netns = attach_host(c.fabric, c.cp_ip, c.extra_netns, prefix=name)
            c.kubeconfig = server.write_kubeconfig(root / "kubeconfig")
            cp_url = in_netns(c.cp_netns, functools.partial(server.listen_also, c.cp_ip))
            c.cp_kubeconfig = server.write_kubeconfig(root / "kubeconfig-cp", url=cp_url)
            for record in c.nodes:
                c.record_node(record, "True")
                files = NodePaths(paths, record.name)
                c.cni[record.name] = NodeCni(
                    root / "cni" / record.name,
                    node_netns=record.netns,
                    index=record.index,
                    socket=files.socket,
                    pod_list=files.pod_list,
                )
            for record in c.nodes:
                c.start_daemon(record.name)
            yield c
        finally:
            for proc in c.controllers:
                daemonproc.stop(proc.pid)
            for pid in c.daemons.values():
                daemonproc.stop(pid)
            delete_namespaces([p.netns for p in c.pods.values()])
            delete_namespaces(c.extra_netns)
            fabric.remove(c.fabric, c.nodes)
            left = c.leftovers()
            assert not left, f"simulated cluster {name} left behind: {left}"
            assert not server.crashes, "the API server double failed:\n" + "\n".join(server.crashes)


@pytest.fixture
def cluster3(tmp_path: Path) -> Iterator[SimCluster]:
    """Three nodes on the API double, Topologies in kube-dtn's group (import into a conftest)."""
    with sim_cluster(tmp_path, 3, api_group=KUBE_DTN_GROUP) as c:
        yield c
