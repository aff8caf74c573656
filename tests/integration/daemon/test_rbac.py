"""The daemon's RBAC (manifests/cni) is what it calls: a real ``kubedtn daemon --backend
kubernetes`` against the API server double sets up two pods, then follows one's Topology
being deleted (its links out, the finalizer off). Every request it made must be allowed by
the rules bound to its ServiceAccount, and every verb they grant must have been used.
(The controller's: tests/unit/manifests/test_rbac.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubedtn.model.objects import LINKS_FINALIZER
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.store import NotFoundError
from kubedtn.store.kube import KubeStore, api_client
from kubedtn.store.resource import TOPOLOGY
from tests.support.daemon import DEFAULT_HOST_IP, running_daemon
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD, kubeapi
from tests.support.netns import NamespacePool, links_by_name, path, pool, wait_until
from tests.unit.manifests.rbac import granted, grants, refused, used
from tests.unit.manifests.render import render

pytestmark = pytest.mark.root
__all__ = ["kubeapi", "pool"]  # fixtures
TEST_AGENT = "kubedtn-rbac-test"  # the test's own requests, not the daemon's


def _topology(name: str, peer: str) -> dict[str, Any]:
    link = {"uid": 7, "peer_pod": peer, "local_intf": "eth1", "peer_intf": "eth1"}
    meta = {"name": name, "namespace": "default", "finalizers": [LINKS_FINALIZER]}
    return {"metadata": meta, "spec": {"links": [link]}}


def test_the_daemon_calls_exactly_what_its_rbac_grants(
    kubeapi: KubeApiServer, tmp_path: Path, pool: NamespacePool
) -> None:
    kubeapi.register_crd(TOPOLOGY_CRD)
    kubeconfig = kubeapi.write_kubeconfig(tmp_path / "kubeconfig")
    client = api_client(kubeconfig=str(kubeconfig))
    client.user_agent = TEST_AGENT
    topologies = KubeStore(client, resource=TOPOLOGY)
    topologies.create(_topology("r1", "r2"))
    topologies.create(_topology("r2", "r1"))
    n1, n2 = pool.make(2)

    args = ["--backend", "kubernetes", "--kubeconfig", str(kubeconfig)]
    try:
        with running_daemon(extra_args=args) as daemon:
            local = daemon.local()
            for name, netns in (("r1", n1), ("r2", n2)):  # status written: the pod alive here
                assert local.SetupPod(
                    pb.SetupPodQuery(name=name, kube_ns="default", net_ns=path(netns)), timeout=30
                )
            assert "eth1" in links_by_name(n1)
            assert topologies.get("default", "r1")["status"]["src_ip"] == DEFAULT_HOST_IP
            topologies.delete("default", "r1")  # held by the finalizer until the daemon lets go

            def released() -> bool:
                try:
                    topologies.get("default", "r1")
                except NotFoundError:
                    return True
                return False

            wait_until(released)
            assert "eth1" not in links_by_name(n2)
    finally:
        client.close()

    rules = grants(render("cni"), "kubedtn-daemon", "kubedtn")
    requests = kubeapi.requests_not_from(TEST_AGENT)
    assert requests and not refused(requests, rules), "\n".join(refused(requests, rules))
    unused = granted(rules) - used(requests)
    assert not unused, f"granted but never used: {sorted(unused)}"
