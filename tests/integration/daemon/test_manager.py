"""The link manager on real namespaces, a real store and the real dataplane."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.metrics import InterfaceCollector
from kubedtn.daemon.plan import NodeInfo
from kubedtn.daemon.types import SetupRequest
from kubedtn.dataplane import NamespaceNotFoundError
from kubedtn.errors import ValidationError
from kubedtn.model.objects import link_from_dict
from kubedtn.model.podref import PodRef
from kubedtn.store import SqliteStore
from tests.integration.daemon.conftest import HOST_IP, CountingDataplane
from tests.integration.daemon.topologies import load, pair, read, ready, ring, topology
from tests.support import kernel
from tests.support.netns import NamespacePool, links_by_name, path, qdiscs, sh, udp_echo
from tests.support.topologies import link

pytestmark = pytest.mark.root


def setup(manager: LinkManager, name: str, ns: str) -> None:
    (outcome,) = manager.setup_pods([SetupRequest(name, "default", path(ns))])
    assert outcome.ok, outcome.error


def up_pair(
    store: SqliteStore, manager: LinkManager, pool: NamespacePool, objects: list[dict[str, Any]]
) -> tuple[str, str]:
    """r1 and r2 of ``objects`` stored and set up, each in a new namespace; the namespaces."""
    load(store, objects)
    a, b = pool.make(2)
    setup(manager, "r1", a)
    setup(manager, "r2", b)
    return a, b


def our_links(ns: str) -> dict[str, dict[str, object]]:
    return {n: i for n, i in links_by_name(ns).items() if n != "lo"}


def assert_joined(a: str, a_if: str, b: str, b_if: str) -> None:
    """a/a_if and b/b_if exist and are the two ends of one veth."""
    la, lb = links_by_name(a)[a_if], links_by_name(b)[b_if]
    assert la["linkinfo"]["info_kind"] == "veth"  # type: ignore[index]
    assert la["link_index"] == lb["ifindex"] and lb["link_index"] == la["ifindex"]


@pytest.mark.parametrize("order", [("r1", "r2"), ("r2", "r1")])
def test_the_second_pod_up_plumbs_the_link_whichever_comes_first(
    order: tuple[str, str], pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    load(store, pair())
    ns = dict(zip(("r1", "r2"), pool.make(2), strict=True))
    first, second = order

    setup(manager, first, ns[first])
    assert our_links(ns[first]) == {}  # the peer is not up: skipped, nothing plumbed
    assert read(store, first).status.skipped == (second,)
    assert ready(store, first) == ("False", "WaitingForPeers")

    setup(manager, second, ns[second])
    assert_joined(ns["r1"], "eth1", ns["r2"], "eth1")
    assert udp_echo(client_ns=ns["r1"], client_ip="10.0.1.1", server_ns=ns["r2"], server_ip="10.0.1.2") == 3
    for name in ("r1", "r2"):
        topo = read(store, name)
        assert (topo.status.src_ip, topo.status.net_ns) == (HOST_IP, path(ns[name]))
        assert [x.uid for x in topo.status.links] == [1] and topo.status.skipped == ()
        assert ready(store, name) == ("True", "LinksUp")


def test_two_pods_sharing_a_link_set_up_at_once_get_exactly_one_link(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    objects = ring(8, rate="50Mbit")
    load(store, objects)
    names = [o["metadata"]["name"] for o in objects]
    ns = dict(zip(names, pool.make(len(names)), strict=True))
    for _ in range(3):  # several rounds: both orders of the race happen
        barrier = threading.Barrier(len(names))
        errors: list[BaseException] = []

        def up(name: str, b: threading.Barrier = barrier, errors: list[BaseException] = errors) -> None:
            try:
                b.wait(10)
                setup(manager, name, ns[name])
            except BaseException as e:  # surfaced below
                errors.append(e)

        threads = [threading.Thread(target=up, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        for i, name in enumerate(names):
            assert sorted(our_links(ns[name])) == ["eth1", "eth2"]
            nxt = names[(i + 1) % len(names)]
            assert_joined(ns[name], "eth1", ns[nxt], "eth2")
            assert ready(store, name) == ("True", "LinksUp")
        assert manager.locks.held() == 0
        outcomes = manager.destroy_pods([PodRef(namespace="default", name=n) for n in names])
        assert all(o.ok for o in outcomes)
        assert all(our_links(ns[n]) == {} for n in names)


def test_setup_pods_plumbs_a_whole_ring_with_one_dataplane_apply(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager, dataplane: CountingDataplane
) -> None:
    objects = ring(6)
    load(store, objects)
    names = [o["metadata"]["name"] for o in objects]
    ns = dict(zip(names, pool.make(len(names)), strict=True))
    outcomes = manager.setup_pods([SetupRequest(n, "default", path(ns[n])) for n in names])
    assert [o.ok for o in outcomes] == [True] * 6
    assert dataplane.applies == 1
    for i, name in enumerate(names):
        assert_joined(ns[name], "eth1", ns[names[(i + 1) % 6]], "eth2")
        assert ready(store, name) == ("True", "LinksUp")


def test_a_pod_in_no_topology_passes_and_an_unknown_destroy_succeeds(manager: LinkManager) -> None:
    (up,) = manager.setup_pods([SetupRequest("web", "default", "/proc/self/ns/net")])
    assert up.ok and up.in_topology is False
    (down,) = manager.destroy_pods([PodRef(namespace="default", name="web")])
    assert down.ok and down.in_topology is False


def test_a_status_changed_by_another_writer_is_kept_when_the_daemon_writes_next(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    """The daemon's status writes start from the version it last saw; when another writer
    changed the pod since, the write conflicts and is done again from the store's version."""
    load(store, pair())
    a, b = pool.make(2)
    setup(manager, "r1", a)
    obj = store.get("default", "r1")
    foreign = {"type": "Audited", "status": "True", "reason": "Checked", "message": "by a person"}
    obj["status"]["conditions"].append(foreign)
    store.update_status(obj)  # the daemon has not seen this version

    setup(manager, "r2", b)  # records link 1 in r1's status too
    r1 = read(store, "r1")
    assert [x.uid for x in r1.status.links] == [1]
    assert ready(store, "r1") == ("True", "LinksUp")
    assert [(c.status, c.message) for c in r1.status.conditions if c.type == "Audited"] == [
        ("True", "by a person")
    ]


def test_destroy_removes_the_pods_links_is_idempotent_and_the_peer_waits_again(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    a, b = up_pair(store, manager, pool, pair())
    for _ in range(2):
        (outcome,) = manager.destroy_pods([PodRef(namespace="default", name="r1")])
        assert outcome.ok and outcome.in_topology
    assert our_links(a) == {} and our_links(b) == {}  # the veth's far end went with it
    gone = read(store, "r1")
    assert (gone.status.src_ip, gone.status.net_ns, gone.status.links) == ("", "", ())
    assert ready(store, "r1") == ("False", "PodDown")
    peer = read(store, "r2")
    assert peer.status.links == () and peer.status.skipped == ("r1",)
    assert ready(store, "r2") == ("False", "WaitingForPeers")
    setup(manager, "r1", a)  # and it comes back
    assert_joined(a, "eth1", b, "eth1")


def test_a_topology_with_one_bad_link_is_refused_precisely_and_nothing_is_applied(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    good = link(1, "r2", "eth1", "eth1", ip="10.0.1.1/24", peer_ip="10.0.1.2/24")
    bad = link(2, "r3", "eth2", "eth1", ip="10.0.2.300/24", peer_ip="10.0.2.3/24")
    load(store, [topology("r1", [good, bad]), *pair()[1:]])
    a, b = pool.make(2)
    setup(manager, "r2", b)
    (outcome,) = manager.setup_pods([SetupRequest("r1", "default", path(a))])
    assert isinstance(outcome.error, ValidationError)
    assert any(
        p.startswith("default/r1: spec.links[1].local_ip:") and "10.0.2.300/24" in p
        for p in outcome.error.problems
    ), outcome.error.problems
    assert our_links(a) == {} and our_links(b) == {}  # not even the good link
    assert "status" not in store.get("default", "r1")  # not marked alive


def test_ends_that_disagree_refuse_the_pod_naming_both_and_touch_nothing(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    r1, r2 = pair()
    r2["spec"]["links"][0]["local_intf"] = "eth7"
    load(store, [r1, r2])
    a, b = pool.make(2)
    (first,) = manager.setup_pods([SetupRequest("r2", "default", path(b))])
    assert isinstance(first.error, ValidationError)
    assert (
        'default/r2: spec.links[0].local_intf: "eth7" but default/r1 spec.links[0] has peer_intf "eth1"'
        in str(first.error)
    )
    (second,) = manager.setup_pods([SetupRequest("r1", "default", path(a))])
    assert isinstance(second.error, ValidationError)
    assert our_links(a) == {} and our_links(b) == {}
    assert read(store, "r1").status.src_ip == "" and read(store, "r2").status.src_ip == ""


def test_a_missing_namespace_is_a_failed_precondition_and_nothing_is_written(
    store: SqliteStore, manager: LinkManager
) -> None:
    load(store, pair())
    (outcome,) = manager.setup_pods([SetupRequest("r1", "default", "/run/netns/kdtn-t-not-there")])
    assert isinstance(outcome.error, NamespaceNotFoundError)
    assert "/run/netns/kdtn-t-not-there does not exist" in str(outcome.error)
    assert read(store, "r1").status.src_ip == ""


def test_a_peer_recorded_up_whose_namespace_vanished_is_skipped_not_fatal(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    load(store, ring(3))
    a, b = pool.make(2)
    setup(manager, "p0", a)
    manager.set_alive(
        PodRef(namespace="default", name="p2"), src_ip=HOST_IP, net_ns="/run/netns/kdtn-t-vanished"
    )
    setup(manager, "p1", b)
    assert_joined(a, "eth1", b, "eth2")
    assert read(store, "p1").status.skipped == ("p2",)


def test_reconcile_restores_a_link_deleted_behind_its_back_and_buries_pods_whose_namespace_is_gone(
    pool: NamespacePool, store: SqliteStore, dataplane: CountingDataplane
) -> None:
    load(store, ring(3))
    a, b, c = pool.make(3)
    first = LinkManager(store=store, dataplane=dataplane, node=NodeInfo(ip=HOST_IP))
    for name, ns in (("p0", a), ("p1", b), ("p2", c)):
        setup(first, name, ns)
    sh(a, "ip", "link", "del", "eth1")  # p0-p1 gone behind the daemon's back
    sh(None, "ip", "netns", "del", c)  # p2's namespace gone (its veths with it)
    pool.made.remove(c)

    restarted = LinkManager(store=store, dataplane=dataplane, node=NodeInfo(ip=HOST_IP))
    assert restarted.reconcile() == (2, 1)
    assert_joined(a, "eth1", b, "eth2")
    assert sorted(our_links(a)) == ["eth1"] and sorted(our_links(b)) == ["eth2"]
    dead = read(store, "p2")
    assert (dead.status.src_ip, dead.status.net_ns) == ("", "")
    assert read(store, "p0").status.skipped == ("p2",) and read(store, "p1").status.skipped == ("p2",)


def test_a_path_reused_by_a_new_namespace_is_the_pod_gone_never_plumbed_into(
    pool: NamespacePool, store: SqliteStore, dataplane: CountingDataplane
) -> None:
    load(store, pair())
    a, b = pool.make(2)
    first = LinkManager(store=store, dataplane=dataplane, node=NodeInfo(ip=HOST_IP))
    setup(first, "r1", a)
    setup(first, "r2", b)
    recorded = read(store, "r2").status.net_ns_id
    assert recorded and recorded == dataplane.namespace_id(path(b))
    # r2's sandbox died; the runtime made a new namespace with the same name.
    sh(None, "ip", "netns", "del", b)
    sh(None, "ip", "netns", "add", b)
    assert dataplane.namespace_id(path(b)) not in ("", recorded)

    restarted = LinkManager(store=store, dataplane=dataplane, node=NodeInfo(ip=HOST_IP))
    assert restarted.reconcile() == (1, 1)
    dead = read(store, "r2")
    assert (dead.status.src_ip, dead.status.net_ns, dead.status.net_ns_id) == ("", "", "")
    assert our_links(b) == {} and our_links(a) == {}
    assert read(store, "r1").status.skipped == ("r2",)


def tbf_rate(ns: str, dev: str) -> int:
    (tbf,) = [q for q in qdiscs(ns, dev) if q["kind"] == "tbf"]
    return int(tbf["options"]["rate"])


def test_update_links_changes_the_rate_in_place_on_the_same_interface(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    a, b = up_pair(store, manager, pool, pair(rate="100Mbit"))
    before = links_by_name(a)["eth1"]["ifindex"]
    assert tbf_rate(a, "eth1") == 100_000_000 // 8  # tc -j prints bytes/s
    changed = link_from_dict(
        link(1, "r2", "eth1", "eth1", ip="10.0.1.1/24", peer_ip="10.0.1.2/24", rate="10Mbit")
    )
    assert manager.update_links(PodRef(namespace="default", name="r1"), [changed]) == 1
    assert links_by_name(a)["eth1"]["ifindex"] == before
    assert tbf_rate(a, "eth1") == 10_000_000 // 8
    assert tbf_rate(b, "eth1") == 100_000_000 // 8  # the other end keeps its own pod's spec
    (entry,) = read(store, "r1").status.links
    assert entry.properties.rate_bps == 10_000_000


def test_add_links_plumbs_a_new_link_and_del_links_removes_it(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    a, b = up_pair(store, manager, pool, pair())
    extra = {"uid": 9, "peer_intf": "eth9", "local_intf": "eth9"}
    for name, (ip, peer_ip) in (
        ("r1", ("10.0.9.1/24", "10.0.9.2/24")),
        ("r2", ("10.0.9.2/24", "10.0.9.1/24")),
    ):
        obj = store.get("default", name)
        peer = "r2" if name == "r1" else "r1"
        obj["spec"]["links"].append({**extra, "peer_pod": peer, "local_ip": ip, "peer_ip": peer_ip})
        store.update(obj)
    new = read(store, "r1").links[1]
    outcome = manager.add_links(PodRef(namespace="default", name="r1"), [new])
    assert outcome.ok and outcome.plumbed == (9,)
    assert_joined(a, "eth9", b, "eth9")
    assert [x.uid for x in read(store, "r2").status.links] == [1, 9]
    manager.del_links(PodRef(namespace="default", name="r1"), [new])
    assert sorted(our_links(a)) == ["eth1"] and sorted(our_links(b)) == ["eth1"]
    assert [x.uid for x in read(store, "r2").status.links] == [1]


def test_check_pod_reports_a_deleted_link_and_nothing_when_all_is_there(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    load(store, ring(3))
    a, b, c = pool.make(3)
    for name, ns in (("p0", a), ("p1", b), ("p2", c)):
        setup(manager, name, ns)
    assert manager.check_pod(PodRef(namespace="default", name="p0"), netns=path(a)).problems == ()
    sh(a, "ip", "link", "del", "eth2")  # p2-p0
    result = manager.check_pod(PodRef(namespace="default", name="p0"), netns=path(a))
    assert result.in_topology and not result.ok
    assert result.problems == (f"default/p0: link 3 (veth eth2): interface eth2 is missing in {path(a)}",)
    assert manager.check_pod(PodRef(namespace="default", name="nobody")).in_topology is False
    assert (
        "not in /run/netns/other"
        in manager.check_pod(PodRef(namespace="default", name="p0"), netns="/run/netns/other").problems[0]
    )


def test_interface_counters_of_pods_on_this_node_rise_after_traffic(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    a, b = up_pair(store, manager, pool, pair())
    registry = CollectorRegistry()
    registry.register(InterfaceCollector(manager, ttl_s=0.0))  # every sample a fresh read
    labels = {"pod": "r1", "namespace": "default", "interface": "eth1"}

    def tx_packets() -> float:
        value = registry.get_sample_value("kubedtn_interface_transmit_packets_total", labels)
        assert value is not None, "no sample for r1/eth1"
        return value

    before = tx_packets()
    assert udp_echo(client_ns=a, client_ip="10.0.1.1", server_ns=b, server_ip="10.0.1.2", count=5) == 5
    assert tx_packets() >= before + 5
    rx = registry.get_sample_value("kubedtn_interface_receive_bytes_total", {**labels, "pod": "r2"})
    assert rx is not None and rx > 0
    assert registry.get_sample_value("kubedtn_links", {"kind": "veth"}) == 1
    assert registry.get_sample_value("kubedtn_pods", {"state": "alive"}) == 2


def test_without_netem_links_come_up_with_their_rate_and_the_missing_properties_are_recorded(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    if kernel.has_netem():
        pytest.skip("this kernel has sch_netem: nothing is missing (the netem lane applies it)")
    objects = pair(rate="100Mbit")
    objects[0]["spec"]["links"][0]["properties"] = {"latency": "10ms", "loss": "1", "rate": "100Mbit"}
    load(store, objects)
    a, b = pool.make(2)
    setup(manager, "r1", a)
    setup(manager, "r2", b)  # r2 plumbs the link, r1's end wants netem
    assert_joined(a, "eth1", b, "eth1")
    assert [q["kind"] for q in qdiscs(a, "eth1") if q["kind"] in ("netem", "tbf")] == ["tbf"]
    assert tbf_rate(a, "eth1") == 100_000_000 // 8
    assert udp_echo(client_ns=a, client_ip="10.0.1.1", server_ns=b, server_ip="10.0.1.2") == 3
    for name in ("r1", "r2"):
        assert ready(store, name) == ("True", "LinksUp")
    note = f"link 1: latency, loss on {path(a)}/eth1 not applied: sch_netem is missing in this kernel"
    conditions = {c.type: c for c in read(store, "r1").status.conditions}
    assert (conditions["PropertiesApplied"].status, conditions["PropertiesApplied"].message) == (
        "False",
        note,
    )
    assert {c.type: c.status for c in read(store, "r2").status.conditions}["PropertiesApplied"] == "False"
