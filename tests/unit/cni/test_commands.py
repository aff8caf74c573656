"""ADD, DEL, CHECK, STATUS and GC as a runtime calls them (environment + stdin, in-process),
against a fake daemon on a real unix socket and a pod list in a temporary directory."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from tests.unit.cni.conftest import Invocation
from tests.unit.cni.fakedaemon import Failure, Running, fake_daemon, socket_dir

NETNS = "/var/run/netns/cni-1234"
ENV = {
    "CNI_CONTAINERID": "c0ffee",
    "CNI_NETNS": NETNS,
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/opt/cni/bin",
}
TOPOLOGY_POD = "IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=r1;K8S_POD_INFRA_CONTAINER_ID=c0ffee"
OTHER_POD = "IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-1;K8S_POD_UID=u-1"

# The bridge plugin's result in each result form kubedtn may be chained with.
PREV_RESULTS: dict[str, dict[str, Any]] = {
    "0.3.1": {
        "cniVersion": "0.3.1",
        "interfaces": [{"name": "cni0", "mac": "aa:bb:cc:dd:ee:00"}, {"name": "eth0", "sandbox": NETNS}],
        "ips": [{"version": "4", "interface": 1, "address": "10.22.0.5/16", "gateway": "10.22.0.1"}],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dns": {},
    },
    "0.4.0": {
        "cniVersion": "0.4.0",
        "interfaces": [{"name": "eth0", "sandbox": NETNS}],
        "ips": [{"version": "4", "interface": 0, "address": "10.22.0.5/16"}],
        "dns": {"nameservers": ["10.96.0.10"]},
    },
    "1.0.0": {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:01", "sandbox": NETNS}],
        "ips": [{"interface": 0, "address": "10.22.0.5/16", "gateway": "10.22.0.1"}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.22.0.1"}],
        "dns": {},
    },
    "1.1.0": {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "sandbox": NETNS}],
        "ips": [{"interface": 0, "address": "fd00::5/64"}],
    },
}


@dataclass
class Node:
    """A node as the plugin sees it: the daemon's socket and pod list paths, maybe a daemon."""

    socket: str
    pod_list: Path
    daemon: Running | None

    def config(self, version: str = "1.0.0", *, prev: bool = True, **extra: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "cniVersion": version,
            "name": "k8s-pod-network",
            "type": "kubedtn",
            "daemonSocket": self.socket,
            "podList": str(self.pod_list),
            "daemonWaitSeconds": 0,
            **extra,
        }
        if prev:
            config["prevResult"] = PREV_RESULTS[version]
        return config

    @property
    def calls(self) -> list[str]:
        assert self.daemon is not None
        return [method for method, _ in self.daemon.servicer.calls]


@pytest.fixture
def node() -> Iterator[Node]:
    with socket_dir() as directory, fake_daemon(directory) as daemon:
        pod_list = directory / "topology-pods.json"
        pod_list.write_text(json.dumps({"pods": ["lab/r1", "lab/r2"]}))
        yield Node(socket=daemon.socket, pod_list=pod_list, daemon=daemon)


@pytest.fixture
def down_node() -> Iterator[Node]:
    """A node whose daemon is not running (no socket), with a pod list."""
    with socket_dir() as directory:
        pod_list = directory / "topology-pods.json"
        pod_list.write_text(json.dumps({"pods": ["lab/r1"]}))
        yield Node(socket=str(directory / "daemon.sock"), pod_list=pod_list, daemon=None)


# ---- ADD ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", sorted(PREV_RESULTS))
def test_add_of_a_pod_outside_every_topology_prints_prev_result_unchanged(
    invoke: Callable[..., Invocation], node: Node, version: str
) -> None:
    got = invoke("ADD", node.config(version), **ENV, CNI_ARGS=OTHER_POD)
    assert got.code == 0, got.stdout
    assert got.result == PREV_RESULTS[version]
    assert node.calls == []
    assert "pod=kube-system/coredns-1" in got.log
    assert "passthrough reason='not in any topology'" in got.log


def test_add_of_a_pod_outside_every_topology_needs_no_daemon(
    invoke: Callable[..., Invocation], down_node: Node
) -> None:
    got = invoke("ADD", down_node.config(daemonWaitSeconds=30), **ENV, CNI_ARGS=OTHER_POD)
    assert (got.code, got.result) == (0, PREV_RESULTS["1.0.0"])


def test_add_passes_every_pod_when_the_node_has_no_pod_list(
    invoke: Callable[..., Invocation], node: Node
) -> None:
    node.pod_list.unlink()
    got = invoke("ADD", node.config(), **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert (got.code, got.result) == (0, PREV_RESULTS["1.0.0"])
    assert node.calls == []
    assert "reason='no pod list on this node (the kubedtn daemon never ran here)'" in got.log
    assert str(node.pod_list) in got.log


def test_add_passes_a_call_without_pod_name(invoke: Callable[..., Invocation], node: Node) -> None:
    got = invoke("ADD", node.config(), **ENV, CNI_ARGS="IgnoreUnknown=1")
    assert (got.code, got.result) == (0, PREV_RESULTS["1.0.0"])
    assert node.calls == []


def test_add_with_a_broken_pod_list_passes_and_logs_an_error(
    invoke: Callable[..., Invocation], node: Node
) -> None:
    node.pod_list.write_text("{")
    got = invoke("ADD", node.config(), **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert (got.code, got.result) == (0, PREV_RESULTS["1.0.0"])
    assert "ERROR" in got.log and "the pod list is unreadable" in got.log


def test_add_without_prev_result_says_kubedtn_must_be_chained(
    invoke: Callable[..., Invocation], node: Node
) -> None:
    got = invoke("ADD", node.config(prev=False), **ENV, CNI_ARGS=OTHER_POD)
    assert got.code == 1
    assert got.result["code"] == 7
    assert got.result["msg"] == (
        "kubedtn must be chained after a primary plugin: network 'k8s-pod-network' gave it no prevResult"
    )
    assert node.calls == []


def test_add_of_a_topology_pod_sets_it_up_and_passes_prev_result(
    invoke: Callable[..., Invocation], node: Node
) -> None:
    got = invoke("ADD", node.config("0.4.0"), **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert (got.code, got.result) == (0, PREV_RESULTS["0.4.0"])
    assert node.daemon is not None
    [(method, request)] = node.daemon.servicer.calls
    assert method == "SetupPod"
    assert (request.name, request.kube_ns, request.net_ns) == ("r1", "lab", NETNS)


def test_a_pod_without_namespace_is_in_default(invoke: Callable[..., Invocation], node: Node) -> None:
    node.pod_list.write_text(json.dumps({"pods": ["default/r1"]}))
    got = invoke("ADD", node.config(), **ENV, CNI_ARGS="K8S_POD_NAME=r1")
    assert got.code == 0
    assert node.daemon is not None
    assert node.daemon.servicer.calls[0][1].kube_ns == "default"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 7),
        (grpc.StatusCode.UNAVAILABLE, 11),
        (grpc.StatusCode.FAILED_PRECONDITION, 3),
        (grpc.StatusCode.INTERNAL, 101),
    ],
)
def test_add_reports_the_daemon_error(
    invoke: Callable[..., Invocation], node: Node, status: grpc.StatusCode, code: int
) -> None:
    assert node.daemon is not None
    message = "topology lab/r1: spec.links[0].local_ip: '12.12.12.1' is not an address with prefix"
    node.daemon.servicer.answers["SetupPod"] = Failure(status, message)
    got = invoke("ADD", node.config(), **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert got.code == 1
    assert got.result["code"] == code
    assert got.result["msg"] == f"SetupPod lab/r1: {message}"
    assert f"code={code}" in got.log


def test_add_of_a_topology_pod_with_the_daemon_down_is_code_11(
    invoke: Callable[..., Invocation], down_node: Node
) -> None:
    got = invoke("ADD", down_node.config(), **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert got.code == 1
    assert got.result["code"] == 11
    assert got.result["msg"] == (
        f"kubedtn daemon not reachable at {down_node.socket} after 0s: "
        "is the kubedtn DaemonSet running on this node?"
    )


def test_add_with_a_bad_option_is_code_7(invoke: Callable[..., Invocation], node: Node) -> None:
    got = invoke("ADD", node.config(daemonWaitSeconds="soon"), **ENV, CNI_ARGS=OTHER_POD)
    assert got.result["code"] == 7
    assert "daemonWaitSeconds" in got.result["msg"]


def test_false_from_setup_pod_is_an_error(invoke: Callable[..., Invocation], node: Node) -> None:
    assert node.daemon is not None
    node.daemon.servicer.answers["SetupPod"] = pb.BoolResponse(response=False)
    got = invoke("ADD", node.config(), **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert got.result["code"] == 999
    assert "answered false" in got.result["msg"]


# ---- DEL ------------------------------------------------------------------------------------


@pytest.mark.parametrize("prev", [True, False])
def test_del_of_a_topology_pod_destroys_it_every_time(
    invoke: Callable[..., Invocation], node: Node, prev: bool
) -> None:
    for _ in range(2):
        got = invoke("DEL", node.config(prev=prev), **ENV, CNI_ARGS=TOPOLOGY_POD)
        assert (got.code, got.stdout) == (0, "")
    assert node.calls == ["DestroyPod", "DestroyPod"]


def test_del_without_netns_is_allowed(invoke: Callable[..., Invocation], node: Node) -> None:
    env = {k: v for k, v in ENV.items() if k != "CNI_NETNS"}
    got = invoke("DEL", node.config(prev=False), **env, CNI_ARGS=TOPOLOGY_POD)
    assert (got.code, got.stdout) == (0, "")
    assert node.calls == ["DestroyPod"]


def test_del_of_another_pod_succeeds_without_the_daemon(
    invoke: Callable[..., Invocation], down_node: Node
) -> None:
    got = invoke("DEL", down_node.config(prev=False, daemonWaitSeconds=30), **ENV, CNI_ARGS=OTHER_POD)
    assert (got.code, got.stdout) == (0, "")


def test_del_of_a_topology_pod_with_the_daemon_down_is_code_11(
    invoke: Callable[..., Invocation], down_node: Node
) -> None:
    got = invoke("DEL", down_node.config(), **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert got.result["code"] == 11


# ---- CHECK ----------------------------------------------------------------------------------


def test_check_needs_prev_result(invoke: Callable[..., Invocation], node: Node) -> None:
    got = invoke("CHECK", node.config(prev=False), **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert got.result["code"] == 7
    assert "CHECK needs prevResult" in got.result["msg"]


def test_check_of_a_healthy_topology_pod(invoke: Callable[..., Invocation], node: Node) -> None:
    got = invoke("CHECK", node.config(), **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert (got.code, got.stdout) == (0, "")
    assert node.daemon is not None
    [(method, request)] = node.daemon.servicer.calls
    assert (method, request.name, request.kube_ns, request.net_ns) == ("CheckPod", "r1", "lab", NETNS)


def test_check_lists_missing_links(invoke: Callable[..., Invocation], node: Node) -> None:
    assert node.daemon is not None
    problems = ["r1/eth1 is missing", "r1/eth2: mtu is 1500, want 9000"]
    node.daemon.servicer.answers["CheckPod"] = pb.CheckPodResponse(
        ok=False, problems=problems, in_topology=True
    )
    got = invoke("CHECK", node.config(), **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert got.code == 1
    assert got.result == {
        "cniVersion": "1.0.0",
        "code": 102,
        "msg": "CHECK of pod lab/r1: 2 problems: r1/eth1 is missing; r1/eth2: mtu is 1500, want 9000",
        "details": "r1/eth1 is missing\nr1/eth2: mtu is 1500, want 9000",
    }


def test_check_of_a_pod_the_daemon_does_not_know_as_topology_pod_passes(
    invoke: Callable[..., Invocation], node: Node
) -> None:
    assert node.daemon is not None
    node.daemon.servicer.answers["CheckPod"] = pb.CheckPodResponse(ok=True, in_topology=False)
    assert invoke("CHECK", node.config(), **ENV, CNI_ARGS=TOPOLOGY_POD).code == 0


def test_check_of_another_pod_passes_without_the_daemon(
    invoke: Callable[..., Invocation], down_node: Node
) -> None:
    assert invoke("CHECK", down_node.config("0.4.0"), **ENV, CNI_ARGS=OTHER_POD).code == 0


# ---- STATUS, GC -----------------------------------------------------------------------------


def test_status_with_the_daemon_up_succeeds_without_calling_it(
    invoke: Callable[..., Invocation], node: Node
) -> None:
    got = invoke("STATUS", node.config("1.1.0", prev=False))
    assert (got.code, got.stdout) == (0, "")
    assert node.calls == []  # a probe of the socket, no request: STATUS is polled
    assert f"cmd=STATUS daemon={node.socket} reachable=yes" in got.log


def test_status_with_no_daemon_succeeds_so_pods_in_no_topology_still_start(
    invoke: Callable[..., Invocation], down_node: Node
) -> None:
    """An error would mark the node's network NotReady: no pod at all would be scheduled."""
    got = invoke("STATUS", down_node.config("1.1.0", prev=False))
    assert (got.code, got.stdout) == (0, "")
    assert f"cmd=STATUS daemon={down_node.socket} reachable=no reason='the socket does not exist'" in got.log
    # ... and such a pod is indeed passed through with the daemon down.
    add = invoke("ADD", down_node.config("1.1.0"), **ENV, CNI_ARGS=OTHER_POD)
    assert (add.code, add.result) == (0, PREV_RESULTS["1.1.0"])


def test_status_with_a_stale_socket_succeeds_and_logs_why(
    invoke: Callable[..., Invocation], down_node: Node
) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(down_node.socket)
    stale.close()
    got = invoke("STATUS", down_node.config("1.1.0", prev=False))
    assert (got.code, got.stdout) == (0, "")
    assert "reachable=no reason='connection refused" in got.log


def test_status_with_invalid_options_fails_as_every_add_would(
    invoke: Callable[..., Invocation], node: Node
) -> None:
    config = {**node.config("1.1.0", prev=False), "daemonWaitSeconds": -1}
    got = invoke("STATUS", config)
    assert got.code == 1
    assert "daemonWaitSeconds" in got.result["msg"]


def test_status_needs_1_1_0(invoke: Callable[..., Invocation], node: Node) -> None:
    assert invoke("STATUS", node.config("1.0.0", prev=False)).result["code"] == 1


def test_gc_succeeds_without_the_daemon(invoke: Callable[..., Invocation], down_node: Node) -> None:
    config = {**down_node.config("1.1.0", prev=False), "cni.dev/valid-attachments": []}
    got = invoke("GC", config, CNI_PATH="/opt/cni/bin")
    assert (got.code, got.stdout) == (0, "")


# ---- what each path imports -----------------------------------------------------------------


def _modules_loaded(environ: dict[str, str], stdin: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    script = textwrap.dedent(
        """
        import atexit, sys
        atexit.register(lambda: sys.stderr.write("\\n" + " ".join(sorted(sys.modules))))
        from kubedtn.main import main
        main()
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(stdin).encode(),
        capture_output=True,
        env={"PATH": "/usr/bin:/bin", **environ},
        check=False,
        timeout=60,
    )
    loaded = set(proc.stderr.decode().split("\n")[-1].split())
    return json.loads(proc.stdout), loaded


def test_passthrough_add_loads_no_grpc(node: Node, tmp_path: Path) -> None:
    env = {**ENV, "CNI_COMMAND": "ADD", "CNI_ARGS": OTHER_POD, "KUBEDTN_CNI_LOG": str(tmp_path / "log")}
    result, loaded = _modules_loaded(env, node.config())
    assert result == PREV_RESULTS["1.0.0"]
    assert "kubedtn.cni.fastpath" in loaded
    heavy = {"grpc", "google.protobuf", "kubedtn.cni.client", "kubedtn.cni.spec", "logging", "dataclasses"}
    heavy |= {"json", "re", "enum", "typing"}  # see kubedtn.cni.fastjson
    assert not heavy & loaded, sorted(heavy & loaded)


def test_topology_add_loads_no_grpc_nor_the_request_objects(node: Node, tmp_path: Path) -> None:
    env = {**ENV, "CNI_COMMAND": "ADD", "CNI_ARGS": TOPOLOGY_POD, "KUBEDTN_CNI_LOG": str(tmp_path / "log")}
    result, loaded = _modules_loaded(env, node.config())
    assert result == PREV_RESULTS["1.0.0"]
    assert node.calls == ["SetupPod"]
    assert "kubedtn.cni.plainrpc" in loaded
    heavy = {"grpc", "google.protobuf", "kubedtn.proto", "kubedtn.daemon", "kubedtn.store", "pyroute2"}
    heavy |= {"kubernetes", "kubedtn.cni.spec", "logging", "dataclasses", "typing", "socket"}
    assert not heavy & loaded, sorted(heavy & loaded)
    assert "cmd=ADD container=c0ffee" in (tmp_path / "log").read_text()


def test_topology_add_asks_an_older_daemon_over_grpc(tmp_path: Path) -> None:
    with socket_dir() as directory, fake_daemon(directory, plain=False) as daemon:
        pod_list = directory / "topology-pods.json"
        pod_list.write_text(json.dumps({"pods": ["lab/r1"]}))
        node = Node(socket=daemon.socket, pod_list=pod_list, daemon=daemon)
        log = str(tmp_path / "log")
        env = {**ENV, "CNI_COMMAND": "ADD", "CNI_ARGS": TOPOLOGY_POD, "KUBEDTN_CNI_LOG": log}
        result, loaded = _modules_loaded(env, node.config())
    assert result == PREV_RESULTS["1.0.0"]
    assert node.calls == ["SetupPod"]
    assert "grpc" in loaded
    heavy = {"google.protobuf", "kubedtn.proto", "kubedtn.daemon", "kubedtn.store", "pyroute2", "kubernetes"}
    assert not heavy & loaded, sorted(heavy & loaded)
