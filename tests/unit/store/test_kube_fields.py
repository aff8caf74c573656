"""The Kubernetes backend's per-field errors, the kubeconfig context's namespace, and the
Topology resource of each API group."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedtn.errors import ValidationError
from kubedtn.store.kube import KubeStore, api_client, context_namespace
from kubedtn.store.resource import KUBE_DTN_TOPOLOGY, TOPOLOGY, topology_resource
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD, kubeapi

__all__ = ["kubeapi"]  # a fixture


def test_a_422_is_one_line_per_cause(kubeapi: KubeApiServer, tmp_path: Path) -> None:
    kubeapi.register_crd(TOPOLOGY_CRD)
    store = KubeStore(api_client(kubeconfig=str(tmp_path / "kubeconfig")))
    link = {"uid": -1, "peer_pod": "r2", "local_intf": "eth1", "peer_intf": "eth1", "mtu": 10}
    try:
        with pytest.raises(ValidationError) as caught:
            store.create({"metadata": {"name": "r1"}, "spec": {"links": [link]}})
    finally:
        store.close()
    assert caught.value.problems == [
        "create topology default/r1: spec.links[0].uid: Invalid value: -1: "
        "spec.links[0].uid in body should be greater than or equal to 0",
        "create topology default/r1: spec.links[0].mtu: Invalid value: 10: "
        "spec.links[0].mtu in body should be greater than or equal to 68",
    ]


def test_the_contexts_namespace(kubeapi: KubeApiServer, tmp_path: Path) -> None:
    config = kubeapi.write_kubeconfig(tmp_path / "kubeconfig", namespace="lab")
    assert context_namespace(kubeconfig=str(config)) == "lab"
    assert context_namespace(kubeconfig=str(config), context="kubeapi") == "lab"
    assert context_namespace(kubeconfig=str(config), context="other") is None
    assert context_namespace(kubeconfig=str(tmp_path / "missing")) is None


def test_topology_resource_of_each_group() -> None:
    assert topology_resource("kubedtn.io") is TOPOLOGY
    assert topology_resource("y-young.github.io") is KUBE_DTN_TOPOLOGY
    assert KUBE_DTN_TOPOLOGY.api_version == "y-young.github.io/v1"
    with pytest.raises(ValueError, match=r"'example.com': Topologies are served in kubedtn.io or y-young"):
        topology_resource("example.com")
