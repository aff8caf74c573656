"""Cross-node links: two "nodes" (namespaces joined by an underlay), a manager on each, one store.

The far end is created through ``Remote.Update`` — here handed straight to the other node's
manager (issue 5 runs a daemon process per node and sends it over gRPC).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace

import pytest

from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.plan import NodeInfo, RemoteEnd
from kubedtn.daemon.resync import Resync, ResyncPass, resync_once
from kubedtn.daemon.types import PodOutcome, SetupRequest
from kubedtn.dataplane import Endpoint, NetlinkDataplane
from kubedtn.errors import KubedtnError, PermissionDeniedError, TemporaryError
from kubedtn.model.names import VXLAN_VNI_BASE, vni_for_link
from kubedtn.model.podref import PodRef
from kubedtn.store import SqliteStore
from tests.integration.daemon.topologies import load, pair, read, ready, record_running, topology
from tests.support.netns import NamespacePool, links_by_name, path, sh, udp_echo, wait_until
from tests.support.topologies import link

pytestmark = pytest.mark.root

NODE_A, NODE_B = "10.199.0.1", "10.199.0.2"


class DirectRemote:
    """Remote calls delivered to the manager of the node with that IP."""

    def __init__(self) -> None:
        self.managers: dict[str, LinkManager] = {}
        self.calls: list[RemoteEnd] = []
        self.deletes: list[RemoteEnd] = []
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-remote")

    def update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        self.calls += ends
        return self.managers[node_ip].remote_update_many(ends)

    def start_update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Future[list[KubedtnError | None]]:
        return self.pool.submit(self.update_many, node_ip, list(ends))  # as a peer daemon: at once

    def delete_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        self.deletes += ends
        return self.managers[node_ip].remote_delete_many(ends)


def _link_works_and_both_ready(store: SqliteStore, pa: str, pb: str) -> None:
    """Link 1 of ``pair()`` carries traffic between r1 (in ``pa``) and r2 (in ``pb``), and
    both pods are Ready."""
    assert udp_echo(client_ns=pa, client_ip="10.0.1.1", server_ns=pb, server_ip="10.0.1.2") == 3
    for name in ("r1", "r2"):
        assert ready(store, name) == ("True", "LinksUp")


@pytest.fixture
def nodes(pool: NamespacePool, store: SqliteStore) -> Iterator[tuple[LinkManager, LinkManager, DirectRemote]]:
    na, nb = pool.make(2)
    sh(na, "ip", "link", "add", "u0", "type", "veth", "peer", "name", "u0", "netns", nb)
    for ns, ip in ((na, NODE_A), (nb, NODE_B)):
        sh(ns, "ip", "addr", "add", f"{ip}/24", "dev", "u0")
        sh(ns, "ip", "link", "set", "u0", "up")
    remote = DirectRemote()
    dp = NetlinkDataplane()
    a = LinkManager(store=store, dataplane=dp, node=NodeInfo(NODE_A, "u0", path(na), 1500), remote=remote)
    b = LinkManager(store=store, dataplane=dp, node=NodeInfo(NODE_B, "u0", path(nb), 1500), remote=remote)
    remote.managers = {NODE_A: a, NODE_B: b}
    try:
        yield a, b, remote
    finally:
        remote.pool.shutdown()


def test_a_link_between_pods_on_two_nodes_is_a_vxlan_pair_that_carries_traffic(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], pool: NamespacePool, store: SqliteStore
) -> None:
    node_a, node_b, remote = nodes
    load(store, pair(rate=None))
    pa, pb = pool.make(2)
    (first,) = node_a.setup_pods([SetupRequest("r1", "default", path(pa))])
    assert first.ok and remote.calls == []  # r2 is not up: nothing to ask
    (second,) = node_b.setup_pods([SetupRequest("r2", "default", path(pb))])
    assert second.ok, second.error

    (call,) = remote.calls
    assert (call.pod, call.node_ip, call.vni, call.vtep) == ("r1", NODE_A, 5001, NODE_B)
    for ns, vtep in ((pa, NODE_B), (pb, NODE_A)):
        eth1 = links_by_name(ns)["eth1"]
        data = eth1["linkinfo"]["info_data"]  # type: ignore[index]
        assert eth1["linkinfo"]["info_kind"] == "vxlan"  # type: ignore[index]
        assert (data["id"], data["remote"]) == (5001, vtep)
    _link_works_and_both_ready(store, pa, pb)
    assert read(store, "r1").status.src_ip == NODE_A and read(store, "r2").status.src_ip == NODE_B
    assert node_a.check_pod(PodRef(namespace="default", name="r1")).problems == ()

    (down,) = node_b.destroy_pods([PodRef(namespace="default", name="r2")])
    assert down.ok and "eth1" not in links_by_name(pb)
    # ... and r1's end, on the other node, went with it (Remote.DeleteMany)
    assert [(e.pod, e.node_ip, e.vtep) for e in remote.deletes] == [("r1", NODE_A, NODE_B)]
    assert "eth1" not in links_by_name(pa)
    assert read(store, "r1").status.skipped == ("r2",)


def _r1_up_on_a_and_before_b_marks(
    nodes: tuple[LinkManager, LinkManager, DirectRemote],
    pool: NamespacePool,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
    before: Callable[[str], None],
) -> tuple[str, str]:
    """r1 up on node A; ``before(r1's namespace)`` runs when node B first writes statuses
    (marking r2 alive, in the SetupPods the test then makes). The namespaces of r1 and r2."""
    node_a, node_b, _ = nodes
    load(store, pair(rate=None))
    pa, pb = pool.make(2)
    assert node_a.setup_pods([SetupRequest("r1", "default", path(pa))])[0].ok
    write_statuses = node_b.records.write_statuses

    def hooked(changes: object, **kwargs: object) -> object:
        before(pa)
        return write_statuses(changes, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(node_b.records, "write_statuses", hooked)
    return pa, pb


def test_the_far_end_is_asked_for_before_the_pod_is_marked_alive(
    nodes: tuple[LinkManager, LinkManager, DirectRemote],
    pool: NamespacePool,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node_b, remote = nodes[1], nodes[2]
    asked_before_marking: list[int] = []
    pa, pb = _r1_up_on_a_and_before_b_marks(
        nodes, pool, store, monkeypatch, lambda _: asked_before_marking.append(len(remote.calls))
    )
    start = remote.start_update_many

    def served_at_once(node_ip: str, ends: Sequence[RemoteEnd]) -> Future[list[KubedtnError | None]]:
        future = start(node_ip, ends)
        future.result()  # so that the count above sees a request sent before the marking
        return future

    monkeypatch.setattr(remote, "start_update_many", served_at_once)

    (second,) = node_b.setup_pods([SetupRequest("r2", "default", path(pb))])

    assert second.ok, second.error
    assert asked_before_marking[0] == 1
    assert len(remote.calls) == 1  # the plan after marking alive confirmed it: not asked twice
    _link_works_and_both_ready(store, pa, pb)


def test_of_two_pods_marked_alive_at_once_only_the_second_makes_the_link(
    nodes: tuple[LinkManager, LinkManager, DirectRemote],
    pool: NamespacePool,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node_a, node_b, remote = nodes
    load(store, pair(rate=None))
    pa, pb = pool.make(2)
    plan_and_apply = node_a.setup._plan_and_apply
    on_b = ThreadPoolExecutor(max_workers=1)
    second: list[Future[list[PodOutcome]]] = []

    def b_marks_r2_alive_first(*args: object, **kwargs: object) -> object:
        # Node A has marked r1 alive; before it plans, node B marks r2 alive (and goes on to
        # make the link, which waits for A's locks). A read made now would see r2 alive.
        second.append(on_b.submit(node_b.setup_pods, [SetupRequest("r2", "default", path(pb))]))
        wait_until(lambda: read(store, "r2").status.src_ip == NODE_B, what="r2 marked alive by node B")
        return plan_and_apply(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(node_a.setup, "_plan_and_apply", b_marks_r2_alive_first)
    try:
        (first,) = node_a.setup_pods([SetupRequest("r1", "default", path(pa))])
        ((on_b_outcome,),) = [f.result(timeout=30) for f in second]
    finally:
        on_b.shutdown()

    assert first.ok, first.error
    assert on_b_outcome.ok, on_b_outcome.error
    # Only node B asked for a far end (r1's, on node A); node A planned against the peers
    # as they were when it marked r1 alive, so it asked node B for nothing.
    assert [(e.pod, e.node_ip) for e in remote.calls] == [("r1", NODE_A)]
    assert first.skipped and "not up" in first.skipped[0]
    _link_works_and_both_ready(store, pa, pb)


def test_a_far_end_asked_for_early_is_taken_back_when_the_peer_is_gone_by_the_plan(
    nodes: tuple[LinkManager, LinkManager, DirectRemote],
    pool: NamespacePool,
    store: SqliteStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    node_b, remote = nodes[1], nodes[2]

    def r1_goes_down(pa: str) -> None:
        # Between B's early request (r1's far end is made on node A) and B's plan, r1 is
        # recorded down (as a DestroyPod on node A would leave it).
        wait_until(lambda: "eth1" in links_by_name(pa), what="r1's far end, asked for early")
        record_running(store, "r1", src_ip="", net_ns="")

    pa, pb = _r1_up_on_a_and_before_b_marks(nodes, pool, store, monkeypatch, r1_goes_down)

    (second,) = node_b.setup_pods([SetupRequest("r2", "default", path(pb))])

    assert second.ok, second.error
    assert second.skipped and "not up" in second.skipped[0]
    assert [(e.pod, e.node_ip, e.uid) for e in remote.deletes] == [("r1", NODE_A, 1)]
    assert "eth1" not in links_by_name(pa) and "eth1" not in links_by_name(pb)


def test_a_pod_that_moves_next_to_its_peer_gets_a_veth_and_no_vxlan_is_left(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], pool: NamespacePool, store: SqliteStore
) -> None:
    node_a, node_b, _ = nodes
    load(store, pair(rate="10mbit"))
    pa, pb, pb2 = pool.make(3)
    assert node_a.setup_pods([SetupRequest("r1", "default", path(pa))])[0].ok
    assert node_b.setup_pods([SetupRequest("r2", "default", path(pb))])[0].ok
    assert links_by_name(pa)["eth1"]["linkinfo"]["info_kind"] == "vxlan"  # type: ignore[index]

    # Kubernetes reschedules r2 onto node A: DEL on B, then ADD on A in a new namespace.
    assert node_b.destroy_pods([PodRef(namespace="default", name="r2")])[0].ok
    assert node_a.setup_pods([SetupRequest("r2", "default", path(pb2))])[0].ok
    for ns in (pa, pb2):
        assert links_by_name(ns)["eth1"]["linkinfo"]["info_kind"] == "veth"  # type: ignore[index]
    assert udp_echo(client_ns=pa, client_ip="10.0.1.1", server_ns=pb2, server_ip="10.0.1.2") == 3
    assert read(store, "r2").status.src_ip == NODE_A


def test_a_vni_left_over_from_a_pods_earlier_life_is_cleaned_up(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], pool: NamespacePool, store: SqliteStore
) -> None:
    node_a, node_b, _ = nodes
    load(store, pair(rate=None))
    pa, pb, pb2 = pool.make(3)
    assert node_a.setup_pods([SetupRequest("r1", "default", path(pa))])[0].ok
    assert node_b.setup_pods([SetupRequest("r2", "default", path(pb))])[0].ok
    kept = links_by_name(pa)["eth1"]["ifindex"]
    # r2 comes back on node B in a new namespace while its old one (and the VXLAN in it,
    # holding VNI 5001 on node B) still exists: no DEL reached the daemon.
    (again,) = node_b.setup_pods([SetupRequest("r2", "default", path(pb2))])
    assert again.ok, again.error
    assert "eth1" not in links_by_name(pb)
    assert udp_echo(client_ns=pa, client_ip="10.0.1.1", server_ns=pb2, server_ip="10.0.1.2") == 3
    assert links_by_name(pa)["eth1"]["ifindex"] == kept  # r1's end already pointed at node B


def test_two_namespaces_whose_uids_meet_on_one_vni_get_an_error_naming_both_links(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], pool: NamespacePool, store: SqliteStore
) -> None:
    node_a, node_b, _ = nodes
    clash = vni_for_link("blue", 1) - VXLAN_VNI_BASE  # default's uid with blue uid 1's VNI
    x, y = "10.9.0.1/24", "10.9.0.2/24"
    load(
        store,
        [
            topology("r1", [link(clash, "r2", "eth1", "eth1", ip=x, peer_ip=y, rate=None)]),
            topology("r2", [link(clash, "r1", "eth1", "eth1", ip=y, peer_ip=x, rate=None)]),
        ],
    )
    blue = pair(rate=None)
    for obj in blue:
        obj["metadata"]["namespace"] = "blue"
    load(store, blue)
    pa, pb, qa, qb = pool.make(4)
    assert node_a.setup_pods([SetupRequest("r1", "default", path(pa))])[0].ok
    assert node_b.setup_pods([SetupRequest("r2", "default", path(pb))])[0].ok
    assert node_a.setup_pods([SetupRequest("r1", "blue", path(qa))])[0].ok  # peer not up: nothing yet
    (r2,) = node_b.setup_pods([SetupRequest("r2", "blue", path(qb))])
    assert not r2.ok
    assert f"blue link 1 (eth1): VXLAN VNI {vni_for_link('blue', 1)} is already used on node {NODE_B}" in str(
        r2.error
    )
    assert f"default/r2 eth1 (link {clash})" in str(r2.error)
    # the link that had the VNI first still works
    assert udp_echo(client_ns=pa, client_ip="10.9.0.1", server_ns=pb, server_ip="10.9.0.2") == 3


def test_a_far_end_is_only_deleted_while_it_still_points_at_the_node_that_asks(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], pool: NamespacePool, store: SqliteStore
) -> None:
    node_a, node_b, _ = nodes
    load(store, pair(rate=None))
    pa, pb = pool.make(2)
    assert node_a.setup_pods([SetupRequest("r1", "default", path(pa))])[0].ok
    assert node_b.setup_pods([SetupRequest("r2", "default", path(pb))])[0].ok
    from_elsewhere = RemoteEnd(
        pod="r1",
        kube_ns="default",
        node_ip=NODE_A,
        uid=1,
        vni=5001,
        vtep="10.199.0.9",  # a node r1's end does not point at (any more)
        endpoint=Endpoint(netns=path(pa), name="eth1"),
    )
    assert node_a.remote_delete_many([from_elsewhere]) == [None]
    assert "eth1" in links_by_name(pa)
    assert node_a.remote_delete_many([replace(from_elsewhere, vtep=NODE_B)]) == [None]
    assert "eth1" not in links_by_name(pa)


def test_remote_update_refuses_a_pod_that_is_not_running_there(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], pool: NamespacePool, store: SqliteStore
) -> None:
    node_a, _, _ = nodes
    load(store, pair(rate=None))
    (pa,) = pool.make(1)
    (r1,) = node_a.setup_pods([SetupRequest("r1", "default", path(pa))])
    assert r1.ok
    stale = RemoteEnd(
        pod="r1",
        kube_ns="default",
        node_ip=NODE_A,
        uid=1,
        vni=5001,
        vtep=NODE_B,
        endpoint=Endpoint(netns="/run/netns/kdtn-t-old", name="eth1"),
    )
    with pytest.raises(PermissionDeniedError, match="is not running in /run/netns/kdtn-t-old"):
        node_a.remote_update(stale)
    assert "eth1" not in links_by_name(pa)


def test_vxlan_ends_default_to_the_underlay_mtu_less_the_overhead_and_more_is_refused(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], pool: NamespacePool, store: SqliteStore
) -> None:
    node_a, node_b, _ = nodes
    load(store, pair(rate=None))
    jumbo = pair("j1", "j2", uid=2, rate=None)
    for obj in jumbo:
        obj["spec"]["links"][0]["mtu"] = 1451
    load(store, jumbo)
    pa, pb, ja, jb = pool.make(4)
    assert node_a.setup_pods(
        [SetupRequest("r1", "default", path(pa)), SetupRequest("j1", "default", path(ja))]
    )
    assert node_b.setup_pods([SetupRequest("r2", "default", path(pb))])[0].ok
    assert {links_by_name(ns)["eth1"]["mtu"] for ns in (pa, pb)} == {1450}  # u0: 1500 - 50

    (j2,) = node_b.setup_pods([SetupRequest("j2", "default", path(jb))])
    assert not j2.ok
    assert str(j2.error) == (
        "default/j2: spec.links[0].mtu: 1451 is too large for a VXLAN link from node 10.199.0.2: "
        "at most 1450 (the underlay u0 has MTU 1500, VXLAN over IPv4 adds 50 bytes)"
    )
    assert "eth1" not in links_by_name(jb)


def test_a_peer_recorded_on_a_node_that_is_no_ip_is_that_pods_error_alone(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], pool: NamespacePool, store: SqliteStore
) -> None:
    node_a, _, remote = nodes
    load(store, pair(rate=None))
    load(store, pair("s1", "s2", uid=2, rate=None))
    record_running(store, "r2", src_ip="no-ip", net_ns="x")
    pa, sa, sb = pool.make(3)
    r1, s1, s2 = node_a.setup_pods(
        [
            SetupRequest("r1", "default", path(pa)),
            SetupRequest("s1", "default", path(sa)),
            SetupRequest("s2", "default", path(sb)),
        ]
    )
    assert not r1.ok and "the VXLAN remote 'no-ip' is not an IP address" in str(r1.error)
    assert s1.ok and s2.ok and remote.calls == []
    assert "eth1" in links_by_name(sa) and "eth1" not in links_by_name(pa)


class FailingRemote(DirectRemote):
    """DirectRemote whose first ``failures`` UpdateMany calls fail, as a daemon restarting."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        if self.failures > 0:
            self.failures -= 1
            self.calls += ends
            return [TemporaryError(f"the daemon on node {node_ip} is restarting")] * len(ends)
        return super().update_many(node_ip, ends)


def test_a_link_whose_far_end_failed_converges_through_the_resync_without_a_new_request(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], pool: NamespacePool, store: SqliteStore
) -> None:
    node_a, node_b, direct = nodes
    remote = FailingRemote(failures=2)  # SetupPod's call, then the resync's first pass
    remote.managers = direct.managers
    node_b.cross.remote = remote
    load(store, pair(rate=None))
    pa, pb = pool.make(2)
    assert node_a.setup_pods([SetupRequest("r1", "default", path(pa))])[0].ok
    (second,) = node_b.setup_pods([SetupRequest("r2", "default", path(pb))])
    assert isinstance(second.error, TemporaryError)
    assert read(store, "r1").status.links == () and read(store, "r2").status.links == ()

    resync = Resync(node_b, interval=3600, retry=(0.01,))
    resync.start()
    try:
        assert resync.wait_passes(2, timeout=60)
    finally:
        resync.stop()
        remote.pool.shutdown()
    assert remote.failures == 0 and len(remote.calls) == 3
    assert resync.last == ResyncPass(retried=1, failed=0, destroyed=0)
    _link_works_and_both_ready(store, pa, pb)
    assert resync_once(node_a) == ResyncPass()  # nothing missing: nothing asked
