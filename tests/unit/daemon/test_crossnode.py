"""The cross-node protocol without root: two link managers on one store, each with an
in-memory dataplane, their Remote calls handed straight to each other."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import TypeVar

import pytest

from kubedtn.daemon.crossnode import Answers, Push, by_node, early_far_ends, part_of, split_pushes
from kubedtn.daemon.jobs import PodJob, is_closed, peer_keys
from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.plan import CrossNode, NodeInfo, RemoteEnd
from kubedtn.daemon.types import PodOutcome, Sandbox, SetupRequest
from kubedtn.dataplane import Endpoint, VxlanSpec
from kubedtn.errors import KubedtnError, TemporaryError
from kubedtn.model import Link, Topology
from kubedtn.model.objects import topology_from_dict
from kubedtn.model.podref import PodRef
from kubedtn.store import SqliteStore
from kubedtn.store.testing import temp_store
from tests.integration.daemon.topologies import load, pair, read, topology
from tests.support.fakedataplane import FakeDataplane

NODE_A, NODE_B = "10.199.0.1", "10.199.0.2"
NS_R1, NS_R2 = "/run/netns/fake-r1", "/run/netns/fake-r2"


class DirectRemote:
    """Remote calls answered at once by the manager of the node with that IP."""

    def __init__(self) -> None:
        self.managers: dict[str, LinkManager] = {}
        self.updates: list[RemoteEnd] = []
        self.deletes: list[RemoteEnd] = []
        self.fail: KubedtnError | None = None  # every update answered with this error

    def update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Answers:
        self.updates += ends
        if self.fail is not None:
            return [self.fail] * len(ends)
        return self.managers[node_ip].remote_update_many(ends)

    def start_update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Future[Answers]:
        future: Future[Answers] = Future()
        future.set_result(self.update_many(node_ip, ends))
        return future

    def delete_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Answers:
        self.deletes += ends
        return self.managers[node_ip].remote_delete_many(ends)


Remote = TypeVar("Remote", bound=DirectRemote)


@pytest.fixture
def store() -> Iterator[SqliteStore]:
    with temp_store() as s:
        yield s


@pytest.fixture
def nodes(store: SqliteStore) -> tuple[LinkManager, LinkManager, DirectRemote]:
    return two_nodes(store, DirectRemote())


def two_nodes(store: SqliteStore, remote: Remote) -> tuple[LinkManager, LinkManager, Remote]:
    """Node A with namespace NS_R1 and node B with NS_R2, calling each other through ``remote``."""
    a = LinkManager(
        store=store, dataplane=FakeDataplane({NS_R1}), node=NodeInfo(NODE_A, "u0", None, 1500), remote=remote
    )
    b = LinkManager(
        store=store, dataplane=FakeDataplane({NS_R2}), node=NodeInfo(NODE_B, "u0", None, 1500), remote=remote
    )
    remote.managers = {NODE_A: a, NODE_B: b}
    return a, b, remote


def fake(manager: LinkManager) -> FakeDataplane:
    assert isinstance(manager.dataplane, FakeDataplane)
    return manager.dataplane


def both_up(nodes: tuple[LinkManager, LinkManager, DirectRemote], store: SqliteStore) -> None:
    """r1 up on node A, then r2 on node B: link 1 between them made."""
    load(store, pair(rate=None))
    assert nodes[0].setup_pods([SetupRequest("r1", "default", NS_R1)])[0].ok
    assert nodes[1].setup_pods([SetupRequest("r2", "default", NS_R2)])[0].ok


def plumbed(store: SqliteStore, name: str) -> list[int]:
    return [link.uid for link in read(store, name).status.links]


# ---- the protocol, end to end ------------------------------------------------------------


def test_the_second_pod_up_makes_both_ends_with_one_remote_call(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], store: SqliteStore
) -> None:
    node_a, node_b, remote = nodes
    load(store, pair(rate=None))

    (first,) = node_a.setup_pods([SetupRequest("r1", "default", NS_R1)])
    (second,) = node_b.setup_pods([SetupRequest("r2", "default", NS_R2)])

    assert first.ok and second.ok, (first.error, second.error)
    assert first.skipped and "not up" in first.skipped[0]  # r2 was not up yet
    assert [(e.pod, e.node_ip, e.vtep) for e in remote.updates] == [("r1", NODE_A, NODE_B)]
    (r1_end,) = fake(node_a).read(NS_R1)
    (r2_end,) = fake(node_b).read(NS_R2)
    assert r1_end.vxlan is not None and r2_end.vxlan is not None
    assert (r1_end.vxlan.remote, r2_end.vxlan.remote) == (NODE_B, NODE_A)
    assert r1_end.vxlan.vni == r2_end.vxlan.vni
    assert plumbed(store, "r1") == [1] and plumbed(store, "r2") == [1]


def test_a_far_end_that_fails_leaves_the_link_unrecorded_and_says_why(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], store: SqliteStore
) -> None:
    node_a, node_b, remote = nodes
    load(store, pair(rate=None))
    assert node_a.setup_pods([SetupRequest("r1", "default", NS_R1)])[0].ok
    remote.fail = TemporaryError("node A's daemon is unreachable")

    (second,) = node_b.setup_pods([SetupRequest("r2", "default", NS_R2)])

    assert isinstance(second.error, TemporaryError)
    assert "default/r2: link 1: node A's daemon is unreachable" in str(second.error)
    assert plumbed(store, "r2") == [] and plumbed(store, "r1") == []


def test_a_pod_going_down_asks_the_peer_node_to_remove_its_far_end(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], store: SqliteStore
) -> None:
    node_a, node_b, remote = nodes
    both_up(nodes, store)

    (down,) = node_b.destroy_pods([PodRef(namespace="default", name="r2")])

    assert down.ok, down.error
    assert [(e.pod, e.node_ip, e.vtep) for e in remote.deletes] == [("r1", NODE_A, NODE_B)]
    assert fake(node_a).names(NS_R1) == set() and fake(node_b).names(NS_R2) == set()
    assert plumbed(store, "r1") == []


def test_a_far_end_asked_for_early_is_taken_back_when_the_plan_does_not_want_it(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_a, node_b, remote = nodes
    load(store, pair(rate=None))
    assert node_a.setup_pods([SetupRequest("r1", "default", NS_R1)])[0].ok
    write_statuses = node_b.records.write_statuses

    def r1_down_before_b_marks(*args: object, **kwargs: object) -> object:
        # After B's early request made r1's far end on node A, r1 is recorded down.
        assert fake(node_a).names(NS_R1) == {"eth1"}
        rv = store.get("default", "r1")["metadata"]["resourceVersion"]
        store.write_status("default", "r1", resource_version=rv, status={"src_ip": "", "net_ns": ""})
        return write_statuses(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(node_b.records, "write_statuses", r1_down_before_b_marks)

    (second,) = node_b.setup_pods([SetupRequest("r2", "default", NS_R2)])

    assert second.ok, second.error
    assert [(e.pod, e.node_ip, e.uid) for e in remote.deletes] == [("r1", NODE_A, 1)]
    assert fake(node_a).names(NS_R1) == set() and fake(node_b).names(NS_R2) == set()


def test_remote_delete_leaves_an_end_already_pointing_at_another_node(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], store: SqliteStore
) -> None:
    node_a, _, _ = nodes
    both_up(nodes, store)
    (r1_end,) = fake(node_a).read(NS_R1)
    assert r1_end.vxlan is not None
    stale = RemoteEnd(
        pod="r1",
        kube_ns="default",
        node_ip=NODE_A,
        uid=1,
        vni=r1_end.vxlan.vni,
        vtep="10.199.0.9",  # a node r2 is no longer on
        endpoint=Endpoint(netns=NS_R1, name="eth1"),
    )

    assert node_a.remote_delete_many([stale]) == [None]
    assert fake(node_a).names(NS_R1) == {"eth1"}


# ---- the pure decisions --------------------------------------------------------------------


def _end(pod: str, node_ip: str, uid: int = 1) -> RemoteEnd:
    return RemoteEnd(
        pod=pod, kube_ns="default", node_ip=node_ip, uid=uid, vni=5000 + uid, vtep=NODE_B,
        endpoint=Endpoint(netns=NS_R1, name="eth1"),
    )  # fmt: skip


def _job(name: str, links: list[dict[str, object]], *, node_ip: str = NODE_B, netns: str = NS_R2) -> PodJob:
    topo = topology_from_dict(topology(name, links))
    alive = replace(topo, status=replace(topo.status, src_ip=node_ip, net_ns=netns))
    return PodJob(alive, alive.links)


def _answered(answers: Answers) -> Future[Answers]:
    future: Future[Answers] = Future()
    future.set_result(answers)
    return future


def _cross(end: RemoteEnd) -> CrossNode:
    link = Link(end.uid, "r1", "eth1", "eth1")
    spec = VxlanSpec(
        uid=end.uid, endpoint=end.endpoint, vni=end.vni, remote=NODE_A, local=NODE_B, underlay="u0"
    )
    return CrossNode(link, "default/r1", spec=spec, remote=end)


def test_split_pushes_confirms_takes_back_and_asks_again() -> None:
    job = _job("r2", [])
    same, moved, gone, changed = (_end("r1", NODE_A, uid) for uid in (1, 2, 3, 4))
    pairs = [(job, _cross(e)) for e in (same, moved, gone, changed)]
    early: list[Push] = [(pairs, _answered([None, None, None, TemporaryError("x")]))]
    wanted = {
        (id(job), 1): same,  # exactly as asked
        (id(job), 2): replace(moved, node_ip="10.199.0.3"),  # now on another node
        (id(job), 4): replace(changed, vni=9999),  # same node, other VXLAN
    }  # (uid 3 is wanted nowhere)

    confirmed, take_back = split_pushes(early, wanted)

    assert [[d.remote.uid for _, d in pairs] for pairs, _ in confirmed] == [[1]]
    assert [[d.remote.uid for _, d in pairs] for pairs, _ in take_back] == [[2, 3]]
    assert confirmed[0][1].result() == [None]
    assert take_back[0][1].result() == [None, None]


def test_part_of_passes_a_failed_call_on_to_every_part() -> None:
    whole: Future[Answers] = Future()
    part = part_of(whole, [False, True])
    whole.set_exception(TemporaryError("peer gone"))
    with pytest.raises(TemporaryError):
        part.result()


def test_by_node_groups_far_ends_per_node_in_order() -> None:
    ends = [_end("a", NODE_A, 1), _end("b", NODE_B, 2), _end("c", NODE_A, 3)]
    grouped = by_node((e, e.uid) for e in ends)
    assert {node: [tag for _, tag in items] for node, items in grouped.items()} == {
        NODE_A: [1, 3],
        NODE_B: [2],
    }


def _link(uid: int, peer: str) -> dict[str, object]:
    return {"uid": uid, "peer_pod": peer, "local_intf": f"eth{uid}", "peer_intf": f"eth{uid}"}


def test_early_far_ends_only_when_a_peer_is_up_on_another_node() -> None:
    job = _job("r2", [_link(1, "r1")])
    r1 = topology_from_dict(topology("r1", [_link(1, "r2")]))
    node = NodeInfo(NODE_B, "u0", None, 1500)
    down: dict[str, Topology] = {"default/r1": r1}
    up = {"default/r1": replace(r1, status=replace(r1.status, src_ip=NODE_A, net_ns=NS_R1))}

    assert early_far_ends([job], down, node) == []
    ((asked_job, decision),) = early_far_ends([job], up, node)
    assert asked_job is job and (decision.remote.pod, decision.remote.node_ip) == ("r1", NODE_A)


def test_a_batch_is_closed_when_every_peer_is_in_it() -> None:
    r1, r2 = _job("r1", [_link(1, "r2")]), _job("r2", [_link(1, "r1"), _link(2, "r3")])
    assert peer_keys([r1, r2]) == {"default/r3"}
    assert not is_closed([r1, r2])
    assert is_closed([r1, _job("r2", [_link(1, "r1")])])


# ---- races with a pod going down -----------------------------------------------------------


class HeldRemote(DirectRemote):
    """DirectRemote whose far ends are made at once but whose answers are held back until
    ``release``: the SetupPod that asked waits in its last step, with its locks released."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = threading.Event()
        self.held: list[tuple[Future[Answers], Answers]] = []

    def start_update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Future[Answers]:
        future: Future[Answers] = Future()
        self.held.append((future, self.update_many(node_ip, ends)))
        self.asked.set()
        return future

    def release(self) -> None:
        for future, answers in self.held:
            future.set_result(answers)


def test_a_destroy_pod_while_setup_pod_waits_for_peers_is_not_overwritten(store: SqliteStore) -> None:
    node_a, node_b, remote = two_nodes(store, HeldRemote())
    load(store, pair(rate=None))
    assert node_a.setup_pods([SetupRequest("r1", "default", NS_R1)])[0].ok
    outcomes: list[PodOutcome] = []
    setup = threading.Thread(
        target=lambda: outcomes.extend(node_b.setup_pods([SetupRequest("r2", "default", NS_R2)]))
    )
    setup.start()
    try:
        assert remote.asked.wait(timeout=30)
        # Runs once the SetupPod released its locks to wait for node A's answer.
        (down,) = node_b.destroy_pods([PodRef(namespace="default", name="r2")])
        assert down.ok, down.error
    finally:
        remote.release()
        setup.join(timeout=30)
    assert not setup.is_alive()
    r2 = read(store, "r2").status
    assert (r2.src_ip, r2.net_ns, r2.links) == ("", "", ())
    assert plumbed(store, "r1") == []
    assert fake(node_b).names(NS_R2) == set()
    # The far end made for the SetupPod is taken back, whenever it was made.
    assert fake(node_a).names(NS_R1) == set()


def test_a_recorded_path_that_names_another_namespace_now_gets_no_far_end_and_no_update(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], store: SqliteStore
) -> None:
    node_a, node_b, _ = nodes
    load(store, pair(rate=None))
    assert node_a.setup_pods([SetupRequest("r1", "default", NS_R1)])[0].ok
    assert read(store, "r1").status.net_ns_id == fake(node_a).namespace_id(NS_R1)
    fake(node_a).recreate(NS_R1)  # r1 died; a new namespace got its path

    (second,) = node_b.setup_pods([SetupRequest("r2", "default", NS_R2)])

    assert "is gone or is another namespace now" in str(second.error)
    assert fake(node_a).names(NS_R1) == set()
    assert plumbed(store, "r1") == [] and plumbed(store, "r2") == []
    assert node_a.update_links(PodRef(namespace="default", name="r1"), read(store, "r1").links) == 0


def test_a_late_del_of_an_old_sandbox_leaves_the_new_one_and_its_del_removes_it(store: SqliteStore) -> None:
    new_ns = "/run/netns/fake-r2-again"
    node = LinkManager(
        store=store, dataplane=FakeDataplane({NS_R1, NS_R2, new_ns}), node=NodeInfo(NODE_A, "u0", None, 1500)
    )
    load(store, pair(rate=None))
    r2 = PodRef(namespace="default", name="r2")
    assert node.setup_pods([SetupRequest("r1", "default", NS_R1, "c-r1")])[0].ok
    assert node.setup_pods([SetupRequest("r2", "default", NS_R2, "c-old")])[0].ok
    assert node.setup_pods([SetupRequest("r2", "default", new_ns, "c-new")])[0].ok  # restarted
    assert read(store, "r2").status.container_id == "c-new"
    assert fake(node).names(new_ns) == {"eth1"}

    for late in (Sandbox(NS_R2, "c-old"), Sandbox("", "c-old"), Sandbox(NS_R2, "")):
        (outcome,) = node.destroy_pods([r2], sandboxes={r2.key: late})
        assert outcome.ok and outcome.in_topology
        assert fake(node).names(new_ns) == {"eth1"} and plumbed(store, "r2") == [1]

    (outcome,) = node.destroy_pods([r2], sandboxes={r2.key: Sandbox(new_ns, "c-new")})
    assert outcome.ok
    assert fake(node).names(new_ns) == set()  # (the fake keeps a veth's other end; the kernel does not)
    assert plumbed(store, "r2") == [] and plumbed(store, "r1") == []


def test_a_status_without_the_namespace_identity_falls_back_to_the_path(
    nodes: tuple[LinkManager, LinkManager, DirectRemote], store: SqliteStore
) -> None:
    node_a, _, _ = nodes
    load(store, pair(rate=None))
    assert node_a.setup_pods([SetupRequest("r1", "default", NS_R1)])[0].ok
    # As a CRD that prunes unknown status fields (kube-dtn's) or an older daemon leaves it.
    obj = store.get("default", "r1")
    status = {k: v for k, v in obj["status"].items() if k not in ("net_ns_id", "container_id")}
    store.write_status("default", "r1", resource_version=obj["metadata"]["resourceVersion"], status=status)
    r1 = read(store, "r1")
    assert r1.status.net_ns_id == "" and node_a.records.namespace_still(r1)
    fake(node_a).recreate(NS_R1)
    assert node_a.records.namespace_still(r1)  # the path is all there is to go by
    fake(node_a).namespaces.discard(NS_R1)
    assert not node_a.records.namespace_still(r1)
