"""Daemons following live Topologies in the Kubernetes API (kubedtn.daemon.follow).

Two "nodes" (namespaces joined by an underlay), a manager on each with its own watch-fed
cache of the API server double, as two DaemonSet pods would have; the far ends travel by
``DirectRemote``. Every change is made in the API only, as a user's ``kubectl`` would, and
the test waits for the kernel to show it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedtn.daemon.follow import SpecFollower
from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.plan import NodeInfo
from kubedtn.daemon.types import SetupRequest
from kubedtn.dataplane import NetlinkDataplane
from kubedtn.model.crd import custom_resource_definition
from kubedtn.model.objects import LINKS_FINALIZER
from kubedtn.store import NotFoundError, retry_on_conflict
from kubedtn.store.kube import KubeStore, api_client
from kubedtn.store.kubecache import CachedKubeStore
from kubedtn.store.resource import KUBE_DTN_TOPOLOGY, TOPOLOGY, Resource
from tests.integration.daemon.test_cross_node import NODE_A, NODE_B, DirectRemote
from tests.integration.daemon.topologies import pair
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD, kubeapi
from tests.support.netns import NamespacePool, links_by_name, path, qdiscs, sh, udp_echo, wait_until
from tests.support.topologies import link

pytestmark = pytest.mark.root
DAEMON_AGENT = "kubedtn-daemon-test"
__all__ = ["kubeapi"]  # a fixture


class Cluster:
    """Two nodes, each a manager + follower on its own cache; ``api`` is the user's client."""

    def __init__(
        self, kubeapi: KubeApiServer, kubeconfig: Path, pool: NamespacePool, resource: Resource = TOPOLOGY
    ) -> None:
        if resource == TOPOLOGY:
            kubeapi.register_crd(TOPOLOGY_CRD)
        else:
            crd = custom_resource_definition(resource.group)
            kubeapi.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", crd)
        self.api = KubeStore(api_client(kubeconfig=str(kubeconfig)), resource=resource)
        self.na, self.nb = pool.make(2)
        sh(self.na, "ip", "link", "add", "u0", "type", "veth", "peer", "name", "u0", "netns", self.nb)
        for ns, ip in ((self.na, NODE_A), (self.nb, NODE_B)):
            sh(ns, "ip", "addr", "add", f"{ip}/24", "dev", "u0")
            sh(ns, "ip", "link", "set", "u0", "up")
        self.remote = DirectRemote()
        self.stores: list[CachedKubeStore] = []
        self.followers: list[SpecFollower] = []
        self.managers: dict[str, LinkManager] = {}
        dp = NetlinkDataplane()
        for ip, ns in ((NODE_A, self.na), (NODE_B, self.nb)):
            client = api_client(kubeconfig=str(kubeconfig))
            client.user_agent = DAEMON_AGENT  # so that a fault can cut the daemons off alone
            store = CachedKubeStore(client, resource=resource, backoff=(0.05, 0.2))
            assert store.cache.wait_synced(10)
            self.stores.append(store)
            manager = LinkManager(
                store=store, dataplane=dp, node=NodeInfo(ip, "u0", path(ns), 1500), remote=self.remote
            )
            self.managers[ip] = manager
        self.remote.managers = self.managers

    def follow(self) -> None:
        for manager, store in zip(self.managers.values(), self.stores, strict=True):
            follower = SpecFollower(store=store, manager=manager, retry=(0.05, 0.2))
            follower.start()
            self.followers.append(follower)

    def close(self) -> None:
        for follower in self.followers:
            follower.stop()
        for store in self.stores:
            store.close()
        self.api.close()
        self.remote.pool.shutdown()

    def patch_spec(self, name: str, change: Any) -> None:
        """Read-modify-write of a Topology's spec, as ``kubectl edit`` does (again on a
        conflict: the daemons write statuses meanwhile)."""

        def edit() -> None:
            obj = self.api.get("default", name)
            change(obj["spec"])
            self.api.update(obj)

        retry_on_conflict(edit, attempts=20)

    def wait_seen(self, name: str) -> None:
        """Both caches hold the API's current version of ``name``."""
        want = int(self.api.get("default", name)["metadata"]["resourceVersion"])

        def seen(store: CachedKubeStore) -> bool:
            held = store.cache.get(("default", name))
            return held is not None and int(held["metadata"]["resourceVersion"]) >= want

        wait_until(lambda: all(seen(s) for s in self.stores), what=f"both caches see {name}")


@pytest.fixture(params=[TOPOLOGY, KUBE_DTN_TOPOLOGY], ids=["kubedtn.io", "y-young.github.io"])
def cluster(
    request: pytest.FixtureRequest, kubeapi: KubeApiServer, tmp_path: Path, pool: NamespacePool
) -> Iterator[Cluster]:
    """Two nodes on Topologies in our group, and in kube-dtn's (a cluster that still has its
    CRD, the daemons started with --api-group y-young.github.io)."""
    c = Cluster(kubeapi, tmp_path / "kubeconfig", pool, request.param)
    try:
        yield c
    finally:
        c.close()


def _up_across_nodes(c: Cluster, pool: NamespacePool, objects: list[dict[str, Any]]) -> tuple[str, str]:
    """r1 on node A, r2 on node B, their link made; the followers started afterwards."""
    for obj in objects:
        c.api.create(obj)
    for obj in objects:
        c.wait_seen(obj["metadata"]["name"])
    p1, p2 = pool.make(2)
    (o1,) = c.managers[NODE_A].setup_pods([SetupRequest("r1", "default", path(p1))])
    (o2,) = c.managers[NODE_B].setup_pods([SetupRequest("r2", "default", path(p2))])
    assert o1.ok and o2.ok, (o1, o2)
    assert udp_echo(client_ns=p1, client_ip="10.0.1.1", server_ns=p2, server_ip="10.0.1.2") == 3
    c.follow()
    return p1, p2


def test_two_ends_come_up_linked_while_the_second_daemons_cache_lags(
    cluster: Cluster, kubeapi: KubeApiServer, pool: NamespacePool
) -> None:
    """r1 comes up on node A while node B's cache cannot hear of it; r2 then comes up on B.
    A saw r2 down, so B must see r1 alive (past its cache), or neither makes the link."""
    for obj in pair():
        cluster.api.create(obj)
    for name in ("r1", "r2"):
        cluster.wait_seen(name)
    deaf = kubeapi.faults.hang(method="WATCH", user_agent=DAEMON_AGENT)
    try:
        kubeapi.faults.drop_watches()
        assert kubeapi.faults.wait_for_held(2), "both caches to list again and wait on a held watch"
        p1, p2 = pool.make(2)
        (o1,) = cluster.managers[NODE_A].setup_pods([SetupRequest("r1", "default", path(p1))])
        assert o1.ok and not o1.plumbed, o1  # r2 is down: nothing to make yet
        held = cluster.stores[1].cache.get(("default", "r1"))
        assert held is not None and not (held.get("status") or {}).get("src_ip"), "B's cache heard of r1"
        (o2,) = cluster.managers[NODE_B].setup_pods([SetupRequest("r2", "default", path(p2))])
        assert o2.ok and o2.plumbed, o2
    finally:
        kubeapi.faults.clear(deaf)
    assert udp_echo(client_ns=p1, client_ip="10.0.1.1", server_ns=p2, server_ip="10.0.1.2") == 3


def _plumbed(cluster: Cluster, name: str, uid: int) -> bool:
    """The pod's status records link ``uid`` as plumbed (both ends made and up)."""
    status = cluster.api.get("default", name).get("status") or {}
    return any(link.get("uid") == uid for link in status.get("links") or [])


def _rate(netns: str, dev: str) -> int | None:
    for q in qdiscs(netns, dev):
        if q.get("kind") == "tbf":
            return int(q["options"]["rate"])
    return None


def test_a_rate_edited_in_the_api_changes_that_end_in_place(cluster: Cluster, pool: NamespacePool) -> None:
    p1, p2 = _up_across_nodes(cluster, pool, pair())
    before = links_by_name(p1)["eth1"]["ifindex"]

    def slower(spec: dict[str, Any]) -> None:
        spec["links"][0]["properties"] = {"rate": "10Mbit"}

    cluster.patch_spec("r1", slower)
    wait_until(lambda: _rate(p1, "eth1") == 10_000_000 // 8, what="r1's eth1 at 10Mbit")
    assert links_by_name(p1)["eth1"]["ifindex"] == before  # the same interface
    assert _rate(p2, "eth1") == 100_000_000 // 8  # r2's end: its own spec, unchanged
    wait_until(
        lambda: (
            [lk["properties"]["rate"] for lk in cluster.api.get("default", "r1")["status"]["links"]]
            == ["10Mbit"]
        ),
        what="r1's status to record the new rate",
    )


def test_a_link_added_to_and_removed_from_the_spec_appears_and_disappears(
    cluster: Cluster, pool: NamespacePool
) -> None:
    p1, p2 = _up_across_nodes(cluster, pool, pair())
    extra_a = link(2, "r2", "eth2", "eth2", ip="10.0.2.1/24", peer_ip="10.0.2.2/24")
    extra_b = link(2, "r1", "eth2", "eth2", ip="10.0.2.2/24", peer_ip="10.0.2.1/24")
    cluster.patch_spec("r1", lambda spec: spec["links"].append(extra_a))
    cluster.patch_spec("r2", lambda spec: spec["links"].append(extra_b))
    # (the statuses are written once each end is made, addressed and up: an interface alone
    # may not have its address yet)
    wait_until(lambda: _plumbed(cluster, "r1", 2) and _plumbed(cluster, "r2", 2), what="link 2 up on both")
    assert "eth2" in links_by_name(p1) and "eth2" in links_by_name(p2)
    assert udp_echo(client_ns=p1, client_ip="10.0.2.1", server_ns=p2, server_ip="10.0.2.2") == 3

    cluster.patch_spec("r1", lambda spec: spec.__setitem__("links", spec["links"][:1]))
    cluster.patch_spec("r2", lambda spec: spec.__setitem__("links", spec["links"][:1]))
    wait_until(
        lambda: "eth2" not in links_by_name(p1) and "eth2" not in links_by_name(p2), what="eth2 gone on both"
    )
    assert udp_echo(client_ns=p1, client_ip="10.0.1.1", server_ns=p2, server_ip="10.0.1.2") == 3


def test_a_deleted_topology_takes_its_links_and_then_its_finalizer(
    cluster: Cluster, pool: NamespacePool
) -> None:
    objects = pair()
    for obj in objects:
        obj["metadata"]["finalizers"] = [LINKS_FINALIZER]  # as the controller puts it
    p1, p2 = _up_across_nodes(cluster, pool, objects)
    cluster.api.delete("default", "r1")  # held by the finalizer until the links are gone
    wait_until(lambda: "eth1" not in links_by_name(p1), what="r1's eth1 removed")
    wait_until(lambda: "eth1" not in links_by_name(p2), what="r2's far end removed")

    def gone() -> bool:
        try:
            cluster.api.get("default", "r1")
        except NotFoundError:
            return True
        return False

    wait_until(gone, what="r1's Topology gone once its finalizer is off")
    wait_until(
        lambda: not cluster.api.get("default", "r2")["status"].get("links"),
        what="r2's status to say its link is down",
    )


def test_a_peer_recorded_down_by_someone_else_loses_our_far_end(
    cluster: Cluster, pool: NamespacePool
) -> None:
    """Node B dies: its daemon never runs DestroyPod; the controller records r2 down. Node A's
    daemon removes its VXLAN end toward B."""
    p1, _ = _up_across_nodes(cluster, pool, pair())
    cluster.followers[1].stop()  # node B's daemon is gone with its node
    obj = cluster.api.get("default", "r2")
    obj["status"] = {**obj["status"], "src_ip": "", "net_ns": "", "links": []}
    cluster.api.update_status(obj)
    wait_until(lambda: "eth1" not in links_by_name(p1), what="r1's VXLAN end toward B removed")
    wait_until(
        lambda: not cluster.api.get("default", "r1")["status"].get("links"),
        what="r1's status to say the link is down",
    )


def test_changes_made_while_the_daemons_cannot_reach_the_api_are_all_applied_after(
    cluster: Cluster, kubeapi: KubeApiServer, pool: NamespacePool
) -> None:
    p1, p2 = _up_across_nodes(cluster, pool, pair())
    relists = [s.cache.relists for s in cluster.stores]
    outage = kubeapi.faults.fail(503, user_agent=DAEMON_AGENT)
    try:
        kubeapi.faults.drop_watches()
        wait_until(
            lambda: all(s.cache.relists > n for s, n in zip(cluster.stores, relists, strict=True)),
            what="both daemons to notice the API is gone",
        )
        # Meanwhile the user changes three things; the links stay as they were.
        cluster.patch_spec("r1", lambda spec: spec["links"][0].__setitem__("properties", {"rate": "10Mbit"}))
        extra_a = link(2, "r2", "eth2", "eth2", ip="10.0.2.1/24", peer_ip="10.0.2.2/24")
        extra_b = link(2, "r1", "eth2", "eth2", ip="10.0.2.2/24", peer_ip="10.0.2.1/24")
        cluster.patch_spec("r1", lambda spec: spec["links"].append(extra_a))
        cluster.patch_spec("r2", lambda spec: spec["links"].append(extra_b))
        assert udp_echo(client_ns=p1, client_ip="10.0.1.1", server_ns=p2, server_ip="10.0.1.2") == 3
        assert _rate(p1, "eth1") == 100_000_000 // 8
    finally:
        kubeapi.faults.clear(outage)
    wait_until(lambda: _rate(p1, "eth1") == 10_000_000 // 8, what="r1's rate change, after the outage")
    wait_until(lambda: _plumbed(cluster, "r1", 2) and _plumbed(cluster, "r2", 2), what="the new link up")
    assert "eth2" in links_by_name(p1) and "eth2" in links_by_name(p2)
    assert udp_echo(client_ns=p1, client_ip="10.0.2.1", server_ns=p2, server_ip="10.0.2.2") == 3
