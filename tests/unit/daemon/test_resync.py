"""The resync's decisions: which links it asks for again, and when it runs next."""

from __future__ import annotations

from dataclasses import replace

from kubedtn.daemon.resync import Resync, missing_links
from kubedtn.model import Topology
from tests.unit.daemon.helpers import link, pod


def alive(topo: Topology, *plumbed: int) -> Topology:
    links = tuple(x for x in topo.links if x.uid in plumbed)
    return replace(topo, status=replace(topo.status, src_ip="10.0.0.1", net_ns="/n", links=links))


def test_missing_links_are_those_not_plumbed_whose_peer_is_up_or_no_pod() -> None:
    r1 = alive(
        pod(
            "r1",
            link(1, "r2"),
            link(2, "r3", local="eth2"),
            link(3, "localhost", local="eth3", remote="ens3"),
        )
    )
    pods = {"default/r2": alive(pod("r2", link(1, "r1"))), "default/r3": pod("r3", link(2, "r1"))}
    assert [x.uid for x in missing_links(r1, pods)] == [1, 3]  # r3 is not up: it brings link 2
    assert [x.uid for x in missing_links(alive(r1, 1, 3), pods)] == []


def test_the_next_pass_comes_sooner_after_failures_and_backs_off() -> None:
    resync = Resync(manager=None, interval=45, retry=(1, 2, 5))  # type: ignore[arg-type]
    assert [resync.delay(n) for n in range(5)] == [45, 1, 2, 5, 5]
