"""pyroute2 as the tests' oracle: an independent reading of our netlink messages and of the kernel.

pyroute2 is an implementation of rtnetlink that kubedtn does not use at run time (the
dataplane encodes with ``struct``; requirements-dev.txt has it). Two uses:

* Requests: ``decode(request)`` gives a dataplane request as pyroute2's message classes
  read it; ``plain(message)`` turns that into nested dicts of pyroute2's names
  (``{"index": 7, "IFLA_IFNAME": "eth1", "IFLA_LINKINFO": {...}}``), so a test compares a
  whole message with what was asked, and an extra, missing or unknown attribute fails it.
  pyroute2 0.9.7's option classes of netem and tbf end before the attributes the dataplane
  sends for 64-bit times and rates and the byte-sized bucket (netem's LATENCY64/JITTER64,
  tbf's RATE64/BURST); they are added to its classes here, numbered and typed as in
  linux/pkt_sched.h, so those are decoded too instead of showing up as ``UNKNOWN``.
* Kernel state: ``links``, ``addresses`` and ``qdiscs`` of a namespace. The dataplane's
  integration tests check what it did with these, not with its own decoder
  (``Dataplane.read``), which they test against them. Each call opens a pyroute2
  ``IPRoute`` in the namespace (pyroute2 forks a short-lived child to make the socket
  there; ``flags=0``: never create a missing namespace) and closes it before returning.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink import NLM_F_REQUEST
from pyroute2.netlink.rtnl import (
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_DELQDISC,
    RTM_DELTFILTER,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNSID,
    RTM_GETQDISC,
    RTM_GETTFILTER,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWQDISC,
    RTM_NEWTFILTER,
    RTM_SETLINK,
    TC_H_ROOT,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
from pyroute2.netlink.rtnl.tcmsg import sched_netem, sched_tbf, tcmsg

from kubedtn.dataplane.netlink import Request

# ---- requests, decoded ---------------------------------------------------------------------


class NetemOptions(sched_netem.options):  # type: ignore[misc]  # (pyroute2 is untyped)
    # pyroute2 compiles nla_map on first use and marks that in a class attribute
    # (nlmsg_base.__compiled_nla), which a subclass inherits: once the parent class has
    # decoded something, the subclass would use the parent's table. Start uncompiled.
    _nlmsg_base__compiled_nla = False
    nla_map = (
        *sched_netem.options.nla_map,  # ... TCA_NETEM_RATE (6)
        ("TCA_NETEM_ECN", "uint32"),
        ("TCA_NETEM_RATE64", "uint64"),
        ("TCA_NETEM_PAD", "hex"),
        ("TCA_NETEM_LATENCY64", "int64"),
        ("TCA_NETEM_JITTER64", "int64"),
    )


class TbfOptions(sched_tbf.options):  # type: ignore[misc]
    _nlmsg_base__compiled_nla = False  # (as above)
    nla_map = (
        *sched_tbf.options.nla_map,  # ... TCA_TBF_PTAB (3)
        ("TCA_TBF_RATE64", "uint64"),
        ("TCA_TBF_PRATE64", "uint64"),
        ("TCA_TBF_BURST", "uint32"),
        ("TCA_TBF_PBURST", "uint32"),
    )


class OracleTcmsg(tcmsg):  # type: ignore[misc]
    """pyroute2's tcmsg, with the netem and tbf options above."""

    _nlmsg_base__compiled_nla = False  # (as above: its table holds get_options)

    @staticmethod
    def get_options(msg: Any, *argv: Any, **kwarg: Any) -> Any:
        kind = msg.get_attr("TCA_KIND")
        if kind == "netem":
            return NetemOptions
        if kind == "tbf":
            return TbfOptions
        return tcmsg.get_options(msg, *argv, **kwarg)


# pyroute2's own numbering of the message types: a wrong type number in the dataplane
# picks no class (KeyError) or the wrong one.
_CLASSES: dict[int, Any] = {
    RTM_NEWLINK: ifinfmsg,
    RTM_DELLINK: ifinfmsg,
    RTM_GETLINK: ifinfmsg,
    RTM_SETLINK: ifinfmsg,
    RTM_NEWADDR: ifaddrmsg,
    RTM_DELADDR: ifaddrmsg,
    RTM_GETADDR: ifaddrmsg,
    RTM_NEWQDISC: OracleTcmsg,
    RTM_DELQDISC: OracleTcmsg,
    RTM_GETQDISC: OracleTcmsg,
    RTM_NEWTFILTER: OracleTcmsg,
    RTM_DELTFILTER: OracleTcmsg,
    RTM_GETTFILTER: OracleTcmsg,
    RTM_GETNSID: nsidmsg,
}


def decode(request: Request) -> Any:
    """The request as pyroute2 decodes it, with the nlmsghdr RouteSocket puts in front."""
    data = (
        struct.pack("=IHHII", 16 + len(request.body), request.kind, NLM_F_REQUEST | request.flags, 1, 0)
        + request.body
    )
    message = _CLASSES[request.kind](data)
    message.decode()
    return message


def plain(message: Any) -> dict[str, Any]:
    """A decoded message as a dict: the nlmsghdr's type and flags under "header", then
    what ``fields_and_attrs`` gives."""
    head = message["header"]
    return {"header": {"type": head["type"], "flags": head["flags"]}, **fields_and_attrs(message)}


def fields_and_attrs(message: Any) -> dict[str, Any]:
    """A message or nested attribute as a dict: its fixed fields (padding left out) and
    its attributes by name, nested ones as dicts too. An attribute pyroute2 does not know
    is kept as "UNKNOWN type N" (its length), so it cannot pass unseen."""
    out: dict[str, Any] = {
        name: message[name] for name, _ in message.fields if not name.startswith(("__", "pad"))
    }
    for slot in message.get("attrs", ()):
        name, value = slot[0], slot[1]
        if name == "UNKNOWN":
            name, value = f"UNKNOWN type {value['header']['type']}", value["header"]["length"]
        elif isinstance(value, dict):
            value = fields_and_attrs(value)
        if name in out:
            raise AssertionError(f"{name} appears twice in {message}")
        out[name] = value
    return out


# ---- kernel state ----------------------------------------------------------------------------

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
    gso_max_segs: int | None  # IFLA_GSO_MAX_SEGS: segments one packet may carry
    tso_max_segs: int | None  # IFLA_TSO_MAX_SEGS: the most gso_max_segs may be
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
        gso_max_segs=msg.get_attr("IFLA_GSO_MAX_SEGS"),
        tso_max_segs=msg.get_attr("IFLA_TSO_MAX_SEGS"),
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
