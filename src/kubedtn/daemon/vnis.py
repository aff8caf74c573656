"""VNIs already taken on this node: a leftover to clean up, or a real collision to report.

The kernel tells the VXLAN devices whose tunnel socket is in one namespace apart by VNI
alone, so a VXLAN end cannot be made while another end on the same node has its VNI
(EEXIST, "vxlan add failed: file exists" to kube-dtn's users). Pure: the manager reads
which interfaces hold the VNI and which links the store says should own them, and acts on
the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kubedtn.model import Link, PeerKind, Topology
from kubedtn.model.names import vni_for_link


@dataclass(frozen=True)
class Holder:
    """A VXLAN interface of ours on this node holding a VNI."""

    netns: str
    name: str
    vni: int


@dataclass(frozen=True)
class Owner:
    """The link a Topology says an interface is the end of."""

    pod: str  # namespace/name
    namespace: str
    link: Link

    @property
    def vni(self) -> int:
        return vni_for_link(self.namespace, self.link.uid)

    def describe(self) -> str:
        return f"{self.pod} {self.link.local_intf} (link {self.link.uid})"


def owners_here(pods: Iterable[Topology]) -> dict[tuple[str, str], Owner]:
    """(netns, interface) → the VXLAN-capable link ends of pods alive on this node."""
    out: dict[tuple[str, str], Owner] = {}
    for topo in pods:
        for link in topo.links:
            if link.peer_kind is not PeerKind.LOCALHOST:
                out[(topo.status.net_ns, link.local_intf)] = Owner(topo.key, topo.namespace, link)
    return out


@dataclass(frozen=True)
class Verdict:
    stale: tuple[Holder, ...]  # remove these, then make the link
    collision: Owner | None  # a live link of another pod or namespace has this VNI


def settle(
    vni: int, wanted: tuple[str, int], holders: Iterable[Holder], owners: Mapping[tuple[str, str], Owner]
) -> Verdict:
    """What to do about ``vni`` being taken when link ``wanted`` (namespace, uid) needs it.

    A holder is live when an alive pod here has a link ending on it whose VNI is this one
    and which is another link; anything else holding the VNI (a namespace left over from
    the pod's earlier life, an end whose link changed) is stale.
    """
    stale: list[Holder] = []
    for holder in holders:
        if holder.vni != vni:
            continue
        owner = owners.get((holder.netns, holder.name))
        if owner is not None and owner.vni == vni and (owner.namespace, owner.link.uid) != wanted:
            return Verdict((), owner)
        stale.append(holder)
    return Verdict(tuple(stale), None)
