"""Reading a namespace's interfaces back, with what kubedtn made of them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from kubedtn.dataplane.live import LiveInterface
from kubedtn.dataplane.netns import namespace_exists
from kubedtn.dataplane.qdisc import properties_of
from kubedtn.dataplane.session import Session


def read_interfaces(
    netns: str, *, group: int, owned_only: bool = False, known: Iterable[str] = ()
) -> list[LiveInterface]:
    """The interfaces of a namespace with addresses, qdiscs (and the properties they
    emulate), counters. ``known`` namespaces (paths) are recognised as peers
    (``peer_netns``) when an interface's other end is in one of them."""
    with Session() as session:
        key = session.add(netns)
        links = session.read_links(key, stats=True)
        addresses = session.read_addresses(key)
        qdiscs = session.read_qdiscs(key)
        peers: dict[int, str] = {}
        for path in known:
            if not namespace_exists(path):
                continue
            other = session.add(path)
            if other != key:
                nsid = session.nsid(key, other)
                if nsid is not None:
                    peers[nsid] = path
    out: list[LiveInterface] = []
    for live in sorted(links.values(), key=lambda i: i.ifindex):
        if owned_only and live.group != group:
            continue
        qs = tuple(qdiscs.get(live.ifindex, ()))
        out.append(
            dataclasses.replace(
                live,
                addresses=tuple(a for a, _ in addresses.get(live.ifindex, ())),
                qdiscs=qs,
                properties=properties_of(qs),
                peer_netns=peers.get(live.link_netnsid) if live.link_netnsid is not None else None,
            )
        )
    return out
