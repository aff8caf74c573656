"""Kernel state read through pyroute2: links, addresses and qdiscs of a namespace.

The dataplane's integration tests check what it did with this independent reader, not
with the dataplane's own decoder (``Dataplane.read``), which they test against it. Each
call opens a pyroute2 ``IPRoute`` in the namespace (pyroute2 forks a short-lived child to
make the socket there; ``flags=0``: never create a missing namespace) and closes it before
returning.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.rtnl import TC_H_ROOT
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP

from tests.support.rtnl_oracle import fields_and_attrs

RT_SCOPE_LINK = 253
TICK_NS = 64  # the kernel's qdisc time unit (PSCHED_SHIFT 6 in include/net/pkt_sched.h)


@contextlib.contextmanager
def iproute(netns: str) -> Iterator[Any]:
    """An IPRoute in the named namespace (``ip netns`` name), closed afterwards."""
    ipr = IPRoute(netns=netns, flags=0, groups=0)
    try:
        yield ipr
    finally:
        ipr.close()


@dataclass(frozen=True)
class Link:
    name: str
    index: int
    kind: str | None  # IFLA_INFO_KIND: "veth", "vxlan", "macvlan"; None for lo
    up: bool  # administratively (IFF_UP)
    mtu: int
    mac: str | None
    group: int
    alias: str | None
    link: int | None  # IFLA_LINK: a veth's peer, a macvlan's parent, in link_netnsid's namespace
    link_netnsid: int | None
    info: dict[str, Any] = field(default_factory=dict)  # IFLA_INFO_DATA: {"IFLA_VXLAN_ID": 42, ...}
    counters: dict[str, int] = field(default_factory=dict)  # IFLA_STATS64: {"tx_bytes": ..., ...}


def _link(msg: Any) -> Link:
    linkinfo = msg.get_attr("IFLA_LINKINFO")
    kind = linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo is not None else None
    data = linkinfo.get_attr("IFLA_INFO_DATA") if linkinfo is not None else None
    stats = msg.get_attr("IFLA_STATS64")
    return Link(
        name=msg.get_attr("IFLA_IFNAME"),
        index=msg["index"],
        kind=kind,
        up=bool(msg["flags"] & IFF_UP),
        mtu=msg.get_attr("IFLA_MTU"),
        mac=msg.get_attr("IFLA_ADDRESS"),
        group=msg.get_attr("IFLA_GROUP"),
        alias=msg.get_attr("IFLA_IFALIAS"),
        link=msg.get_attr("IFLA_LINK"),
        link_netnsid=msg.get_attr("IFLA_LINK_NETNSID"),
        info=fields_and_attrs(data) if data is not None and not isinstance(data, str) else {},
        counters=dict(fields_and_attrs(stats)) if stats is not None else {},
    )


def links(netns: str) -> dict[str, Link]:
    """The namespace's interfaces by name."""
    with iproute(netns) as ipr:
        return {link.name: link for link in map(_link, ipr.get_links())}


def addresses(netns: str, dev: str, *, link_scope: bool = False) -> set[str]:
    """The addresses of dev as "addr/prefix"; link-scope ones (the kernel's own IPv6
    link-local address) only when asked for."""
    with iproute(netns) as ipr:
        (index,) = ipr.link_lookup(ifname=dev)
        return {
            f"{a.get_attr('IFA_LOCAL') or a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            for a in ipr.get_addr(index=index)
            if link_scope or a["scope"] != RT_SCOPE_LINK
        }


@dataclass(frozen=True)
class Qdisc:
    index: int
    handle: int
    parent: int
    kind: str
    options: dict[str, Any]  # TCA_OPTIONS by pyroute2's names: {"TCA_TBF_PARMS": {"rate": ...}}

    @property
    def root(self) -> bool:
        return bool(self.parent == TC_H_ROOT)

    @property
    def rate(self) -> int:
        """A tbf's rate in bytes/s."""
        return int(self.options["TCA_TBF_PARMS"]["rate"])

    @property
    def burst(self) -> int:
        """A tbf's bucket in bytes (the kernel keeps it as the time to send it at the rate)."""
        parms = self.options["TCA_TBF_PARMS"]
        return round(int(parms["buffer"]) * TICK_NS * int(parms["rate"]) / 1e9)


def qdiscs(netns: str, dev: str | None = None) -> list[Qdisc]:
    """The qdiscs of dev (of every interface when None), as the kernel dumps them."""
    with iproute(netns) as ipr:
        index = ipr.link_lookup(ifname=dev)[0] if dev is not None else None
        out = []
        for msg in ipr.get_qdiscs(index=index) if index is not None else ipr.get_qdiscs():
            options = msg.get_attr("TCA_OPTIONS")
            out.append(
                Qdisc(
                    index=msg["index"],
                    handle=msg["handle"],
                    parent=msg["parent"],
                    kind=msg.get_attr("TCA_KIND"),
                    options=fields_and_attrs(options) if options is not None else {},
                )
            )
        return out
