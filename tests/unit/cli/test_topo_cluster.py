"""`kubedtn topo apply|get|delete|diff` through click, against the Kubernetes API double."""

from __future__ import annotations

import copy
import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from kubedtn.cli.root import cli
from tests.support.kubeapi.client import call
from tests.support.kubeapi.fixture import TOPOLOGY_CRD, Kubectl, kubeapi, kubectl
from tests.support.kubeapi.server import KubeApiServer

__all__ = ["kubeapi", "kubectl"]

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "examples" / "kube-dtn"
TOPOS = "/apis/kubedtn.io/v1/namespaces/default/topologies"
MERGE = "application/merge-patch+json"
CREATED = [f"topology.kubedtn.io/r{i} created" for i in (1, 2, 3)]


def topo(kubeconfig: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, ["topo", *args, "--kubeconfig", str(kubeconfig)], input=stdin, catch_exceptions=False
    )
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def api(kubeapi: KubeApiServer) -> KubeApiServer:
    kubeapi.register_crd(TOPOLOGY_CRD)
    return kubeapi


@pytest.fixture
def config(api: KubeApiServer, tmp_path: Path) -> Path:
    return tmp_path / "kubeconfig"


def _stored(api: KubeApiServer, path: str = TOPOS) -> dict[str, Any]:
    return {o["metadata"]["name"]: o for o in call(api.url, "GET", path).body["items"]}


def _edited(tmp_path: Path, old: str, new: str, source: Path = SAMPLES / "latency.yaml") -> Path:
    text = source.read_text()
    assert old in text
    out = tmp_path / source.name
    out.write_text(text.replace(old, new, 1))
    return out


def test_apply_kube_dtn_samples_unchanged_then_again_then_edited(api: KubeApiServer, config: Path) -> None:
    code, out, err = topo(config, "apply", "-f", str(SAMPLES / "3node.yml"))
    assert (code, out.splitlines()) == (0, CREATED)
    assert err == "3 other objects (Pod) left out: kubedtn topo writes Topologies only\n"
    r1 = _stored(api)["r1"]
    assert r1["apiVersion"] == "kubedtn.io/v1"  # converted from y-young.github.io/v1
    assert r1["spec"]["links"][0] == {
        "uid": 1,
        "peer_pod": "r2",
        "local_intf": "eth1",
        "peer_intf": "eth1",
        "local_ip": "12.12.12.1/24",
        "peer_ip": "12.12.12.2/24",
    }
    code, out, _ = topo(config, "apply", "-f", str(SAMPLES / "3node.yml"))
    assert (code, out.splitlines()) == (0, [f"topology.kubedtn.io/r{i} unchanged" for i in (1, 2, 3)])

    # A daemon's status and finalizer survive an update of the spec.
    status = {"status": {"src_ip": "192.0.2.1", "net_ns": "/run/netns/r1"}}
    assert call(api.url, "PATCH", f"{TOPOS}/r1/status", status, MERGE).code == 200
    finalizer = {"metadata": {"finalizers": ["kubedtn.io/links"]}}
    assert call(api.url, "PATCH", f"{TOPOS}/r1", finalizer, MERGE).code == 200
    code, out, _ = topo(config, "apply", "-f", str(SAMPLES / "latency.yaml"))
    assert code == 0
    r1 = _stored(api)["r1"]
    assert "topology.kubedtn.io/r1 configured" in out.splitlines()
    assert r1["spec"]["links"][0]["properties"] == {"latency": "10ms"}
    assert r1["status"] == status["status"]
    assert r1["metadata"]["finalizers"] == ["kubedtn.io/links"]
    assert r1["metadata"]["generation"] == 2


def test_apply_checks_every_object_first_and_writes_nothing_on_a_problem(
    api: KubeApiServer, config: Path, tmp_path: Path
) -> None:
    bad = _edited(tmp_path, "local_ip: 13.13.13.1/24", "local_ip: 13.13.13.300/24", SAMPLES / "3node.yml")
    code, out, _ = topo(config, "apply", "-f", str(SAMPLES / "latency.yaml"), "-f", str(bad))
    assert code == 1
    assert f"{bad}: default/r1: spec.links[1].local_ip: " in out
    assert "13.13.13.300/24" in out
    assert not [r for r in api.requests if r[0] in ("POST", "PUT", "PATCH") and "topologies" in r[1]]
    assert _stored(api) == {}


def test_server_side_errors_are_shown_per_field(api: KubeApiServer, config: Path, tmp_path: Path) -> None:
    # A cluster whose CRD is stricter than this kubedtn's model: MTU at most 1500.
    crd = yaml.safe_load(TOPOLOGY_CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["links"]["items"]["properties"]["mtu"]["maximum"] = 1500
    strict = tmp_path / "crd.yaml"
    strict.write_text(yaml.safe_dump(crd))
    call(api.url, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/topologies.kubedtn.io")
    api.register_crd(strict)
    jumbo = _edited(tmp_path, "local_ip: 12.12.12.1/24", "local_ip: 12.12.12.1/24\n      mtu: 9000")
    jumbo.write_text(
        jumbo.read_text().replace("local_ip: 12.12.12.2/24", "local_ip: 12.12.12.2/24\n      mtu: 9000")
    )
    code, out, err = topo(config, "apply", "-f", str(jumbo))
    assert code == 1
    assert out.splitlines() == ["topology.kubedtn.io/r3 created"]
    assert err.splitlines()[-2:] == [
        f"create topology default/r{i}: spec.links[0].mtu: Invalid value: 9000: "
        "spec.links[0].mtu in body should be less than or equal to 1500"
        for i in (1, 2)
    ]
    assert sorted(_stored(api)) == ["r3"]


def test_diff_shows_what_would_change_per_link_and_exits_like_kubectl(
    api: KubeApiServer, config: Path, tmp_path: Path
) -> None:
    code, out, _ = topo(config, "diff", "-f", str(SAMPLES / "latency.yaml"))
    assert code == 1
    assert out.splitlines()[:3] == [
        "r1: created with 2 links",
        "r1 link 1 (eth1→r2/eth1): added (local_ip 12.12.12.1/24, peer_ip 12.12.12.2/24, latency 10ms)",
        "r1 link 2 (eth2→r3/eth1): added (local_ip 13.13.13.1/24, peer_ip 13.13.13.3/24)",
    ]
    assert _stored(api) == {}  # diff writes nothing
    topo(config, "apply", "-f", str(SAMPLES / "latency.yaml"))
    assert topo(config, "diff", "-f", str(SAMPLES / "latency.yaml")) == (0, "", "")

    slower = _edited(tmp_path, "latency: 10ms", "latency: 20ms")
    code, out, _ = topo(config, "diff", "-f", str(slower))
    assert (code, out) == (1, "r1 link 1 (eth1→r2/eth1): latency 10ms → 20ms\n")

    rewired = _edited(tmp_path, "local_ip: 12.12.12.1/24", "local_ip: 12.12.12.5/24")
    text = rewired.read_text().replace("peer_ip: 12.12.12.1/24", "peer_ip: 12.12.12.5/24")
    rewired.write_text(text.replace("- uid: 2", "- uid: 9"))  # both ends of each link
    code, out, _ = topo(config, "diff", "-f", str(rewired))
    assert code == 1
    assert out.splitlines() == [
        "r1 link 1 (eth1→r2/eth1): local_ip 12.12.12.1/24 → 12.12.12.5/24",
        "r1 link 2 (eth2→r3/eth1): removed",
        "r1 link 9 (eth2→r3/eth1): added (local_ip 13.13.13.1/24, peer_ip 13.13.13.3/24)",
        "r2 link 1 (eth1→r1/eth1): peer_ip 12.12.12.1/24 → 12.12.12.5/24",
        "r3 link 2 (eth1→r1/eth2): removed",
        "r3 link 9 (eth1→r1/eth2): added (local_ip 13.13.13.3/24, peer_ip 13.13.13.1/24)",
    ]
    assert topo(config, "diff", "-f", str(tmp_path / "missing.yaml"))[0] == 2


def test_get_shows_the_crds_columns_and_whole_objects(api: KubeApiServer, config: Path) -> None:
    assert topo(config, "get") == (0, "", "No resources found in default namespace.\n")
    topo(config, "apply", "-f", str(SAMPLES / "3node.yml"))
    ready = {
        "status": {
            "src_ip": "192.0.2.1",
            "net_ns": "/run/netns/r1",
            "conditions": [{"type": "Ready", "status": "True"}],
        }
    }
    call(api.url, "PATCH", f"{TOPOS}/r1/status", ready, MERGE)
    code, out, _ = topo(config, "get")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "READY", "NODE", "IP", "AGE"]
    assert lines[1].split()[:3] == ["r1", "True", "192.0.2.1"]
    assert lines[2].split()[:3] == ["r2", "<none>", "<none>"]
    assert lines[0].index("READY") == lines[1].index("True")  # columns line up
    code, out, _ = topo(config, "get", "r1", "-o", "wide")
    assert out.splitlines()[0].split() == ["NAME", "READY", "NODE", "IP", "NETNS", "AGE"]
    assert "/run/netns/r1" in out.splitlines()[1]

    assert topo(config, "get", "-o", "name") == (
        0,
        "".join(f"topology.kubedtn.io/r{i}\n" for i in (1, 2, 3)),
        "",
    )
    one = json.loads(topo(config, "get", "r2", "-o", "json")[1])
    assert (one["kind"], one["metadata"]["name"]) == ("Topology", "r2")
    listed = yaml.safe_load(topo(config, "get", "-f", str(SAMPLES / "3node.yml"), "-o", "yaml")[1])
    assert listed["kind"] == "List" and [o["metadata"]["name"] for o in listed["items"]] == ["r1", "r2", "r3"]

    code, out, err = topo(config, "get", "r1", "r9")
    assert code == 1 and out.splitlines()[1].startswith("r1 ")
    assert err == 'Error from server (NotFound): topologies.kubedtn.io "r9" not found\n'


def test_namespaces_come_from_the_context_or_the_option(api: KubeApiServer, tmp_path: Path) -> None:
    api.create("", "v1", "namespaces", {"metadata": {"name": "lab"}})
    config = api.write_kubeconfig(tmp_path / "lab-config", namespace="lab")
    assert topo(config, "apply", "-f", str(SAMPLES / "3node.yml"))[0] == 0
    assert sorted(_stored(api, "/apis/kubedtn.io/v1/namespaces/lab/topologies")) == ["r1", "r2", "r3"]
    assert topo(config, "apply", "-n", "default", "-f", str(SAMPLES / "3node.yml"))[0] == 0
    code, out, _ = topo(config, "get", "-A")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [line.split()[:2] for line in lines[1:]] == [
        [ns, f"r{i}"] for ns in ("default", "lab") for i in (1, 2, 3)
    ]


def test_delete_by_name_and_by_file(api: KubeApiServer, config: Path) -> None:
    topo(config, "apply", "-f", str(SAMPLES / "3node.yml"))
    assert topo(config, "delete", "r1") == (0, 'topology.kubedtn.io "r1" deleted\n', "")
    code, out, _ = topo(config, "delete", "-f", str(SAMPLES / "3node.yml"))
    assert code == 1
    assert out.splitlines() == ['topology.kubedtn.io "r2" deleted', 'topology.kubedtn.io "r3" deleted']
    assert _stored(api) == {}


def test_delete_wait_returns_once_the_finalizer_lets_the_object_go(api: KubeApiServer, config: Path) -> None:
    topo(config, "apply", "-f", str(SAMPLES / "3node.yml"))
    finalizer = {"metadata": {"finalizers": ["kubedtn.io/links"]}}
    call(api.url, "PATCH", f"{TOPOS}/r1", finalizer, MERGE)
    result: list[tuple[int, str, str]] = []
    waiting = threading.Thread(target=lambda: result.append(topo(config, "delete", "r1", "r2", "--wait")))
    waiting.start()
    try:
        assert api.faults.wait_for_watches(1)  # deleted, listed, watching: r1 is held
        assert call(api.url, "GET", f"{TOPOS}/r1").body["metadata"]["deletionTimestamp"]
        assert not result
        call(api.url, "PATCH", f"{TOPOS}/r1", {"metadata": {"finalizers": None}}, MERGE)  # a daemon's part
    finally:
        waiting.join(timeout=60)
    assert result == [(0, 'topology.kubedtn.io "r1" deleted\ntopology.kubedtn.io "r2" deleted\n', "")]
    assert sorted(_stored(api)) == ["r3"]


def test_delete_wait_gives_up_after_its_timeout(api: KubeApiServer, config: Path) -> None:
    topo(config, "apply", "-f", str(SAMPLES / "3node.yml"))
    call(api.url, "PATCH", f"{TOPOS}/r1", {"metadata": {"finalizers": ["kubedtn.io/links"]}}, MERGE)
    code, _, err = topo(config, "delete", "r1", "--wait", "--timeout", "1")
    assert code == 1
    assert err.startswith("kubedtn: default/r1 is still there after 1s: its finalizers")


def test_kube_dtn_api_group(kubeapi: KubeApiServer, tmp_path: Path) -> None:
    from tests.unit.kubeapi.helpers import YOUNG_CRD

    kubeapi.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", copy.deepcopy(YOUNG_CRD))
    config = tmp_path / "kubeconfig"
    group = ("--api-group", "y-young.github.io")
    code, out, _ = topo(config, "apply", *group, "-f", str(SAMPLES / "latency.yaml"))
    assert code == 0
    assert out.splitlines() == [f"topology.y-young.github.io/r{i} created" for i in (1, 2, 3)]
    stored = _stored(kubeapi, "/apis/y-young.github.io/v1/namespaces/default/topologies")
    assert stored["r1"]["apiVersion"] == "y-young.github.io/v1"
    assert stored["r1"]["spec"]["links"][0]["properties"] == {"latency": "10ms"}
    assert topo(config, "diff", *group, "-f", str(SAMPLES / "latency.yaml")) == (0, "", "")
    assert topo(config, "get", *group, "-o", "name")[1].splitlines()[0] == "topology.y-young.github.io/r1"


def test_an_unreachable_server_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "far", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "far", "user": {}}],
                "contexts": [{"name": "far", "context": {"cluster": "far", "user": "far"}}],
                "current-context": "far",
            }
        )
    )
    for args in (("apply", "-f", str(SAMPLES / "3node.yml")), ("get",), ("delete", "r1")):
        code, out, err = topo(config, *args)
        assert (code, out) == (1, "")
        assert err.splitlines()[0] == (
            f"kubedtn: the Kubernetes API server http://127.0.0.1:{port} (kubeconfig context far) "
            "cannot be reached: connection refused"
        )
    assert topo(config, "diff", "-f", str(SAMPLES / "3node.yml"))[0] == 2


def test_kubectl_sees_what_kubedtn_applied(api: KubeApiServer, config: Path, kubectl: Kubectl) -> None:
    topo(config, "apply", "-f", str(SAMPLES / "latency.yaml"))
    listed = json.loads(kubectl.run("get", "topologies", "-o", "json").stdout)
    assert [o["metadata"]["name"] for o in listed["items"]] == ["r1", "r2", "r3"]
    assert listed["items"][0]["spec"] == _stored(api)["r1"]["spec"]
    assert kubectl.run("get", "topologies", "-o", "name").stdout == topo(config, "get", "-o", "name")[1]


def test_apply_retries_an_update_that_lost_a_race(api: KubeApiServer, config: Path) -> None:
    topo(config, "apply", "-f", str(SAMPLES / "3node.yml"))
    api.faults.conflict_next_writes(2, resource="topologies")  # two 409s, as if a daemon wrote first
    code, out, _ = topo(config, "apply", "-f", str(SAMPLES / "latency.yaml"))
    assert code == 0 and "topology.kubedtn.io/r1 configured" in out
    assert _stored(api)["r1"]["spec"]["links"][0]["properties"] == {"latency": "10ms"}
    # Each 409 costs its object one more PUT (the objects are applied several at a time, so
    # which object met them is not fixed).
    configured = out.count(" configured")
    puts = [p for m, p in api.requests if m == "PUT" and "/topologies/" in p.split("?")[0]]
    assert len(puts) == configured + 2


def test_apply_reads_standard_input(api: KubeApiServer, config: Path) -> None:
    code, out, _ = topo(config, "apply", "-f", "-", stdin=(SAMPLES / "latency.yaml").read_text())
    assert (code, out.splitlines()) == (0, CREATED)
    assert topo(config, "diff", "-f", "-", stdin=(SAMPLES / "latency.yaml").read_text()) == (0, "", "")
