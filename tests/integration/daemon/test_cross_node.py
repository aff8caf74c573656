"""Cross-node links: two "nodes" (namespaces joined by an underlay), a manager on each, one store.

The far end is created through ``Remote.Update`` — here handed straight to the other node's
manager (issue 5 runs a daemon process per node and sends it over gRPC).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubedtn.daemon.manager import LinkManager, PodRef, SetupRequest
from kubedtn.daemon.plan import NodeInfo, RemoteEnd
from kubedtn.dataplane import Dataplane, Endpoint, NamespaceNotFoundError
from kubedtn.store import SqliteStore
from tests.integration.daemon.topologies import load, pair, read, ready
from tests.support.netns import NamespacePool, links_by_name, path, sh, udp_echo

pytestmark = pytest.mark.root

NODE_A, NODE_B = "10.199.0.1", "10.199.0.2"


class DirectRemote:
    """Remote.Update delivered to the manager of the node with that IP."""

    def __init__(self) -> None:
        self.managers: dict[str, LinkManager] = {}
        self.calls: list[RemoteEnd] = []

    def update(self, end: RemoteEnd) -> None:
        self.calls.append(end)
        self.managers[end.node_ip].remote_update(end)


@pytest.fixture
def nodes(pool: NamespacePool, store: SqliteStore) -> Iterator[tuple[LinkManager, LinkManager, DirectRemote]]:
    na, nb = pool.make(2)
    sh(na, "ip", "link", "add", "u0", "type", "veth", "peer", "name", "u0", "netns", nb)
    for ns, ip in ((na, NODE_A), (nb, NODE_B)):
        sh(ns, "ip", "addr", "add", f"{ip}/24", "dev", "u0")
        sh(ns, "ip", "link", "set", "u0", "up")
    remote = DirectRemote()
    dp = Dataplane()
    a = LinkManager(store=store, dataplane=dp, node=NodeInfo(NODE_A, "u0", path(na)), remote=remote)
    b = LinkManager(store=store, dataplane=dp, node=NodeInfo(NODE_B, "u0", path(nb)), remote=remote)
    remote.managers = {NODE_A: a, NODE_B: b}
    yield a, b, remote


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
        assert (data["id"], data["remote"]) == (5001, vtep)  # type: ignore[index]
    assert udp_echo(client_ns=pa, client_ip="10.0.1.1", server_ns=pb, server_ip="10.0.1.2") == 3
    for name in ("r1", "r2"):
        assert ready(store, name) == ("True", "LinksUp")
    assert read(store, "r1").status.src_ip == NODE_A and read(store, "r2").status.src_ip == NODE_B
    assert node_a.check_pod(PodRef("r1", "default")).problems == ()

    (down,) = node_b.destroy_pods([PodRef("r2", "default")])
    assert down.ok and "eth1" not in links_by_name(pb)
    assert read(store, "r1").status.skipped == ("r2",)


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
    with pytest.raises(NamespaceNotFoundError, match="is not running in /run/netns/kdtn-t-old"):
        node_a.remote_update(stale)
    assert "eth1" not in links_by_name(pa)
