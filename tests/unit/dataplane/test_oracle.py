"""Every request the dataplane's netlink codec encodes, decoded by pyroute2 and compared
whole with what was asked: a field encoded wrongly, missing or extra fails its case.

The expected messages use pyroute2's names and constants, not the dataplane's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyroute2.netlink import NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.rtnl import (
    RTM_DELADDR,
    RTM_DELLINK,
    RTM_DELQDISC,
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
    TC_H_INGRESS,
    TC_H_ROOT,
)
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP

from kubedtn.dataplane import bpfmark, rtnl
from kubedtn.dataplane.netlink import Request, nla_u32
from kubedtn.dataplane.qdisc import NetemParams, QdiscAction, TbfParams
from tests.support.oracle import decode, plain

GROUP = 0x6B64746E
ETH_P_ALL = 0x0003  # linux/if_ether.h
TICK_NS = 64  # the kernel's qdisc time unit (PSCHED_SHIFT 6 in include/net/pkt_sched.h)
U32_MAX = 0xFFFF_FFFF
CREATE = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL
DUMP = NLM_F_REQUEST | NLM_F_DUMP
SKIP_STATS = 1 << 3  # RTEXT_FILTER_SKIP_STATS (linux/rtnetlink.h)


def link(kind: int, flags: int, index: int, *, up: int = 0, change: int = 0, **attrs: Any) -> dict[str, Any]:
    """An ifinfmsg as plain() gives it."""
    return {
        "header": {"type": kind, "flags": flags},
        **ifinfo(index, up=up, change=change),
        **attrs,
    }


def ifinfo(index: int, *, up: int = 0, change: int = 0) -> dict[str, Any]:
    return {"family": 0, "ifi_type": 0, "index": index, "flags": up, "change": change}


def address(kind: int, flags: int, family: int, prefixlen: int, index: int, **attrs: Any) -> dict[str, Any]:
    ifa_flags = IFA_F_NODAD if family == socket.AF_INET6 else 0
    return {
        "header": {"type": kind, "flags": flags},
        "family": family,
        "prefixlen": prefixlen,
        "flags": ifa_flags,
        "scope": 0,
        "index": index,
        **attrs,
    }


def qdisc(kind: int, flags: int, index: int, handle: int, parent: int, **attrs: Any) -> dict[str, Any]:
    return {
        "header": {"type": kind, "flags": flags},
        "family": 0,
        "index": index,
        "handle": handle,
        "parent": parent,
        "info": 0,
        **attrs,
    }


def ratespec(prefix: str, rate: int, linklayer: int) -> dict[str, int]:
    # pyroute2 calls tc_ratespec.linklayer "__reserved" (its name in older kernels)
    fields = {"cell_log": 0, "__reserved": linklayer, "overhead": 0, "cell_align": 0, "mpu": 0}
    return {**{f"{prefix}_{k}": v for k, v in fields.items()}, prefix: rate}


def tbf_parms(p: TbfParams) -> dict[str, int]:
    return {
        **ratespec("rate", min(p.rate, U32_MAX), 1),  # 1: TC_LINKLAYER_ETHERNET
        **ratespec("peak", 0, 0),
        "limit": p.limit,
        "buffer": p.burst * 10**9 // p.rate // TICK_NS,  # time to send the bucket at the rate
        "mtu": 0,
    }


NETEM = NetemParams(
    latency_ns=20_000_000,
    jitter_ns=1_500_000,
    limit=1234,
    loss=11,
    gap=12,
    duplicate=13,
    latency_corr=14,
    loss_corr=15,
    duplicate_corr=16,
    reorder=17,
    reorder_corr=18,
    corrupt=19,
    corrupt_corr=20,
)


def netem_options(p: NetemParams) -> dict[str, Any]:
    return {
        "delay": p.latency_ns // TICK_NS,
        "limit": p.limit,
        "loss": p.loss,
        "gap": p.gap,
        "duplicate": p.duplicate,
        "jitter": p.jitter_ns // TICK_NS,
        "TCA_NETEM_CORR": {
            "delay_corr": p.latency_corr,
            "loss_corr": p.loss_corr,
            "dup_corr": p.duplicate_corr,
        },
        "TCA_NETEM_REORDER": {"prob_reorder": p.reorder, "corr_reorder": p.reorder_corr},
        "TCA_NETEM_CORRUPT": {"prob_corrupt": p.corrupt, "corr_corrupt": p.corrupt_corr},
        "TCA_NETEM_RATE": {"rate": 0, "packet_overhead": 0, "cell_size": 0, "cell_overhead": 0},
        "TCA_NETEM_LATENCY64": p.latency_ns,
        "TCA_NETEM_JITTER64": p.jitter_ns,
    }


TBF = TbfParams(rate=6_250_000, burst=62_500, limit=375_000)
TBF64 = TbfParams(rate=12_500_000_000, burst=125_000_000, limit=750_000_000)


def replace(index: int, handle: int, parent: int, params: NetemParams | TbfParams) -> Request:
    return rtnl.qdisc_request(index, QdiscAction("replace", handle, parent, params.kind, params), what="x")


Case = tuple[Callable[[], Request], dict[str, Any]]

CASES: dict[str, Case] = {
    "veth, first end with mtu and mac": (
        lambda: rtnl.create_veth(
            index=7,
            name="eth1",
            mtu=1400,
            mac="02:00:00:00:00:0a",
            peer_index=9,
            peer_name="eth2",
            peer_mtu=None,
            peer_mac=None,
            peer_netns_fd=33,
            group=GROUP,
            what="x",
        ),
        link(
            RTM_NEWLINK,
            CREATE,
            7,
            IFLA_IFNAME="eth1",
            IFLA_GROUP=GROUP,
            IFLA_MTU=1400,
            IFLA_ADDRESS="02:00:00:00:00:0a",
            IFLA_LINKINFO={
                "IFLA_INFO_KIND": "veth",
                "IFLA_INFO_DATA": {
                    "VETH_INFO_PEER": {
                        **ifinfo(9),
                        "IFLA_IFNAME": "eth2",
                        "IFLA_GROUP": GROUP,
                        "IFLA_NET_NS_FD": 33,
                    }
                },
            },
        ),
    ),
    "veth, peer with mtu and mac": (
        lambda: rtnl.create_veth(
            index=100_000,
            name="left",
            mtu=None,
            mac=None,
            peer_index=100_001,
            peer_name="right",
            peer_mtu=9000,
            peer_mac="02:aa:bb:cc:dd:ee",
            peer_netns_fd=5,
            group=3,
            what="x",
        ),
        link(
            RTM_NEWLINK,
            CREATE,
            100_000,
            IFLA_IFNAME="left",
            IFLA_GROUP=3,
            IFLA_LINKINFO={
                "IFLA_INFO_KIND": "veth",
                "IFLA_INFO_DATA": {
                    "VETH_INFO_PEER": {
                        **ifinfo(100_001),
                        "IFLA_IFNAME": "right",
                        "IFLA_GROUP": 3,
                        "IFLA_MTU": 9000,
                        "IFLA_ADDRESS": "02:aa:bb:cc:dd:ee",
                        "IFLA_NET_NS_FD": 5,
                    }
                },
            },
        ),
    ),
    "vxlan over IPv6 with local": (
        lambda: rtnl.create_vxlan(
            rtnl.NewDevice(index=5, name="vx0", mtu=1450, mac="02:00:00:00:00:05", netns_fd=40, group=GROUP),
            vni=5042,
            remote="fd00::2",
            local="fd00::1",
            underlay_index=3,
            port=4789,
            what="x",
        ),
        link(
            RTM_NEWLINK,
            CREATE,
            5,
            IFLA_IFNAME="vx0",
            IFLA_GROUP=GROUP,
            IFLA_MTU=1450,
            IFLA_ADDRESS="02:00:00:00:00:05",
            IFLA_NET_NS_FD=40,
            IFLA_LINKINFO={
                "IFLA_INFO_KIND": "vxlan",
                "IFLA_INFO_DATA": {
                    "IFLA_VXLAN_ID": 5042,
                    "IFLA_VXLAN_GROUP6": "fd00::2",
                    "IFLA_VXLAN_LOCAL6": "fd00::1",
                    "IFLA_VXLAN_LINK": 3,
                    "IFLA_VXLAN_PORT": 4789,
                    "IFLA_VXLAN_LEARNING": 0,
                },
            },
        ),
    ),
    "vxlan over IPv4 without local": (
        lambda: rtnl.create_vxlan(
            rtnl.NewDevice(index=6, name="eth3", mtu=None, mac=None, netns_fd=41, group=GROUP),
            vni=16_000_000,
            remote="192.0.2.2",
            local=None,
            underlay_index=2,
            port=8472,
            what="x",
        ),
        link(
            RTM_NEWLINK,
            CREATE,
            6,
            IFLA_IFNAME="eth3",
            IFLA_GROUP=GROUP,
            IFLA_NET_NS_FD=41,
            IFLA_LINKINFO={
                "IFLA_INFO_KIND": "vxlan",
                "IFLA_INFO_DATA": {
                    "IFLA_VXLAN_ID": 16_000_000,
                    "IFLA_VXLAN_GROUP": "192.0.2.2",
                    "IFLA_VXLAN_LINK": 2,
                    "IFLA_VXLAN_PORT": 8472,
                    "IFLA_VXLAN_LEARNING": 0,
                },
            },
        ),
    ),
    "macvlan in bridge mode": (
        lambda: rtnl.create_macvlan(
            rtnl.NewDevice(index=8, name="eth1", mtu=1500, mac="02:00:00:00:08:01", netns_fd=42, group=GROUP),
            parent_index=4,
            what="x",
        ),
        link(
            RTM_NEWLINK,
            CREATE,
            8,
            IFLA_IFNAME="eth1",
            IFLA_GROUP=GROUP,
            IFLA_MTU=1500,
            IFLA_ADDRESS="02:00:00:00:08:01",
            IFLA_NET_NS_FD=42,
            IFLA_LINK=4,
            IFLA_LINKINFO={
                "IFLA_INFO_KIND": "macvlan",
                "IFLA_INFO_DATA": {"IFLA_MACVLAN_MODE": "bridge"},
            },
        ),
    ),
    "link set up, mtu, mac and alias": (
        lambda: rtnl.set_link(
            12, up=True, mtu=1400, mac="02:00:00:00:00:0c", alias="kubedtn uid=7", what="x"
        ),
        link(
            RTM_SETLINK,
            NLM_F_REQUEST,
            12,
            up=IFF_UP,
            change=IFF_UP,
            IFLA_MTU=1400,
            IFLA_ADDRESS="02:00:00:00:00:0c",
            IFLA_IFALIAS="kubedtn uid=7",
        ),
    ),
    "link set down": (
        lambda: rtnl.set_link(12, up=False, what="x"),
        link(RTM_SETLINK, NLM_F_REQUEST, 12, up=0, change=IFF_UP),
    ),
    "link set gso_max_segs, state untouched": (
        lambda: rtnl.set_link(12, gso_max_segs=1, what="x"),
        link(RTM_SETLINK, NLM_F_REQUEST, 12, IFLA_GSO_MAX_SEGS=1),
    ),
    "link resized, with its alias again": (
        lambda: rtnl.resize_link(12, 1, alias="kubedtn uid=7", what="x"),
        link(RTM_SETLINK, NLM_F_REQUEST, 12, IFLA_GSO_MAX_SEGS=1, IFLA_IFALIAS="kubedtn uid=7"),
    ),
    "link set alias, state untouched": (
        lambda: rtnl.set_link(12, alias="kubedtn uid=8", what="x"),
        link(RTM_SETLINK, NLM_F_REQUEST, 12, IFLA_IFALIAS="kubedtn uid=8"),
    ),
    "link delete": (lambda: rtnl.delete_link(12, what="x"), link(RTM_DELLINK, NLM_F_REQUEST, 12)),
    "link delete by group": (
        lambda: rtnl.delete_group(GROUP, what="x"),
        link(RTM_DELLINK, NLM_F_REQUEST, 0, IFLA_GROUP=GROUP),
    ),
    "link dump with counters": (lambda: rtnl.dump_links(stats=True), link(RTM_GETLINK, DUMP, 0)),
    "link dump without counters": (
        lambda: rtnl.dump_links(stats=False),
        link(RTM_GETLINK, DUMP, 0, IFLA_EXT_MASK=SKIP_STATS),
    ),
    "address add IPv4": (
        lambda: rtnl.add_address(3, "10.0.0.1/24", what="x"),
        address(RTM_NEWADDR, CREATE, socket.AF_INET, 24, 3, IFA_LOCAL="10.0.0.1", IFA_ADDRESS="10.0.0.1"),
    ),
    "address add IPv6 without DAD": (
        lambda: rtnl.add_address(4, "fd00::1/64", what="x"),
        address(RTM_NEWADDR, CREATE, socket.AF_INET6, 64, 4, IFA_ADDRESS="fd00::1", IFA_FLAGS=IFA_F_NODAD),
    ),
    "address delete IPv4": (
        lambda: rtnl.delete_address(3, "192.0.2.9/32", what="x"),
        address(
            RTM_DELADDR, NLM_F_REQUEST, socket.AF_INET, 32, 3, IFA_LOCAL="192.0.2.9", IFA_ADDRESS="192.0.2.9"
        ),
    ),
    "address delete IPv6": (
        lambda: rtnl.delete_address(4, "2001:db8::7/128", what="x"),
        address(
            RTM_DELADDR,
            NLM_F_REQUEST,
            socket.AF_INET6,
            128,
            4,
            IFA_ADDRESS="2001:db8::7",
            IFA_FLAGS=IFA_F_NODAD,
        ),
    ),
    "address dump": (
        rtnl.dump_addresses,
        {
            "header": {"type": RTM_GETADDR, "flags": DUMP},
            "family": 0,
            "prefixlen": 0,
            "flags": 0,
            "scope": 0,
            "index": 0,
        },
    ),
    "qdisc netem, every option": (
        lambda: replace(2, 0x1_0000, TC_H_ROOT, NETEM),
        qdisc(
            RTM_NEWQDISC,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
            2,
            0x1_0000,
            TC_H_ROOT,
            TCA_KIND="netem",
            TCA_OPTIONS=netem_options(NETEM),
        ),
    ),
    "qdisc netem cleared: every option still sent": (
        lambda: replace(2, 0x1_0000, TC_H_ROOT, NetemParams()),
        qdisc(
            RTM_NEWQDISC,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
            2,
            0x1_0000,
            TC_H_ROOT,
            TCA_KIND="netem",
            TCA_OPTIONS=netem_options(NetemParams()),
        ),
    ),
    "qdisc tbf": (
        lambda: replace(9, 0x2_0000, 0x1_0001, TBF),
        qdisc(
            RTM_NEWQDISC,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
            9,
            0x2_0000,
            0x1_0001,
            TCA_KIND="tbf",
            TCA_OPTIONS={"TCA_TBF_PARMS": tbf_parms(TBF), "TCA_TBF_BURST": TBF.burst},
        ),
    ),
    "qdisc tbf above 32 bits of bytes/s": (
        lambda: replace(9, 0x3_0000, TC_H_ROOT, TBF64),
        qdisc(
            RTM_NEWQDISC,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
            9,
            0x3_0000,
            TC_H_ROOT,
            TCA_KIND="tbf",
            TCA_OPTIONS={
                "TCA_TBF_PARMS": tbf_parms(TBF64),
                "TCA_TBF_RATE64": TBF64.rate,
                "TCA_TBF_BURST": TBF64.burst,
            },
        ),
    ),
    "qdisc delete": (
        lambda: rtnl.qdisc_request(9, QdiscAction("delete", 0x2_0000, 0x1_0001, "tbf"), what="x"),
        qdisc(RTM_DELQDISC, NLM_F_REQUEST, 9, 0x2_0000, 0x1_0001),
    ),
    "qdisc dump": (rtnl.dump_qdiscs, qdisc(RTM_GETQDISC, DUMP, 0, 0, 0)),
    # clsact sits where ingress does (its parent is TC_H_INGRESS), handle ffff:
    "clsact qdisc": (
        lambda: bpfmark.clsact_request(9, what="x"),
        qdisc(
            RTM_NEWQDISC,
            NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
            9,
            0xFFFF_0000,
            TC_H_INGRESS,
            TCA_KIND="clsact",
        ),
    ),
    "clsact qdisc delete": (
        lambda: bpfmark.unmark_request(9, where="x"),
        qdisc(RTM_DELQDISC, NLM_F_REQUEST, 9, 0xFFFF_0000, TC_H_INGRESS),
    ),
    # egress hook ffff:fff3, priority 1, every protocol (ETH_P_ALL in network order), handle 1
    "bpf marker filter, direct action": (
        lambda: bpfmark.filter_request(9, 17, what="x"),
        {
            **qdisc(RTM_NEWTFILTER, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE, 9, 1, 0xFFFF_FFF3),
            "info": (1 << 16) | socket.htons(ETH_P_ALL),
            "TCA_KIND": "bpf",
            "TCA_OPTIONS": {"TCA_BPF_FD": 17, "TCA_BPF_NAME": "kubedtn-mark", "TCA_BPF_FLAGS": 1},
        },
    ),
    "egress filter dump": (
        lambda: bpfmark.dump_egress_filters(9),
        qdisc(RTM_GETTFILTER, DUMP, 9, 0, 0xFFFF_FFF3),
    ),
    "namespace id of a namespace fd": (
        lambda: rtnl.get_nsid(17, what="x"),
        {"header": {"type": RTM_GETNSID, "flags": NLM_F_REQUEST}, "rtgen_family": 0, "NETNSA_FD": 17},
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_pyroute2_decodes_what_was_asked(case: str) -> None:
    build, expected = CASES[case]
    assert plain(decode(build())) == expected


def test_the_oracle_sees_a_wrong_field() -> None:
    """A message whose MTU is encoded big-endian (a plausible encoding slip) does not pass."""
    good = rtnl.set_link(12, mtu=1400, what="x")
    broken = Request(
        good.kind, good.flags, good.body.replace((1400).to_bytes(4, "little"), (1400).to_bytes(4, "big"))
    )
    assert plain(decode(good))["IFLA_MTU"] == 1400
    assert plain(decode(broken))["IFLA_MTU"] != 1400


def test_the_oracle_shows_attributes_it_does_not_know() -> None:
    good = rtnl.dump_links(stats=False)
    odd = Request(good.kind, good.flags, good.body + nla_u32(0x3F00, 1))
    assert "UNKNOWN type 16128" in plain(decode(odd))


def test_the_oracle_decodes_newer_options_after_pyroute2s_own_classes_were_used() -> None:
    """pyroute2 caches decoding tables per class; its own tcmsg decoding first (as IPRoute
    does in the integration tests) must not leave the oracle with the older tables. In a
    fresh interpreter: in this one the oracle's classes have been used already."""
    script = """if True:
        import struct
        from pyroute2.netlink.rtnl.tcmsg import tcmsg
        from tests.unit.dataplane.test_oracle import NETEM, TBF64, TC_H_ROOT, replace
        from tests.support.oracle import decode, plain
        for params in (NETEM, TBF64):
            request = replace(2, 0x1_0000, TC_H_ROOT, params)
            header = struct.pack("=IHHII", 16 + len(request.body), request.kind, 1, 1, 0)
            tcmsg(header + request.body).decode()
        netem = plain(decode(replace(2, 0x1_0000, TC_H_ROOT, NETEM)))["TCA_OPTIONS"]
        tbf = plain(decode(replace(2, 0x1_0000, TC_H_ROOT, TBF64)))["TCA_OPTIONS"]
        assert {"TCA_NETEM_LATENCY64", "TCA_NETEM_JITTER64"} <= set(netem), netem
        assert {"TCA_TBF_RATE64", "TCA_TBF_BURST"} <= set(tbf), tbf
    """
    repo = Path(__file__).resolve().parents[3]
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
