"""The dataplane's netlink codec against pyroute2's message classes, encoding the same message.

The reason the dataplane encodes with ``struct`` (src/kubedtn/dataplane/netlink.py): a
bulk apply encodes thousands of messages. Both sides build one veth RTM_NEWLINK with both
ends (names, group, MTU, MAC, the peer's namespace fd, chosen indexes); the benchmark
first checks that they produce the same bytes. pyroute2 is a development dependency
(requirements-dev.txt), not part of dist/kubedtn.
"""

from __future__ import annotations

import time
from typing import Any

from bench import Context, Result, Skip, benchmark, timing
from kubedtn.dataplane import KUBEDTN_GROUP, rtnl

BATCH = 200  # messages per timed sample


def _ours(i: int) -> bytes:
    return rtnl.create_veth(
        index=1000 + i,
        name=f"eth{i}",
        mtu=1400,
        mac="02:00:00:00:00:0a",
        peer_index=5000 + i,
        peer_name=f"peer{i}",
        peer_mtu=1400,
        peer_mac="02:00:00:00:00:0b",
        peer_netns_fd=7,
        group=KUBEDTN_GROUP,
        what="bench",
    ).body


def _pyroute2(ifinfmsg: Any, i: int) -> bytes:
    def end(name: str, mac: str) -> list[tuple[str, object]]:
        group = ("IFLA_GROUP", KUBEDTN_GROUP)
        return [("IFLA_IFNAME", name), group, ("IFLA_MTU", 1400), ("IFLA_ADDRESS", mac)]

    peer = {"index": 5000 + i, "attrs": [*end(f"peer{i}", "02:00:00:00:00:0b"), ("IFLA_NET_NS_FD", 7)]}
    msg = ifinfmsg()
    msg["index"] = 1000 + i
    info = [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", peer)]})]
    msg["attrs"] = [*end(f"eth{i}", "02:00:00:00:00:0a"), ("IFLA_LINKINFO", {"attrs": info})]
    msg.encode()
    return bytes(msg.data[16:])


@benchmark("netlink-encode")
def netlink_encode(ctx: Context) -> list[Result]:
    """One veth RTM_NEWLINK (both ends): the dataplane's codec vs pyroute2's ifinfmsg."""
    try:
        from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
    except ImportError:
        raise Skip("pyroute2 (requirements-dev.txt) is not installed") from None
    if _ours(1) != _pyroute2(ifinfmsg, 1):
        raise RuntimeError("the two encoders do not build the same message: nothing to compare")

    def sample(encode: Any) -> float:
        start = time.perf_counter()
        for i in range(BATCH):
            encode(i)
        return (time.perf_counter() - start) / BATCH

    times = timing.interleaved(
        {"ours": lambda: sample(_ours), "pyroute2": lambda: sample(lambda i: _pyroute2(ifinfmsg, i))},
        runs=ctx.runs,
    )
    return [
        Result(
            "encode one veth message (µs)",
            ours=timing.median_ms(times["ours"]) * 1000,
            baseline=timing.median_ms(times["pyroute2"]) * 1000,
            baseline_name="pyroute2 0.9.7 ifinfmsg.encode",
            goal=0.1,
        )
    ]
