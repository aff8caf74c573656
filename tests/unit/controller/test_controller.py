"""The controller against the API server double: finalizers, conditions naming a peer's
disagreement, Events, a lost node's pods recorded not running, deleted Topologies released,
probes and metrics, and two replicas of which one acts."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedtn.controller.run import Controller, ControllerConfig
from kubedtn.model.objects import LINKS_FINALIZER
from kubedtn.store import NotFoundError, retry_on_conflict
from kubedtn.store.kube import KubeStore, api_client
from kubedtn.store.resource import EVENT, NODE, TOPOLOGY
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD, kubeapi
from tests.support.netns import wait_until

__all__ = ["kubeapi"]  # a fixture

NODE_A, NODE_B = "10.9.0.1", "10.9.0.2"


def _node(name: str, ip: str, ready: str = "True") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def _topology(name: str, peer: str, *, peer_intf: str = "eth1") -> dict[str, Any]:
    link = {"uid": 1, "peer_pod": peer, "local_intf": "eth1", "peer_intf": peer_intf}
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"links": [link]}}


class Api:
    """The user's and the cluster's clients of the double."""

    def __init__(self, kubeapi: KubeApiServer, kubeconfig: Path) -> None:
        kubeapi.register_crd(TOPOLOGY_CRD)
        kubeapi.create("", "v1", "namespaces", {"metadata": {"name": "kubedtn-system"}})
        self.kubeconfig = kubeconfig
        self.client = api_client(kubeconfig=str(kubeconfig))
        self.topologies = KubeStore(self.client, resource=TOPOLOGY)
        self.nodes = KubeStore(self.client, resource=NODE)
        self.events = KubeStore(self.client, resource=EVENT)

    def node(self, name: str, ip: str) -> None:
        """A Node as its kubelet registers it: the object, then its status."""
        made = self.nodes.create(_node(name, ip))
        self.nodes.update_status({**made, "status": _node(name, ip)["status"]})

    def running(self, name: str, ip: str) -> None:
        """Record the pod running at ``ip``, as its node's daemon does at SetupPod (again on
        a conflict: the controller writes conditions meanwhile)."""

        def write() -> None:
            obj = self.topologies.get("default", name)
            obj["status"] = {**(obj.get("status") or {}), "src_ip": ip, "net_ns": f"/run/netns/{name}"}
            self.topologies.update_status(obj)

        retry_on_conflict(write, attempts=20)

    def condition(self, name: str, type_: str) -> dict[str, Any] | None:
        conds = (self.topologies.get("default", name).get("status") or {}).get("conditions") or []
        return next((c for c in conds if c["type"] == type_), None)

    def reasons(self, name: str) -> set[str]:
        items, _ = self.events.list("default")
        return {e["reason"] for e in items if e["involvedObject"]["name"] == name}

    def controller(self, identity: str, **kw: Any) -> Controller:
        config = ControllerConfig(
            kubeconfig=str(self.kubeconfig),
            identity=identity,
            metrics_addr="127.0.0.1:0",
            health_addr="127.0.0.1:0",
            lease_duration=2,
            renew_deadline=1.0,
            retry_period=0.2,
            **kw,
        )
        controller = Controller(config)
        controller.start()
        return controller


@pytest.fixture
def api(kubeapi: KubeApiServer, tmp_path: Path) -> Iterator[Api]:
    a = Api(kubeapi, tmp_path / "kubeconfig")
    try:
        yield a
    finally:
        a.client.close()


@pytest.fixture
def controller(api: Api) -> Iterator[Controller]:
    c = api.controller("one", node_grace_s=0.3)
    try:
        yield c
    finally:
        c.stop()


def test_topologies_get_the_finalizer_and_conditions_and_a_disagreement_names_the_field(
    api: Api, controller: Controller
) -> None:
    api.topologies.create(_topology("r1", "r2"))
    api.topologies.create(_topology("r2", "r1"))
    for name in ("r1", "r2"):
        wait_until(lambda n=name: (api.condition(n, "PeersAgree") or {}).get("status") == "True")
        wait_until(  # (written after the conditions, in the same reconcile)
            lambda n=name: (
                LINKS_FINALIZER in api.topologies.get("default", n)["metadata"].get("finalizers", [])
            )
        )
        # (Degraded turns False once the peer is in the controller's cache too)
        wait_until(lambda n=name: (api.condition(n, "Degraded") or {}).get("status") == "False")

    obj = api.topologies.get("default", "r1")
    obj["spec"]["links"][0]["peer_intf"] = "eth7"  # r2 calls its end eth1
    api.topologies.update(obj)
    wait_until(lambda: (api.condition("r2", "PeersAgree") or {}).get("status") == "False")
    for name in ("r1", "r2"):
        wait_until(lambda n=name: (api.condition(n, "Degraded") or {}).get("reason") == "PeerMismatch")
    message = (api.condition("r1", "PeersAgree") or {})["message"]
    assert "default/r1: spec.links[0].peer_intf" in message and "eth7" in message
    wait_until(lambda: "PeerMismatch" in api.reasons("r1"))


def test_a_pod_on_a_node_not_ready_past_the_grace_is_recorded_down_and_released_on_delete(
    api: Api, controller: Controller
) -> None:
    api.node("a", NODE_A)
    api.node("b", NODE_B)
    api.topologies.create(_topology("r1", "r2"))
    api.topologies.create(_topology("r2", "r1"))
    api.running("r1", NODE_A)
    api.running("r2", NODE_B)
    wait_until(
        lambda: LINKS_FINALIZER in api.topologies.get("default", "r2")["metadata"].get("finalizers", [])
    )

    node = api.nodes.get(None, "b")
    node["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
    api.nodes.update_status(node)  # the kubelet stopped reporting: the node died
    wait_until(lambda: not api.topologies.get("default", "r2")["status"].get("src_ip"), timeout_s=10)
    assert (api.condition("r2", "Ready") or {}).get("reason") == "NodeLost"
    assert (api.condition("r2", "Degraded") or {}).get("reason") == "NodeLost"
    assert api.topologies.get("default", "r1")["status"]["src_ip"] == NODE_A  # a Ready node's pod stays
    wait_until(lambda: "NodeLost" in api.reasons("r2"))

    api.topologies.delete("default", "r2")  # nobody runs it: the controller lets it go

    def gone() -> bool:
        try:
            api.topologies.get("default", "r2")
        except NotFoundError:
            return True
        return False

    wait_until(gone)


def test_a_deleted_topology_whose_pod_runs_on_a_ready_node_waits_for_its_daemon(
    api: Api, controller: Controller
) -> None:
    api.node("a", NODE_A)
    api.topologies.create(_topology("r1", "r2"))
    api.running("r1", NODE_A)
    wait_until(
        lambda: LINKS_FINALIZER in api.topologies.get("default", "r1")["metadata"].get("finalizers", [])
    )
    api.topologies.delete("default", "r1")
    held = api.topologies.get("default", "r1")
    assert held["metadata"].get("deletionTimestamp")
    controller.queue.add(("default", "r1"))
    wait_until(lambda: controller.queue.metrics().depth == 0 and controller.queue.metrics().processing == 0)
    assert LINKS_FINALIZER in api.topologies.get("default", "r1")["metadata"]["finalizers"]


def _status(url: str) -> int:
    """The answer's status; urlopen raises on 4xx/5xx, which a wait must read as "not yet"."""
    try:
        with urllib.request.urlopen(url) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as e:
        return e.code


def test_probes_and_metrics_answer(api: Api, controller: Controller) -> None:
    health, metrics = (e.port for e in controller._endpoints[::-1])
    wait_until(lambda: _status(f"http://127.0.0.1:{health}/readyz") == 200)  # 503 until the caches list
    assert urllib.request.urlopen(f"http://127.0.0.1:{health}/healthz").status == 200
    api.topologies.create(_topology("r1", "r2"))
    wait_until(lambda: api.condition("r1", "Degraded") is not None)
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics").read().decode()
    assert 'kubedtn_controller_reconciles_total{result="ok"}' in body
    assert "kubedtn_controller_leader 1.0" in body


def test_of_two_replicas_one_acts_and_the_other_takes_over_when_it_stops(api: Api) -> None:
    first = api.controller("first")
    try:
        assert first.leading.wait(10)
        second = api.controller("second")
        try:
            api.topologies.create(_topology("r1", "r2"))
            wait_until(lambda: api.condition("r1", "Degraded") is not None)
            assert not second.leading.is_set()
            assert second.reconciler.reconciled == 0
            first.stop()
            assert second.leading.wait(10)
            api.topologies.create(_topology("r2", "r1"))
            wait_until(lambda: api.condition("r2", "Degraded") is not None)
            assert second.reconciler.reconciled > 0
        finally:
            second.stop()
    finally:
        first.stop()
