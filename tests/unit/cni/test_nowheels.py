"""The plugin on a Python the executable's wheels are not for (plugin.run(without_wheels=...)):
pods in no topology still start; everything that needs the full path is a CNI error naming
the pod and the Python needed. Run in-process here; tests/e2e/test_zipapp.py runs the built
executable under the other Pythons of the machine."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedtn.cni import plugin
from tests.unit.cni.fakedaemon import Running, fake_daemon, socket_dir

PROBLEM = "kubedtn needs Python 3.11 (it carries cp311 wheels); this is Python 3.13.0 at /usr/bin/python3."
NETNS = "/var/run/netns/cni-77"
PREV = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "eth0", "sandbox": NETNS}],
    "ips": [{"address": "10.1.0.5/16"}],
}
ENV = {"CNI_CONTAINERID": "c0ffee", "CNI_NETNS": NETNS, "CNI_IFNAME": "eth0", "CNI_PATH": "/opt/cni/bin"}
TOPOLOGY_POD = "K8S_POD_NAMESPACE=lab;K8S_POD_NAME=r1"
OTHER_POD = "K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-1"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Running, dict[str, Any]]]:
    """A daemon that answers (so an error below is not "no daemon"), and the config naming it."""
    with socket_dir() as directory, fake_daemon(directory) as running:
        pod_list = directory / "pods.json"
        pod_list.write_text(json.dumps({"pods": ["lab/r1"]}))
        config = {
            "cniVersion": "1.0.0",
            "name": "k8s-pod-network",
            "type": "kubedtn",
            "daemonSocket": running.socket,
            "podList": str(pod_list),
            "daemonWaitSeconds": 0,
        }
        yield running, config


def run(tmp_path: Path, command: str, config: dict[str, Any], **env: str) -> tuple[int, str, str]:
    """(exit code, stdout, log) of one call without wheels."""
    log = tmp_path / "cni.log"
    environ = {"CNI_COMMAND": command, "KUBEDTN_CNI_LOG": str(log), **env}
    out = io.StringIO()
    code = plugin.run(
        environ=environ, stdin=io.BytesIO(json.dumps(config).encode()), stdout=out, without_wheels=PROBLEM
    )
    return code, out.getvalue(), log.read_text() if log.exists() else ""


def test_a_pod_in_no_topology_is_passed_through(
    tmp_path: Path, daemon: tuple[Running, dict[str, Any]]
) -> None:
    running, config = daemon
    code, out, log = run(tmp_path, "ADD", {**config, "prevResult": PREV}, **ENV, CNI_ARGS=OTHER_POD)
    assert (code, json.loads(out)) == (0, PREV)
    assert run(tmp_path, "DEL", config, **ENV, CNI_ARGS=OTHER_POD)[:2] == (0, "")
    assert run(tmp_path, "CHECK", {**config, "prevResult": PREV}, **ENV, CNI_ARGS=OTHER_POD)[:2] == (0, "")
    assert running.servicer.calls == []
    assert "pod=kube-system/coredns-1" in log and "passthrough reason='not in any topology'" in log


def test_a_topology_pods_add_is_an_error_naming_the_pod_and_the_python(
    tmp_path: Path, daemon: tuple[Running, dict[str, Any]]
) -> None:
    running, config = daemon
    code, out, log = run(tmp_path, "ADD", {**config, "prevResult": PREV}, **ENV, CNI_ARGS=TOPOLOGY_POD)
    error = json.loads(out)
    assert code == 1 and error["code"] == 103 and error["cniVersion"] == "1.0.0"
    assert error["msg"].startswith("CNI_COMMAND=ADD for pod lab/r1: the pod is in a topology")
    assert error["msg"].endswith(PROBLEM)
    assert "pods in no topology start" in error["details"]
    assert running.servicer.calls == []  # no SetupPod was tried
    assert "cmd=ADD container=c0ffee result=error code=103" in log


def test_a_topology_pods_del_is_an_error_too(tmp_path: Path, daemon: tuple[Running, dict[str, Any]]) -> None:
    running, config = daemon
    code, out, _ = run(tmp_path, "DEL", config, **ENV, CNI_ARGS=TOPOLOGY_POD)
    assert code == 1 and json.loads(out)["code"] == 103
    assert "CNI_COMMAND=DEL for pod lab/r1 needs the plugin's full path" in json.loads(out)["msg"]
    assert running.servicer.calls == []


def test_status_succeeds_and_version_answers(tmp_path: Path, daemon: tuple[Running, dict[str, Any]]) -> None:
    _, config = daemon
    code, out, log = run(tmp_path, "STATUS", {**config, "cniVersion": "1.1.0"})
    assert (code, out) == (0, "")
    assert "cmd=STATUS result=ok without_wheels=" in log
    code, out, _ = run(tmp_path, "VERSION", {"cniVersion": "0.4.0"})
    assert (code, json.loads(out)["cniVersion"]) == (0, "0.4.0")


def test_status_of_an_old_cni_version_is_refused_as_on_the_full_path(
    tmp_path: Path, daemon: tuple[Running, dict[str, Any]]
) -> None:
    _, config = daemon
    code, out, _ = run(tmp_path, "STATUS", config)  # 1.0.0 has no STATUS
    assert code == 1 and json.loads(out)["code"] == 1


def test_a_call_only_the_full_path_words_names_the_python(
    tmp_path: Path, daemon: tuple[Running, dict[str, Any]]
) -> None:
    _, config = daemon
    code, out, _ = run(tmp_path, "ADD", config, **ENV, CNI_ARGS=OTHER_POD)  # not chained: no prevResult
    error = json.loads(out)
    assert code == 1 and error["code"] == 103
    assert error["msg"].startswith(
        "CNI_COMMAND=ADD for pod kube-system/coredns-1 needs the plugin's full path"
    )
    assert error["msg"].endswith(PROBLEM)
