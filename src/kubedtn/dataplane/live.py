"""What exists in the kernel, as read back: interfaces with their addresses, qdiscs, counters.

Plain frozen data; built by ``rtnl`` from dump replies, returned by ``Dataplane.read``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubedtn.dataplane.qdisc import LiveQdisc
from kubedtn.model import LinkProperties


@dataclass(frozen=True)
class Counters:
    """Interface statistics (IFLA_STATS64)."""

    rx_packets: int = 0
    tx_packets: int = 0
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0


@dataclass(frozen=True)
class VxlanInfo:
    vni: int
    remote: str | None
    local: str | None
    port: int
    underlay_ifindex: int  # in the namespace of the tunnel socket (link_netnsid), 0 if none
    learning: bool


@dataclass(frozen=True)
class LiveInterface:
    """One interface in one namespace.

    ``link_ifindex`` is IFLA_LINK: the peer's index for a veth, the parent's for a macvlan;
    it lives in the namespace ``link_netnsid`` names (None: the same namespace), which
    ``peer_netns`` gives as a path when the reader knew it.
    """

    netns: str
    name: str
    ifindex: int
    kind: str | None  # "veth", "vxlan", "macvlan", ...; None for lo and physical devices
    up: bool  # administratively up (IFF_UP)
    oper_state: str  # "up", "down", "lowerlayerdown", "unknown", ...
    mtu: int
    mac: str | None
    group: int
    alias: str | None
    link_ifindex: int | None = None
    link_netnsid: int | None = None
    peer_netns: str | None = None
    vxlan: VxlanInfo | None = None
    macvlan_mode: str | None = None
    gso_max_segs: int | None = None  # segments one packet may carry (IFLA_GSO_MAX_SEGS)
    tso_max_segs: int | None = None  # the most gso_max_segs may be (IFLA_TSO_MAX_SEGS)
    addresses: tuple[str, ...] = ()
    qdiscs: tuple[LiveQdisc, ...] = ()
    properties: LinkProperties | None = None  # None: qdiscs not in a layout kubedtn makes
    counters: Counters | None = None

    @property
    def uid(self) -> int | None:
        """The link uid kubedtn wrote into the alias ("kubedtn uid=7"), if any."""
        return uid_from_alias(self.alias)


ALIAS_PREFIX = "kubedtn uid="


def alias_for(uid: int) -> str:
    return f"{ALIAS_PREFIX}{uid}"


def uid_from_alias(alias: str | None) -> int | None:
    if alias and alias.startswith(ALIAS_PREFIX):
        try:
            return int(alias[len(ALIAS_PREFIX) :])
        except ValueError:
            return None
    return None
