"""Objects and URLs the double's tests share."""

from __future__ import annotations

from typing import Any

from tests.support.kubeapi.fixture import TOPOLOGY_CRD
from tests.support.kubeapi.server import KubeApiServer

TOPOS = "/apis/kubedtn.io/v1/namespaces/default/topologies"
PODS = "/api/v1/namespaces/default/pods"

# kube-dtn's CRD (its own group), for its sample files in examples/kube-dtn.
YOUNG_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "topologies.y-young.github.io"},
    "spec": {
        "group": "y-young.github.io",
        "names": {
            "kind": "Topology",
            "listKind": "TopologyList",
            "plural": "topologies",
            "singular": "topology",
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}


def with_topologies(server: KubeApiServer) -> KubeApiServer:
    server.register_crd(TOPOLOGY_CRD)
    return server


def topology(name: str, peer: str = "r2", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = labels
    link = {"uid": 1, "peer_pod": peer, "local_intf": "eth1", "peer_intf": "eth1"}
    return {"apiVersion": "kubedtn.io/v1", "kind": "Topology", "metadata": meta, "spec": {"links": [link]}}


def pod(name: str, node: str = "", labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
