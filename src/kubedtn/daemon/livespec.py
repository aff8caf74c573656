"""Pure: what a live Topology's change asks of this node's daemon.

The daemon follows the store (``kubedtn.daemon.follow``); for a pod running here it
compares the spec with what the status says is plumbed and turns the difference into the
Local calls a controller would make (kube-dtn's controller diffs spec against status the
same way):

* a link gone from the spec, or changed in what its interface is made of (names,
  addresses, MACs, MTU, peer), is removed (DelLinks); so is an interface of ours in the
  pod that no spec link has any more, plumbed or not (the status lists links whose *two*
  ends are up: when the peer removed its end first, ours is only in the kernel);
* a plumbed link whose properties (or ``bypass``) alone changed keeps its interface and
  gets new qdiscs and bypass marker (UpdateLinks);
* a spec link that is not plumbed is added (AddLinks) when its peer is up or is not a
  pod; a link whose peer is down waits for the peer's SetupPod, as at start.

A link changed in its interface is both removed and added again, in that order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from kubedtn.model import Link, LinkProperties, PeerKind, Topology


@dataclass(frozen=True)
class SpecDiff:
    removed: tuple[Link, ...] = ()  # as plumbed (the status's version)
    updated: tuple[Link, ...] = ()  # as the spec has them now
    added: tuple[Link, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.removed or self.updated or self.added)


_NO_PROPERTIES: Final = LinkProperties()


def same_interface(a: Link, b: Link) -> bool:
    """Whether two versions of a link end are the same interface (properties and bypass aside)."""
    return replace(a, properties=_NO_PROPERTIES, bypass=True) == replace(
        b, properties=_NO_PROPERTIES, bypass=True
    )


def spec_diff(topo: Topology, *, live: Mapping[int, str], peer_up: Callable[[Link], bool]) -> SpecDiff:
    """The calls that bring this pod's links from its status to its spec (module docstring).
    ``live``: our interfaces in the pod, by link uid; ``peer_up(link)`` says whether a link's
    peer pod is running (asked only for pod peers)."""
    plumbed = {link.uid: link for link in topo.status.links}
    wanted = topo.links_by_uid
    removed: list[Link] = []
    updated: list[Link] = []
    added: list[Link] = []
    for uid, was in plumbed.items():
        now = wanted.get(uid)
        if now is None or not same_interface(was, now):
            removed.append(was)
        elif now.properties != was.properties or now.bypass != was.bypass:
            updated.append(now)
    for uid, name in sorted(live.items()):
        if uid not in wanted and uid not in plumbed:  # the peer's end went first
            removed.append(Link(uid=uid, peer_pod="", local_intf=name, peer_intf=""))
    gone = {link.uid for link in removed}
    for uid, link in wanted.items():
        if uid in plumbed and uid not in gone:
            continue
        if link.peer_kind is not PeerKind.POD or peer_up(link):
            added.append(link)
    return SpecDiff(tuple(removed), tuple(updated), tuple(added))


def links_to(topo: Topology, peer_pod: str) -> tuple[Link, ...]:
    """The plumbed links of ``topo`` whose peer is the pod ``peer_pod`` (same namespace)."""
    return tuple(
        link for link in topo.status.links if link.peer_kind is PeerKind.POD and link.peer_pod == peer_pod
    )


def generation(obj: Mapping[str, Any]) -> int:
    value = (obj.get("metadata") or {}).get("generation")
    return value if isinstance(value, int) else 0


def is_deleting(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))
