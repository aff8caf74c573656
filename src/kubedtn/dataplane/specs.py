"""What the dataplane is asked to build: link specs (frozen, no I/O) and their checks.

A link is one of three kinds, each with the endpoint(s) kubedtn owns:

* ``VethSpec``    — a veth pair between two pod namespaces on this node; both ends ours.
* ``VxlanSpec``   — a VXLAN device in a pod namespace whose UDP socket lives in the node
  namespace (created there, placed straight into the pod): cross-node or physical-host links.
* ``MacvlanSpec`` — a macvlan (bridge mode) on a host interface, placed in a pod namespace.

``validate_links`` checks every field before any kernel call, so a bad spec never leaves
anything half-applied.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final

from kubedtn.dataplane.addr import Cidr, parse_cidr, parse_ip
from kubedtn.errors import ValidationError
from kubedtn.model import LinkProperties
from kubedtn.model.addresses import MAC_ACCEPTS, parse_mac
from kubedtn.model.names import interface_name_problem, naming_uid
from kubedtn.model.units import UnitError, quoted

VXLAN_PORT: Final = 4789
VNI_MAX: Final = 2**24 - 1
MTU_MIN: Final = 68
MTU_MAX: Final = 65535


@dataclass(frozen=True, order=True)
class InterfaceRef:
    """An interface by namespace path and name."""

    netns: str
    name: str

    def __str__(self) -> str:
        return f"{self.netns}/{self.name}"


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One end of a link inside a namespace: its name, addresses, MAC, MTU and egress properties.

    ``mac``/``mtu`` None leave the kernel's choice (random MAC; veth 1500, VXLAN underlay-50).
    ``bypass`` False: the link opted out of the eBPF TCP/IP bypass (its end is marked as one
    with properties is).
    """

    netns: str
    name: str
    addresses: tuple[str, ...] = ()
    mac: str | None = None
    mtu: int | None = None
    properties: LinkProperties = field(default_factory=LinkProperties)
    bypass: bool = True

    @functools.cached_property  # (asked for again and again by the checks and the plan)
    def ref(self) -> InterfaceRef:
        return InterfaceRef(self.netns, self.name)


@dataclass(frozen=True, kw_only=True)
class VethSpec:
    """A veth pair with end a in a.netns and end b in b.netns (same node)."""

    uid: int
    a: Endpoint
    b: Endpoint

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return (self.a, self.b)

    kind: ClassVar[str] = "veth"


@dataclass(frozen=True, kw_only=True)
class VxlanSpec:
    """A VXLAN device: endpoint in a pod namespace, tunnel socket in node_netns (None: current).

    ``underlay`` is the device (in node_netns) the tunnel is bound to; ``local`` the source
    address (None: chosen by routing); learning is always off (peers are point-to-point).
    """

    uid: int
    endpoint: Endpoint
    vni: int
    remote: str
    local: str | None
    underlay: str
    node_netns: str | None = None
    port: int = VXLAN_PORT

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return (self.endpoint,)

    kind: ClassVar[str] = "vxlan"


@dataclass(frozen=True, kw_only=True)
class MacvlanSpec:
    """A bridge-mode macvlan on ``parent`` (a device in node_netns), placed in endpoint.netns."""

    uid: int
    endpoint: Endpoint
    parent: str
    node_netns: str | None = None

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return (self.endpoint,)

    kind: ClassVar[str] = "macvlan"


LinkSpec = VethSpec | VxlanSpec | MacvlanSpec


def describe(link: LinkSpec) -> str:
    """A link for log and error lines: ``link 7 (veth r1/eth1 <-> r2/eth1)``."""
    if isinstance(link, VethSpec):
        return f"link {link.uid} (veth {link.a.ref} <-> {link.b.ref})"
    if isinstance(link, VxlanSpec):
        return f"link {link.uid} (vxlan {link.endpoint.ref} vni {link.vni} to {link.remote})"
    return f"link {link.uid} (macvlan {link.endpoint.ref} on {link.parent})"


# ---- checks -----------------------------------------------------------------------------------


def _endpoint_problems(ep: Endpoint, where: str) -> list[str]:
    problems: list[str] = []
    if not ep.netns:
        problems.append(f"{where}.netns: is empty; give the path of a network namespace file")
    why = interface_name_problem(ep.name, reserved=False)
    if why:
        problems.append(f"{where}.name: {quoted(ep.name)} {why}")
    seen: set[Cidr] = set()  # (the parsed form is the canonical one: no text needed)
    for i, cidr in enumerate(ep.addresses):
        try:
            parsed = parse_cidr(cidr)
        except ValueError as e:
            problems.append(f"{where}.addresses[{i}]: {quoted(cidr)} {e}")
            continue
        why = _unicast_problem(parsed.packed)
        if why:
            problems.append(f"{where}.addresses[{i}]: {quoted(cidr)} {why}")
        if parsed in seen:
            problems.append(f"{where}.addresses[{i}]: {quoted(cidr)} is listed twice")
        seen.add(parsed)
    if ep.mac is not None:
        try:
            parse_mac(ep.mac)
        except UnitError:
            problems.append(f"{where}.mac: {quoted(ep.mac)} is not {MAC_ACCEPTS}")
    if ep.mtu is not None and not (MTU_MIN <= ep.mtu <= MTU_MAX):
        problems.append(f"{where}.mtu: {ep.mtu} is not an MTU between {MTU_MIN} and {MTU_MAX}")
    if ep.properties.rate_bps < 0 or ep.properties.latency_us < 0 or ep.properties.jitter_us < 0:
        problems.append(f"{where}.properties: negative values are not accepted")
    return problems


def _unicast_problem(packed: bytes) -> str | None:
    if not any(packed):
        return "is the unspecified address, not a unicast address"
    if (len(packed) == 4 and 224 <= packed[0] <= 239) or (len(packed) == 16 and packed[0] == 0xFF):
        return "is a multicast address, not a unicast address"
    return None


@functools.lru_cache(maxsize=1024)  # (a batch's VXLAN ends share their remote and local)
def _ip_problem(text: str) -> str | None:
    try:
        _family, packed = parse_ip(text)
    except ValueError:
        return "is not an IPv4 or IPv6 address"
    return _unicast_problem(packed)


def link_problems(link: LinkSpec, where: str) -> list[str]:
    """Every problem of one link spec, as error lines starting with where."""
    problems: list[str] = []
    if not isinstance(link.uid, int) or link.uid < 0:
        problems.append(f"{where}.uid: {link.uid!r} is not a link uid (an integer >= 0)")
    if isinstance(link, VethSpec):
        problems += _endpoint_problems(link.a, f"{where}.a")
        problems += _endpoint_problems(link.b, f"{where}.b")
        if link.a.ref == link.b.ref:
            problems.append(f"{where}: both ends are {link.a.ref}; a veth needs two interfaces")
        return problems
    problems += _endpoint_problems(link.endpoint, f"{where}.endpoint")
    if isinstance(link, VxlanSpec):
        if not (1 <= link.vni <= VNI_MAX):
            problems.append(f"{where}.vni: {link.vni} is not a VXLAN VNI (1..{VNI_MAX})")
        if not (1 <= link.port <= 65535):
            problems.append(f"{where}.port: {link.port} is not a UDP port (1..65535)")
        why = _ip_problem(link.remote)
        if why:
            problems.append(f"{where}.remote: {quoted(link.remote)} {why}")
        if link.local is not None:
            why = _ip_problem(link.local)
            if why:
                problems.append(f"{where}.local: {quoted(link.local)} {why}")
            elif not _ip_problem(link.remote) and parse_ip(link.local)[0] != parse_ip(link.remote)[0]:
                problems.append(
                    f"{where}.local: {quoted(link.local)} and remote {quoted(link.remote)} "
                    "are not the same IP version"
                )
        why = interface_name_problem(link.underlay, reserved=False)
        if why:
            problems.append(f"{where}.underlay: {quoted(link.underlay)} {why}")
    else:
        why = interface_name_problem(link.parent, reserved=False)
        if why:
            problems.append(f"{where}.parent: {quoted(link.parent)} {why}")
    return problems


def validate_links(links: Sequence[LinkSpec]) -> None:
    """Raises ValidationError listing every problem of the batch (fields, duplicates)."""
    problems: list[str] = []
    seen: dict[InterfaceRef, int] = {}
    uids: dict[int, int] = {}
    for i, link in enumerate(links):
        where = f"links[{i}]"
        if not isinstance(link, VethSpec | VxlanSpec | MacvlanSpec):
            problems.append(f"{where}: {type(link).__name__} is not a VethSpec, VxlanSpec or MacvlanSpec")
            continue
        start = len(problems)
        problems += link_problems(link, where)
        if link.uid in uids:
            problems.append(f"{where}.uid: {link.uid} is also the uid of links[{uids[link.uid]}]")
        uids.setdefault(link.uid, i)
        naming_uid(problems, link.uid, start=start, uid_path=f"{where}.uid:")
        for ep in link.endpoints:
            if ep.ref in seen and seen[ep.ref] != i:
                j = seen[ep.ref]
                problems.append(
                    f"{where}: interface {ep.ref} is also an end of links[{j}] (uid {links[j].uid}); "
                    f"this link is uid {link.uid}"
                )
            seen.setdefault(ep.ref, i)
    if problems:
        raise ValidationError(problems)
