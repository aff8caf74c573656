"""The fast path answers only what the full path would answer, and the same way."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubedtn.cni import client, fastpath, plugin

MISSING = object()
PREV = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/x"}], "ips": []}


def pick(valid: Any, *others: Any) -> st.SearchStrategy[Any]:
    """Mostly the first (valid) value, so that many examples are valid calls and the
    others each change one or two things."""
    return st.sampled_from([valid] * (16 * len(others)) + list(others))


def build(choice: dict[str, Any], tmp: Path) -> tuple[dict[str, str], bytes]:
    lists = {
        "listed": tmp / "listed.json",
        "other": tmp / "other.json",
        "broken": tmp / "broken.json",
        "missing": tmp / "missing.json",
        "dir": tmp,
    }
    lists["listed"].write_text(json.dumps({"pods": ["lab/r1"]}))
    lists["other"].write_text(json.dumps({"pods": ["lab/r9"]}))
    lists["broken"].write_text('{"pods": 1}')
    config: dict[str, Any] = {
        "cniVersion": choice["version"],
        "name": choice["name"],
        "type": "kubedtn",
        "prevResult": choice["prev"],
        "args": choice["args"],
        "podList": str(lists[choice["pod_list"]]) if choice["pod_list"] in lists else choice["pod_list"],
        "daemonSocket": choice["socket"],
        "daemonWaitSeconds": choice["wait"],
    }
    config = {k: v for k, v in config.items() if v is not MISSING}
    environ = {
        "CNI_COMMAND": choice["command"],
        "CNI_CONTAINERID": choice["container"],
        "CNI_NETNS": choice["netns"],
        "CNI_IFNAME": choice["ifname"],
        "CNI_PATH": choice["path"],
        "CNI_ARGS": choice["cni_args"],
        "KUBEDTN_CNI_LOG": str(tmp / "cni.log"),
    }
    return {k: v for k, v in environ.items() if v is not MISSING}, json.dumps(config).encode()


choices = st.fixed_dictionaries(
    {
        "command": pick("ADD", "DEL", "CHECK"),
        "version": pick("1.0.0", "0.3.1", "0.4.0", "1.1.0", "0.2.0", 1, MISSING),
        "name": pick("net", "", MISSING),
        "prev": pick(PREV, MISSING, None, "x", {"interfaces": "eth0"}, {"ips": [{"address": 1}]}),
        "args": pick(MISSING, {}, {"labels": []}, "x"),
        "pod_list": pick("other", "listed", "missing", "broken", "dir", "relative.json", 7, MISSING),
        "socket": pick(MISSING, "/run/x.sock", "x.sock"),
        "wait": pick(MISSING, 0, 2.5, -1, "5", True),
        "container": pick("c0ffee", "-bad", "", MISSING),
        "netns": pick("/var/run/netns/x", "", MISSING),
        "ifname": pick("eth0", "a-very-long-ifname", "e/0", MISSING),
        "path": pick("/opt/cni/bin", MISSING),
        "cni_args": pick(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=r1",
            "K8S_POD_NAMESPACE=lab;K8S_POD_NAME=r1;FOO=1",
            "K8S_POD_NAME=r1",
            "IgnoreUnknown=yes",
            "broken",
            "IgnoreUnknown=1",
            "",
            MISSING,
        ),
    }
)


def full_path(environ: dict[str, str], data: bytes) -> tuple[int, str]:
    out = io.StringIO()
    code = plugin._command(environ, data, out)
    return code, out.getvalue()


class SetupPodCalls:
    """Stands in for kubedtn.cni.client.setup_pod (both paths call it): records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, str, str, str, str]] = []

    def __call__(
        self, socket_path: str, *, wait_s: float, name: str, kube_ns: str, net_ns: str, container_id: str
    ) -> None:
        self.calls.append((socket_path, wait_s, name, kube_ns, net_ns, container_id))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choice=choices)
def test_a_fast_answer_is_what_the_full_path_prints(
    choice: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ, data = build(choice, tmp_path)
    fast = fastpath.answer(environ, data)
    if fast is None:
        return
    if not isinstance(fast, fastpath.TopologyAdd):
        # The full path never reaches the daemon here: the fast path answered, so no topology pod.
        assert full_path(environ, data) == (0, fast)
        return
    # A topology pod's ADD: the full path makes the same SetupPod and prints the same result.
    recorded = SetupPodCalls()
    monkeypatch.setattr(client, "setup_pod", recorded)
    assert full_path(environ, data) == (0, fast.result)
    assert recorded.calls == [
        (fast.daemon_socket, fast.daemon_wait_s, fast.name, fast.namespace, fast.netns, fast.container_id)
    ]


@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK"])
@pytest.mark.parametrize("pod_list", ["other", "missing"])
def test_valid_calls_for_other_pods_take_the_fast_path(command: str, pod_list: str, tmp_path: Path) -> None:
    choice = {
        "command": command,
        "version": "1.0.0",
        "name": "net",
        "prev": PREV,
        "args": MISSING,
        "pod_list": pod_list,
        "socket": MISSING,
        "wait": MISSING,
        "container": "c0ffee",
        "netns": "/var/run/netns/x",
        "ifname": "eth0",
        "path": "/opt/cni/bin",
        "cni_args": "IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=r1",
    }
    environ, data = build(choice, tmp_path)
    expected = json.dumps(PREV, separators=(",", ":")) + "\n" if command == "ADD" else ""
    assert fastpath.answer(environ, data) == expected
    log = (tmp_path / "cni.log").read_text()
    assert f"cmd={command} container=c0ffee netns=/var/run/netns/x ifname=eth0 pod=lab/r1 network=net" in log
    assert "passthrough" in log and "result=ok" in log


def test_topology_pods_del_and_check_and_broken_lists_take_the_full_path(tmp_path: Path) -> None:
    base = {
        "command": "ADD",
        "version": "1.0.0",
        "name": "net",
        "prev": PREV,
        "args": MISSING,
        "socket": MISSING,
        "wait": MISSING,
        "container": "c0ffee",
        "netns": "/x",
        "ifname": "eth0",
        "path": "/opt/cni/bin",
        "cni_args": "K8S_POD_NAMESPACE=lab;K8S_POD_NAME=r1",
    }
    for pod_list in ("broken", "dir"):
        assert fastpath.answer(*build({**base, "pod_list": pod_list}, tmp_path)) is None
    for command in ("DEL", "CHECK"):
        assert fastpath.answer(*build({**base, "pod_list": "listed", "command": command}, tmp_path)) is None


def test_a_topology_pods_add_is_handed_on_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    choice = {
        "command": "ADD",
        "version": "0.4.0",
        "name": "net",
        "prev": PREV,
        "args": MISSING,
        "pod_list": "listed",
        "socket": "/run/x.sock",
        "wait": 2.5,
        "container": "c0ffee",
        "netns": "/var/run/netns/x",
        "ifname": "eth0",
        "path": "/opt/cni/bin",
        "cni_args": "K8S_POD_NAMESPACE=lab;K8S_POD_NAME=r1",
    }
    call = fastpath.answer(*build(choice, tmp_path))
    assert isinstance(call, fastpath.TopologyAdd)
    assert (call.name, call.namespace, call.netns) == ("r1", "lab", "/var/run/netns/x")
    assert (call.daemon_socket, call.daemon_wait_s, call.cni_version) == ("/run/x.sock", 2.5, "0.4.0")
    assert json.loads(call.result) == {**PREV, "cniVersion": "0.4.0"}
    assert call.log_path == str(tmp_path / "cni.log")
    assert call.fields == "cmd=ADD container=c0ffee netns=/var/run/netns/x ifname=eth0 pod=lab/r1 network=net"
    recorded = SetupPodCalls()
    monkeypatch.setattr(client, "setup_pod", recorded)
    assert full_path(*build(choice, tmp_path)) == (0, call.result)
    assert recorded.calls == [("/run/x.sock", 2.5, "r1", "lab", "/var/run/netns/x", "c0ffee")]
