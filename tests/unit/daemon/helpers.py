"""Topologies built in code for the daemon's tests."""

from __future__ import annotations

from dataclasses import replace

from kubedtn.model import Link, LinkProperties, Topology, TopologyStatus


def link(
    uid: int,
    peer: str,
    *,
    local: str = "eth1",
    remote: str = "eth1",
    ips: tuple[str, ...] = (),
    peer_ips: tuple[str, ...] = (),
    mtu: int | None = None,
    props: LinkProperties | None = None,
    mac: str | None = None,
    peer_mac: str | None = None,
) -> Link:
    return Link(
        uid=uid,
        peer_pod=peer,
        local_intf=local,
        peer_intf=remote,
        local_ips=ips,
        peer_ips=peer_ips,
        local_mac=mac,
        peer_mac=peer_mac,
        mtu=mtu,
        properties=props or LinkProperties(),
    )


def pod(name: str, *links: Link, node: str = "", netns: str = "", namespace: str = "default") -> Topology:
    return Topology(
        name=name, namespace=namespace, links=links, status=TopologyStatus(src_ip=node, net_ns=netns)
    )


def alive(topo: Topology, node: str, netns: str) -> Topology:
    return replace(topo, status=replace(topo.status, src_ip=node, net_ns=netns))
