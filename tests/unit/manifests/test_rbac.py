"""The controller's RBAC (manifests/controller) is what it calls: the real controller runs
against the API server double, and every request it makes must be allowed by the rules
bound to its ServiceAccount, and every verb those rules grant must have been used (or be
listed below with the call site that uses it where this run does not reach).

The daemon's rules are checked the same way with a real daemon process, in
tests/integration/daemon/test_rbac.py (it needs network namespaces)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubedtn.controller.run import Controller, ControllerConfig
from kubedtn.model.objects import LINKS_FINALIZER
from kubedtn.store.kube import KubeStore, api_client
from kubedtn.store.resource import EVENT, NODE, TOPOLOGY
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD, kubeapi
from tests.support.netns import wait_until
from tests.unit.manifests.rbac import granted, grants, refused, used
from tests.unit.manifests.render import render

__all__ = ["kubeapi"]  # a fixture

TEST_AGENT = "kubedtn-rbac-test"  # the test's own requests, not the controller's

# Granted, used by the code, but not reached by this run: (group, resource, verb) → where.
CONTROLLER_UNREACHED = {
    ("", "events", "get"): "controller.events: re-read an Event whose count another bumped (409)",
    ("", "events", "update"): "controller.events: a repeat of an Event bumps its count",
}


def _topology(name: str, peer: str, peer_intf: str) -> dict[str, Any]:
    link = {"uid": 1, "peer_pod": peer, "local_intf": "eth1", "peer_intf": peer_intf}
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"links": [link]}}


def test_the_controller_calls_exactly_what_its_rbac_grants(kubeapi: KubeApiServer, tmp_path: Path) -> None:
    kubeapi.register_crd(TOPOLOGY_CRD)
    kubeapi.create("", "v1", "namespaces", {"metadata": {"name": "kubedtn-system"}})
    kubeconfig = tmp_path / "kubeconfig"
    client = api_client(kubeconfig=str(kubeconfig))
    client.user_agent = TEST_AGENT
    topologies, events = KubeStore(client, resource=TOPOLOGY), KubeStore(client, resource=EVENT)
    node = {"metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    KubeStore(client, resource=NODE).create(node)
    topologies.create(_topology("r1", "r2", "eth1"))
    topologies.create(_topology("r2", "r1", "eth7"))  # r1 calls its end eth1: a mismatch

    config = ControllerConfig(
        kubeconfig=str(kubeconfig),
        identity="rbac",
        metrics_addr="off",
        health_addr="off",
        lease_duration=2,
        renew_deadline=1.0,
        retry_period=0.2,
    )
    controller = Controller(config)
    controller.start()
    try:
        # The finalizer on (update), conditions (status), an Event (create) and the Lease renewed.
        wait_until(
            lambda: LINKS_FINALIZER in topologies.get("default", "r1")["metadata"].get("finalizers", [])
        )
        wait_until(lambda: "PeerMismatch" in {e["reason"] for e in events.list("default")[0]})
        renewals = ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kubedtn-system/leases/kubedtn-controller")
        wait_until(lambda: renewals in kubeapi.requests_not_from(TEST_AGENT))
    finally:
        controller.stop()  # releases the Lease
        client.close()

    objects = render("controller")
    rules = grants(objects, "kubedtn-controller", "kubedtn-system")
    requests = kubeapi.requests_not_from(TEST_AGENT)
    assert requests and not refused(requests, rules), "\n".join(refused(requests, rules))
    assert granted(rules) == used(requests) | set(CONTROLLER_UNREACHED), "granted but never used: " + str(
        granted(rules) - used(requests) - set(CONTROLLER_UNREACHED)
    )
