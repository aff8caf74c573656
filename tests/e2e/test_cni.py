"""The CNI path end to end: a runtime (kubedtn.lab.cniruntime) execs Debian's bridge plugin
and then the built dist/kubedtn with env + stdin, kubedtn calls a real daemon, the daemon
plumbs real veth links with their properties.

Topologies are kube-dtn's examples, unchanged, loaded into the daemon's store.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedtn.lab.cniruntime import Attachment, PluginError, parse_network_list
from kubedtn.model import documents
from kubedtn.model.objects import topology_to_dict
from tests.support import zipapp
from tests.support.cninode import CniNode, addresses, cni_node, links
from tests.support.daemon import DaemonHandle, running_daemon
from tests.support.netns import qdiscs, udp_echo, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.root]

SAMPLES = zipapp.REPO / "examples" / "kube-dtn"  # kube-dtn's own files (see SOURCE.md there)
RING_LINKS = {  # kube-dtn's 3-node ring: pod → {interface: address}
    "r1": {"eth1": "12.12.12.1/24", "eth2": "13.13.13.1/24"},
    "r2": {"eth1": "12.12.12.2/24", "eth2": "23.23.23.2/24"},
    "r3": {"eth1": "13.13.13.3/24", "eth2": "23.23.23.3/24"},
}


def sample(name: str) -> Path:
    return SAMPLES / name


def load(daemon: DaemonHandle, objects: list[dict[str, Any]]) -> None:
    """Topology objects into the daemon's store; waits until its pod list names them."""
    store = daemon.store()
    try:
        for obj in objects:
            store.create(obj)
    finally:
        store.close()
    wanted = {f"{o['metadata'].get('namespace', 'default')}/{o['metadata']['name']}" for o in objects}

    def listed() -> bool:
        try:
            return wanted <= set(json.loads(daemon.pod_list_path.read_text())["pods"])
        except (OSError, ValueError, KeyError):
            return False

    wait_until(listed, timeout_s=20, what=f"the daemon's pod list to name {sorted(wanted)}")


def topologies_of(path: Path) -> list[dict[str, Any]]:
    return [topology_to_dict(t, with_status=False) for t in documents.load_topologies([path])]


@pytest.fixture
def daemon() -> Iterator[DaemonHandle]:
    with running_daemon() as handle:
        yield handle


@pytest.fixture
def node(daemon: DaemonHandle, tmp_path: Path) -> Iterator[CniNode]:
    with cni_node(
        executable=zipapp.executable(),
        work=tmp_path,
        daemon_socket=str(daemon.socket_path),
        pod_list=str(daemon.pod_list_path),
    ) as n:
        yield n


def ring_links_exist(node: CniNode) -> bool:
    return all(all(intf in links(node.netns(pod)) for intf in intfs) for pod, intfs in RING_LINKS.items())


# ---- the ring ------------------------------------------------------------------------------


def test_three_node_ring_comes_up_carries_traffic_and_has_its_properties(
    daemon: DaemonHandle, node: CniNode
) -> None:
    load(daemon, topologies_of(sample("bandwidth.yaml")))  # the 3-node ring with rates
    results = {pod: node.add(pod) for pod in RING_LINKS}

    # kubedtn passed bridge's result on: eth0 as bridge made it, in the pod's namespace.
    for pod, result in results.items():
        eth0 = links(node.netns(pod))["eth0"]
        [sandbox] = [i for i in result["interfaces"] if i.get("sandbox")]
        assert (sandbox["name"], sandbox["mac"], sandbox["sandbox"]) == (
            "eth0",
            eth0["address"],
            node.sandboxes[pod].netns,
        )
        assert {ip["address"] for ip in result["ips"]} == addresses(node.netns(pod), "eth0")

    # Every link exists once, with its addresses; each veth's peer is the other pod's end.
    for pod, intfs in RING_LINKS.items():
        present = links(node.netns(pod))
        assert set(present) == {"lo", "eth0", *intfs}
        for intf, address in intfs.items():
            assert addresses(node.netns(pod), intf) == {address}
            assert present[intf]["linkinfo"]["info_kind"] == "veth"

    pairs = [
        ("r1", "12.12.12.1", "r2", "12.12.12.2"),
        ("r1", "13.13.13.1", "r3", "13.13.13.3"),
        ("r2", "23.23.23.2", "r3", "23.23.23.3"),
    ]
    for a, a_ip, b, b_ip in pairs:
        assert udp_echo(client_ns=node.netns(a), client_ip=a_ip, server_ns=node.netns(b), server_ip=b_ip) == 3

    # Properties: r1's eth2 is limited to 20Mbit (tbf on egress in the pod's namespace).
    tbf = [q for q in qdiscs(node.netns("r1"), "eth2") if q["kind"] == "tbf"]
    assert len(tbf) == 1, qdiscs(node.netns("r1"), "eth2")
    assert tbf[0]["options"]["rate"] == 20_000_000 // 8  # tc -j reports bytes/s
    assert [q["kind"] for q in qdiscs(node.netns("r2"), "eth1") if q["kind"] == "tbf"] == ["tbf"]

    # The pods also talk over the primary network (eth0, bridge).
    r1_eth0, r2_eth0 = (next(iter(addresses(node.netns(p), "eth0"))).split("/")[0] for p in ("r1", "r2"))
    assert (
        udp_echo(client_ns=node.netns("r1"), client_ip=r1_eth0, server_ns=node.netns("r2"), server_ip=r2_eth0)
        == 3
    )


def test_check_passes_then_detects_a_deleted_link(daemon: DaemonHandle, node: CniNode) -> None:
    load(daemon, topologies_of(sample("3node.yml")))
    for pod in RING_LINKS:
        node.add(pod)
    network = node.network()
    node.runtime.check(network, node.sandboxes["r1"], prev_result=node.results["r1"])

    from tests.support.netns import sh

    sh(node.netns("r1"), "ip", "link", "del", "eth1")  # the veth pair goes: r2's eth1 too
    with pytest.raises(PluginError) as caught:
        node.runtime.check(network, node.sandboxes["r1"], prev_result=node.results["r1"])
    assert (caught.value.plugin, caught.value.code) == ("kubedtn", 102)
    assert "eth1" in caught.value.msg and caught.value.msg.startswith("CHECK of pod default/r1: ")
    with pytest.raises(PluginError) as caught:
        node.runtime.check(network, node.sandboxes["r2"], prev_result=node.results["r2"])
    assert "eth1" in caught.value.msg
    node.runtime.check(network, node.sandboxes["r3"], prev_result=node.results["r3"])  # r3 is whole


def test_del_twice_and_del_without_prev_result(daemon: DaemonHandle, node: CniNode) -> None:
    load(daemon, topologies_of(sample("3node.yml")))
    for pod in RING_LINKS:
        node.add(pod)
    node.delete("r1", prev_result=node.results["r1"])
    assert set(links(node.netns("r1"))) == {"lo"}  # bridge took eth0, kubedtn the links
    assert "eth1" not in links(node.netns("r2")) and "eth1" not in links(node.netns("r3"))
    assert "eth2" in links(node.netns("r2"))  # r2-r3 stays
    node.delete("r1", prev_result=node.results["r1"])  # again: still fine

    # kubedtn alone, no prevResult, no netns (the sandbox is gone): success, nothing printed.
    attachment = node.sandboxes["r2"]
    config = {"cniVersion": "1.0.0", "name": "x", **node.kubedtn_entry()}
    no_netns = type(attachment)(attachment.container_id, "", attachment.ifname, attachment.args)
    assert node.exec_kubedtn("DEL", no_netns, config) == (0, None)
    assert node.exec_kubedtn("DEL", no_netns, config) == (0, None)
    assert "eth2" not in links(node.netns("r2"))  # r2's links went with DestroyPod
    assert "eth2" not in links(node.netns("r3"))


def test_re_add_after_del_rewires_the_pod(daemon: DaemonHandle, node: CniNode) -> None:
    load(daemon, topologies_of(sample("3node.yml")))
    for pod in RING_LINKS:
        node.add(pod)
    node.delete("r2", prev_result=node.results["r2"])
    node.add("r2")
    assert ring_links_exist(node)
    assert (
        udp_echo(
            client_ns=node.netns("r1"),
            client_ip="12.12.12.1",
            server_ns=node.netns("r2"),
            server_ip="12.12.12.2",
        )
        == 3
    )


def test_a_late_del_of_an_old_sandbox_leaves_the_pods_new_sandbox_wired(
    daemon: DaemonHandle, node: CniNode
) -> None:
    load(daemon, topologies_of(sample("3node.yml")))
    for pod in RING_LINKS:
        node.add(pod)
    old = node.sandboxes["r2"]
    # r2's sandbox is replaced (restarted) before the runtime's DEL of the old one arrives.
    (name,) = node.pool.make(1)
    new = Attachment(f"{old.container_id}-2", f"/run/netns/{name}", old.ifname, old.args)
    node.sandboxes["r2-old"], node.sandboxes["r2"] = old, new
    node.add("r2")
    assert ring_links_exist(node)

    node.runtime.delete(node.network(), old, prev_result=None)  # late, and repeated
    node.runtime.delete(node.network(), old, prev_result=None)
    assert ring_links_exist(node)
    assert (
        udp_echo(client_ns=node.netns("r1"), client_ip="12.12.12.1", server_ns=name, server_ip="12.12.12.2")
        == 3
    )

    node.delete("r2")
    assert "eth1" not in links(name) and "eth1" not in links(node.netns("r1"))
    assert "eth2" not in links(node.netns("r3"))


# ---- pods outside every topology, the daemon down -----------------------------------------


def test_add_of_another_pod_returns_prev_result_unchanged_also_with_the_daemon_stopped(
    daemon: DaemonHandle, node: CniNode
) -> None:
    load(daemon, topologies_of(sample("3node.yml")))
    result = node.add("web")  # bridge + kubedtn: not in any topology
    assert set(links(node.netns("web"))) == {"lo", "eth0"}

    prev = json.loads(json.dumps(result))  # bridge's own result, as a runtime hands it on
    config = {"cniVersion": "1.0.0", "name": node.network().name, **node.kubedtn_entry(), "prevResult": prev}
    assert node.exec_kubedtn("ADD", node.sandboxes["web"], config) == (0, prev)

    # Stopped: had kubedtn tried the daemon, these would fail with code 11 after the wait.
    daemon.kill()
    assert node.exec_kubedtn("ADD", node.sandboxes["web"], config) == (0, prev)
    assert node.exec_kubedtn("DEL", node.sandboxes["web"], config) == (0, None)
    assert node.exec_kubedtn("CHECK", node.sandboxes["web"], config) == (0, None)

    # A topology pod does wait, then says why.
    r1 = node.sandbox("r1")
    code, error = node.exec_kubedtn("ADD", r1, {**config, "daemonWaitSeconds": 1})
    assert code == 1 and error is not None
    assert error["code"] == 11
    assert error["msg"] == (
        f"kubedtn daemon not reachable at {daemon.socket_path} after 1s: "
        "is the kubedtn DaemonSet running on this node?"
    )


def test_status_stays_ready_with_the_daemon_down_and_logs_it(daemon: DaemonHandle, node: CniNode) -> None:
    """A STATUS error would mark the node's network NotReady, yet pods in no topology start
    without the daemon (kubedtn.cni.status)."""
    network = parse_network_list({"cniVersion": "1.1.0", "name": "status", "plugins": [node.kubedtn_entry()]})
    node.runtime.status(network)
    assert f"cmd=STATUS daemon={daemon.socket_path} reachable=yes" in node.log.read_text()
    daemon.kill()
    node.runtime.status(network)  # no PluginError
    assert f"cmd=STATUS daemon={daemon.socket_path} reachable=no" in node.log.read_text()
    daemon.start()
    node.runtime.status(network)


# ---- concurrency and bad input ---------------------------------------------------------------


def shared_links_topology(pods: int) -> list[dict[str, Any]]:
    """pods in a ring with chords: pod i links to i+1 and i+2, so every pod shares 4 links."""
    ends: dict[int, list[dict[str, Any]]] = {i: [] for i in range(pods)}
    uid = 0
    for i in range(pods):
        for step in (1, 2):
            j = (i + step) % pods
            uid += 1
            subnet = f"10.{90 + uid // 250}.{uid % 250}"
            ends[i].append(
                {
                    "uid": uid,
                    "peer_pod": f"c{j}",
                    "local_intf": f"e{uid}",
                    "peer_intf": f"e{uid}",
                    "local_ip": f"{subnet}.1/30",
                    "peer_ip": f"{subnet}.2/30",
                }
            )
            ends[j].append(
                {
                    "uid": uid,
                    "peer_pod": f"c{i}",
                    "local_intf": f"e{uid}",
                    "peer_intf": f"e{uid}",
                    "local_ip": f"{subnet}.2/30",
                    "peer_ip": f"{subnet}.1/30",
                }
            )
    return [
        {
            "apiVersion": "kubedtn.io/v1",
            "kind": "Topology",
            "metadata": {"name": f"c{i}", "namespace": "default"},
            "spec": {"links": ends[i]},
        }
        for i in range(pods)
    ]


def test_twenty_concurrent_adds_make_every_shared_link_exactly_once(
    daemon: DaemonHandle, node: CniNode
) -> None:
    pods = 20
    objects = shared_links_topology(pods)
    load(daemon, objects)
    for i in range(pods):
        node.sandbox(f"c{i}")
    errors: list[BaseException] = []
    barrier = threading.Barrier(pods)

    def add(pod: str) -> None:
        try:
            barrier.wait(timeout=30)
            node.add(pod)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=add, args=(f"c{i}",)) for i in range(pods)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors

    # Each pod has exactly its 4 interfaces (plus lo, eth0); each veth's peer is the other end.
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        pod = obj["metadata"]["name"]
        present = links(node.netns(pod))
        expected = {link["local_intf"] for link in obj["spec"]["links"]}
        assert set(present) == {"lo", "eth0", *expected}, pod
        for intf in expected:
            seen[(pod, intf)] = present[intf]
    for obj in objects:
        pod = obj["metadata"]["name"]
        for link in obj["spec"]["links"]:
            mine, theirs = seen[(pod, link["local_intf"])], seen[(link["peer_pod"], link["peer_intf"])]
            assert mine["link_index"] == theirs["ifindex"] and theirs["link_index"] == mine["ifindex"]
            assert addresses(node.netns(pod), link["local_intf"]) == {link["local_ip"]}
    assert len(seen) == 2 * 2 * pods  # 40 links, two ends each


def test_bad_topology_is_a_precise_error_and_the_pod_is_not_half_wired(
    daemon: DaemonHandle, node: CniNode
) -> None:
    good = topologies_of(sample("3node.yml"))
    r1 = next(o for o in good if o["metadata"]["name"] == "r1")
    bad_link = {**r1["spec"]["links"][1], "local_ip": "13.13.13.300/24"}  # the second of two links
    load(
        daemon,
        [
            {**r1, "spec": {"links": [r1["spec"]["links"][0], bad_link]}},
            *(o for o in good if o["metadata"]["name"] != "r1"),
        ],
    )
    node.add("r2")
    node.add("r3")
    with pytest.raises(PluginError) as caught:
        node.add("r1")
    assert caught.value.plugin == "kubedtn"
    assert caught.value.code == 7, caught.value
    assert "13.13.13.300/24" in str(caught.value) and "r1" in str(caught.value)
    # Neither link of r1 was made: not the good one (to r2) either.
    assert "eth1" not in links(node.netns("r1")) and "eth2" not in links(node.netns("r1"))
    assert "eth1" not in links(node.netns("r2"))
