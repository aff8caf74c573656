"""Discovery: what clients read to find resources, and CRDs adding theirs."""

from __future__ import annotations

from typing import Any

from tests.support.kubeapi.client import call
from tests.support.kubeapi.server import KubeApiServer
from tests.unit.kubeapi.helpers import TOPOS, YOUNG_CRD, topology, with_topologies


def _resources(api: KubeApiServer, path: str) -> dict[str, dict[str, Any]]:
    reply = call(api.url, "GET", path)
    assert reply.code == 200 and reply.body["kind"] == "APIResourceList"
    return {r["name"]: r for r in reply.body["resources"]}


def test_core_and_group_discovery(kubeapi: KubeApiServer) -> None:
    # "Resources" / "Types (Kinds)": every returned object has kind and apiVersion; API groups list
    # their versions, and each group-version lists its resources with kind, scope and verbs.
    assert call(kubeapi.url, "GET", "/version").body["major"] == "1"
    assert call(kubeapi.url, "GET", "/api").body["versions"] == ["v1"]
    groups = {g["name"]: g for g in call(kubeapi.url, "GET", "/apis").body["groups"]}
    assert {"coordination.k8s.io", "apiextensions.k8s.io"} <= groups.keys()
    assert groups["coordination.k8s.io"]["preferredVersion"]["groupVersion"] == "coordination.k8s.io/v1"
    core = _resources(kubeapi, "/api/v1")
    assert core["pods"]["namespaced"] and not core["nodes"]["namespaced"]
    assert core["pods"]["kind"] == "Pod" and "watch" in core["pods"]["verbs"]
    assert "pods/status" in core and "po" in core["pods"]["shortNames"]
    assert _resources(kubeapi, "/apis/coordination.k8s.io/v1")["leases"]["kind"] == "Lease"


def test_creating_the_crd_serves_its_resource(kubeapi: KubeApiServer) -> None:
    # "Resources": the CRD's group appears in /apis with its resource, short name and status subresource.
    assert call(kubeapi.url, "GET", "/apis/kubedtn.io/v1").code == 404
    assert call(kubeapi.url, "GET", TOPOS).code == 404
    with_topologies(kubeapi)
    topos = _resources(kubeapi, "/apis/kubedtn.io/v1")
    assert topos["topologies"]["kind"] == "Topology" and topos["topologies"]["namespaced"]
    assert topos["topologies"]["shortNames"] == ["topo"]
    assert "topologies/status" in topos
    crd = call(
        kubeapi.url, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/topologies.kubedtn.io"
    )
    conditions = {c["type"]: c["status"] for c in crd.body["status"]["conditions"]}
    assert conditions["Established"] == "True"


def test_kube_dtn_crd_serves_its_group_beside_kubedtn(kubeapi: KubeApiServer) -> None:
    with_topologies(kubeapi)
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    assert call(kubeapi.url, "POST", crds, YOUNG_CRD).code == 201
    young = "/apis/y-young.github.io/v1/namespaces/default/topologies"
    obj = topology("r1") | {"apiVersion": "y-young.github.io/v1"}
    assert call(kubeapi.url, "POST", young, obj).code == 201
    assert call(kubeapi.url, "GET", f"{TOPOS}/r1").code == 404  # a different resource
    # Deleting the CRD withdraws the resource and its objects.
    assert call(kubeapi.url, "DELETE", f"{crds}/topologies.y-young.github.io").code == 200
    assert call(kubeapi.url, "GET", young).code == 404
    assert "y-young.github.io" not in {g["name"] for g in call(kubeapi.url, "GET", "/apis").body["groups"]}


def test_a_crd_whose_name_does_not_match_is_invalid(kubeapi: KubeApiServer) -> None:
    # "Response Status Kind": Invalid (422) with the field in the causes.
    crd = YOUNG_CRD | {"metadata": {"name": "wrong.example.com"}}
    reply = call(kubeapi.url, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    assert reply.code == 422
    assert reply.body["details"]["causes"][0]["field"] == "metadata.name"
