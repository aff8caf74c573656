"""Validation of one Topology and of a set of Topologies (a file, a directory, a store).

Single-object rules are applied while parsing (``kubedtn.model.objects``); the CRD
schema carries the shape part of them too. Rules across objects exist only here — the
API server never sees two objects at once:

* a Topology is defined once per ``namespace/name``;
* both ends of a pod-to-pod link agree: same uid, each names the other, interfaces
  swapped, addresses and MACs swapped (where both ends give them), same MTU. Each end
  keeps its own properties (they shape that end's egress), so those may differ;
* a uid joins one pair of ends only within a namespace (it gives the link's VXLAN VNI);
* a peer pod that is not in the set is fine (it may be applied later), but a peer that
  is in the set must carry the matching link.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kubedtn.errors import ValidationError
from kubedtn.model.names import naming_uid
from kubedtn.model.objects import topology_problems, topology_to_dict
from kubedtn.model.types import Link, PeerKind, Topology
from kubedtn.model.units import quoted


def validate_topology(topo: Topology) -> list[str]:
    """Every single-object problem of a Topology built in code (empty when it is fine)."""
    _, problems = topology_problems(topology_to_dict(topo), default_namespace=topo.namespace)
    return problems


@dataclass(frozen=True)
class _End:
    topo: Topology
    index: int
    link: Link

    @property
    def where(self) -> str:
        return f"{self.topo.key}: spec.links[{self.index}]"


def _pair_of(topo: Topology, link: Link) -> frozenset[str]:
    peer = f"{topo.namespace}/{link.peer_pod}" if link.peer_kind is PeerKind.POD else link.peer_pod
    return frozenset((topo.key, peer))


def _pair_label(pair: frozenset[str]) -> str:
    return " and ".join(sorted(pair))


def _same_addresses(mine: tuple[str, ...], theirs: tuple[str, ...]) -> bool:
    """Unset on either side, or the same set (in any order)."""
    return not mine or not theirs or mine == theirs or set(mine) == set(theirs)


def ends_agree(link: Link, far: Link) -> bool:
    """Whether two ends of a link (same uid) agree on everything ``end_problems`` checks: the
    common case, decided without composing any message."""
    return (
        link.peer_intf == far.local_intf
        and link.local_intf == far.peer_intf
        and link.mtu == far.mtu
        and link.bypass == far.bypass
        and _same_addresses(link.peer_ips, far.local_ips)
        and _same_addresses(link.local_ips, far.peer_ips)
        and (not link.peer_mac or not far.local_mac or link.peer_mac == far.local_mac)
        and (not link.local_mac or not far.peer_mac or link.local_mac == far.peer_mac)
    )


def _mismatches(a: _End, b: _End) -> list[str]:
    """What end ``a`` says about the far end that end ``b`` (the far end) contradicts."""
    la, lb = a.link, b.link
    peer = f"{b.topo.key} spec.links[{b.index}]"
    out: list[str] = []
    if la.peer_intf != lb.local_intf:
        out.append(
            f"{a.where}.peer_intf: {quoted(la.peer_intf)} but {peer} has local_intf {quoted(lb.local_intf)}"
        )
    if la.local_intf != lb.peer_intf:
        out.append(
            f"{a.where}.local_intf: {quoted(la.local_intf)} but {peer} has peer_intf {quoted(lb.peer_intf)}"
        )
    if la.peer_ips and lb.local_ips and set(la.peer_ips) != set(lb.local_ips):
        out.append(
            f"{a.where}.peer_ip: {quoted(','.join(la.peer_ips))} but {peer} has local_ip "
            f"{quoted(','.join(lb.local_ips))}"
        )
    if la.local_ips and lb.peer_ips and set(la.local_ips) != set(lb.peer_ips):
        out.append(
            f"{a.where}.local_ip: {quoted(','.join(la.local_ips))} but {peer} has peer_ip "
            f"{quoted(','.join(lb.peer_ips))}"
        )
    if la.peer_mac and lb.local_mac and la.peer_mac != lb.local_mac:
        out.append(
            f"{a.where}.peer_mac: {quoted(la.peer_mac)} but {peer} has local_mac {quoted(lb.local_mac)}"
        )
    if la.local_mac and lb.peer_mac and la.local_mac != lb.peer_mac:
        out.append(
            f"{a.where}.local_mac: {quoted(la.local_mac)} but {peer} has peer_mac {quoted(lb.peer_mac)}"
        )
    if la.mtu != lb.mtu:
        out.append(
            f"{a.where}.mtu: {la.mtu if la.mtu is not None else 'unset'} but {peer} has mtu "
            f"{lb.mtu if lb.mtu is not None else 'unset'}; both ends of a link need the same MTU"
        )
    if la.bypass != lb.bypass:
        out.append(
            f"{a.where}.bypass: {str(la.bypass).lower()} but {peer} has bypass {str(lb.bypass).lower()}; "
            "both ends of a link need the same bypass (false on both to keep TCP on this link in the stack)"
        )
    naming_uid(out, la.uid)
    return out


def end_problems(topo: Topology, index: int, peer: Topology, peer_index: int) -> list[str]:
    """What ``topo.links[index]`` says about its far end that ``peer.links[peer_index]`` (the
    far end, same uid) contradicts: interfaces, addresses, MACs, MTU (empty when they agree).
    For the daemon, which checks one pair of ends before wiring them."""
    link, far = topo.links[index], peer.links[peer_index]
    if ends_agree(link, far):
        return []
    return _mismatches(_End(topo, index, link), _End(peer, peer_index, far))


def set_problems(
    topologies: Sequence[Topology], *, broken_uids: Mapping[str, frozenset[int]] | None = None
) -> list[str]:
    """Every cross-object problem of a set of Topologies.

    ``broken_uids`` (by ``namespace/name``) names links that exist but failed their own
    checks (see ``ParsedTopology``): they are left out rather than reported missing.
    """
    broken = broken_uids or {}
    problems: list[str] = []
    by_key: dict[str, Topology] = {}
    for topo in topologies:
        if topo.key in by_key:
            problems.append(f"{topo.key}: defined more than once; a pod has one Topology")
        else:
            by_key[topo.key] = topo

    # Keyed by (namespace, uid): namespaces number their links independently.
    uid_pairs: dict[tuple[str, int], tuple[frozenset[str], str]] = {}
    for topo in by_key.values():
        for i, link in enumerate(topo.links):
            end = _End(topo, i, link)
            pair = _pair_of(topo, link)
            first = uid_pairs.setdefault((topo.namespace, link.uid), (pair, end.where))
            if first[0] != pair:
                problems.append(
                    f"{end.where}.uid: {link.uid} already joins {_pair_label(first[0])} ({first[1]}); "
                    "a uid names one link in its namespace (it gives the link's VXLAN VNI)"
                )
                continue
            if link.peer_kind is not PeerKind.POD:
                continue
            peer_topo = by_key.get(f"{topo.namespace}/{link.peer_pod}")
            if peer_topo is None:
                continue  # the peer may be applied later
            matches = [j for j, other in enumerate(peer_topo.links) if other.uid == link.uid]
            if not matches and link.uid in broken.get(peer_topo.key, ()):
                continue  # the far end is there but has problems of its own, already reported
            if not matches:
                problems.append(
                    f"{end.where}: peer {peer_topo.key} has no link with uid {link.uid} "
                    f"(expected local_intf {quoted(link.peer_intf)}, peer_pod {quoted(topo.name)})"
                )
                continue
            far = _End(peer_topo, matches[0], peer_topo.links[matches[0]])
            if far.link.peer_pod != topo.name:
                continue  # reported as a uid joining two pairs, from the far end's side
            # Each pair is compared once, from the end listed first.
            if (topo.key, i) < (peer_topo.key, far.index) and not ends_agree(link, far.link):
                problems.extend(_mismatches(end, far))
    return problems


def check_set(topologies: Iterable[Topology]) -> None:
    """Raise ValidationError with every cross-object problem, if any."""
    problems = set_problems(list(topologies))
    if problems:
        raise ValidationError(problems)
