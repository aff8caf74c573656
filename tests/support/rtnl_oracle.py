"""The dataplane's netlink requests decoded by pyroute2: the oracle of its own codec.

pyroute2 is an independent implementation of rtnetlink that kubedtn does not use at run
time (the dataplane encodes with ``struct``). ``decode(request)`` gives the request as
pyroute2 reads it; ``plain(message)`` turns that into nested dicts of pyroute2's names
(``{"index": 7, "IFLA_IFNAME": "eth1", "IFLA_LINKINFO": {...}}``), so a test compares a
whole message with what was asked, and an extra, missing or unknown attribute fails it.

pyroute2 0.9.7's option classes of netem and tbf end before the attributes the dataplane
sends for 64-bit times and rates and the byte-sized bucket (netem's LATENCY64/JITTER64,
tbf's RATE64/BURST); they are added to its classes here, numbered and typed as in
linux/pkt_sched.h, so those are decoded too instead of showing up as ``UNKNOWN``.
"""

from __future__ import annotations

import struct
from typing import Any

from pyroute2.netlink import NLM_F_REQUEST
from pyroute2.netlink.rtnl import (
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_DELQDISC,
    RTM_GETADDR,
    RTM_GETLINK,
    RTM_GETNSID,
    RTM_GETQDISC,
    RTM_NEWADDR,
    RTM_NEWLINK,
    RTM_NEWQDISC,
    RTM_SETLINK,
)
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
from pyroute2.netlink.rtnl.tcmsg import sched_netem, sched_tbf, tcmsg

from kubedtn.dataplane.netlink import Request


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
