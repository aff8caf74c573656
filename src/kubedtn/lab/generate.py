"""Generated topologies for tests and benchmarks: N pods, L links, every link a /30.

Link ``u`` joins pod ``u % N`` to pod ``(u + 1 + u // N) % N``: the first N links make a
ring, the next N a ring of second neighbours, and so on — every pod gets about ``2L/N``
interfaces and no pair of pods is joined twice while L < N(N-1)/2. This is the layout of
``bench/ip_batch.py`` (interface names ``e<u>a``/``e<u>b``, addresses ``10.<u/256>.<u%256>.1-2/30``,
MACs ``02:00:0X:00:..``, MTU 1400), so a lab of it and the ``ip -batch`` baseline build
exactly the same links.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MTU = 1400


def mesh(
    pods: int,
    links: int,
    *,
    prefix: str = "p",
    properties: Mapping[str, str] | None = None,
    mtu: int | None = MTU,
) -> list[dict[str, Any]]:
    """kubedtn.io/v1 Topology objects (pods named ``<prefix><i>``), each end with ``properties``."""
    if pods < 2:
        raise ValueError(f"a topology of links needs at least 2 pods, not {pods}")
    if links > pods * (pods - 1) // 2:
        raise ValueError(f"{links} links do not fit between {pods} pods without joining a pair twice")
    ends: list[list[dict[str, Any]]] = [[] for _ in range(pods)]
    for uid in range(links):
        a = uid % pods
        b = (uid + 1 + uid // pods) % pods
        hi, lo = divmod(uid, 256)
        sides = (
            (a, b, f"e{uid}a", f"e{uid}b", f"10.{hi}.{lo}.1/30", f"10.{hi}.{lo}.2/30", 0, 1),
            (b, a, f"e{uid}b", f"e{uid}a", f"10.{hi}.{lo}.2/30", f"10.{hi}.{lo}.1/30", 1, 0),
        )
        for me, peer, intf, peer_intf, ip, peer_ip, mac, peer_mac in sides:
            link: dict[str, Any] = {
                "uid": uid,
                "peer_pod": f"{prefix}{peer}",
                "local_intf": intf,
                "peer_intf": peer_intf,
                "local_ip": ip,
                "peer_ip": peer_ip,
                "local_mac": f"02:00:{mac:02x}:00:{hi:02x}:{lo:02x}",
                "peer_mac": f"02:00:{peer_mac:02x}:00:{hi:02x}:{lo:02x}",
            }
            if mtu is not None:
                link["mtu"] = mtu
            if properties:
                link["properties"] = dict(properties)
            ends[me].append(link)
    return [
        {
            "apiVersion": "kubedtn.io/v1",
            "kind": "Topology",
            "metadata": {"name": f"{prefix}{i}"},
            "spec": {"links": ends[i]},
        }
        for i in range(pods)
    ]
