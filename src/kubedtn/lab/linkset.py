"""``kubedtn link set POD INTF --latency 20ms ...``: change a link end's properties live.

Per-end semantics (as kube-dtn): the properties of a link end shape that end's *egress*,
so ``link set r1 eth1 --latency 20ms`` delays what r1 sends on eth1 — the way from r1
to its peer. ``--both`` sets the same values on the peer's end too (both directions).
Given properties are merged into the end's current ones; ``--clear`` starts from none;
a value of 0 unsets one (``--latency 0``).

Order: every change is checked by the model first (the same error lines as a file
would get; nothing written on a problem), then the Topology specs are updated in the
store (retried on conflict: the daemon writes status meanwhile), then the daemon's
``UpdateLinks`` changes the qdiscs in place (same interface, same ifindex).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Any

from kubedtn.errors import KubedtnError, NotFoundError, ValidationError
from kubedtn.lab import topostore
from kubedtn.lab.client import LabDaemonClient
from kubedtn.lab.enter import find_pod
from kubedtn.lab.names import lab_paths, pod_text
from kubedtn.model import Link, LinkProperties, PeerKind, Topology
from kubedtn.model.names import naming_uid
from kubedtn.model.objects import link_to_dict, topology_from_dict
from kubedtn.store import ObjectStore, open_store, retry_on_conflict


@dataclass(frozen=True)
class EndChange:
    """One link end's properties, before and after."""

    kube_ns: str
    pod: str
    index: int  # in spec.links
    link: Link  # after the change
    before: LinkProperties

    @property
    def after(self) -> LinkProperties:
        return self.link.properties

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def where(self) -> str:
        return f"{pod_text(self.kube_ns, self.pod)}/{self.link.local_intf}"


def _link_index(topo: Topology, intf: str) -> int:
    for i, link in enumerate(topo.links):
        if link.local_intf == intf:
            return i
    have = ", ".join(link.local_intf for link in topo.links) or "none"
    raise NotFoundError(f"{topo.key} has no link on interface {intf} (its link interfaces: {have})")


def change_end(topo: Topology, index: int, given: Mapping[str, str], *, clear: bool) -> EndChange:
    """The new properties of one end (pure); ValidationError in the model's words."""
    link = topo.links[index]
    raw: dict[str, Any] = {} if clear else dict(link.properties.to_strings())
    raw.update(given)
    where = f"{topo.key}: spec.links[{index}].properties"
    try:
        new = LinkProperties.from_strings(raw, where=where)
    except ValidationError as e:
        naming_uid(e.problems, link.uid)
        raise
    return EndChange(topo.namespace, topo.name, index, replace(link, properties=new), link.properties)


def plan_changes(
    topologies: Mapping[str, Topology],
    *,
    kube_ns: str,
    pod: str,
    intf: str,
    given: Mapping[str, str],
    clear: bool,
    both: bool,
) -> list[EndChange]:
    """The ends to change: POD's end of the link on INTF, and with ``both`` the peer's end."""
    key = f"{kube_ns}/{pod}"
    topo = topologies.get(key)
    if topo is None:
        raise NotFoundError(f"{key} has no Topology in the lab's store")
    index = _link_index(topo, intf)
    changes = [change_end(topo, index, given, clear=clear)]
    if both:
        link = topo.links[index]
        if link.peer_kind is not PeerKind.POD:
            raise ValidationError(
                f"--both: the peer of {key}/{intf} is {link.peer_pod}, not a pod of the lab"
            )
        peer = topologies.get(f"{kube_ns}/{link.peer_pod}")
        far = next((i for i, other in enumerate(peer.links) if other.uid == link.uid), None) if peer else None
        if peer is None or far is None:
            raise NotFoundError(
                f"--both: the peer end of link {link.uid} ({link.peer_pod}) is not in the lab"
            )
        changes.append(change_end(peer, far, given, clear=clear))
    return changes


def _write(store: ObjectStore, change: EndChange) -> None:
    """Read-modify-write of one end's properties in its object (retried on conflict)."""

    def attempt() -> None:
        obj = store.get(change.kube_ns, change.pod)
        links = obj["spec"]["links"]
        current = links[change.index]
        if current.get("local_intf") != change.link.local_intf or current.get("uid") != change.link.uid:
            raise KubedtnError(f"{change.where}: the Topology changed meanwhile; run the command again")
        links[change.index] = link_to_dict(change.link)
        topology_from_dict(obj)  # the whole object still checks (cannot fail for a checked end)
        store.update(obj)

    retry_on_conflict(attempt)


@dataclass(frozen=True)
class SetResult:
    changes: tuple[EndChange, ...]
    error: str = ""  # the store was updated but the daemon could not apply it (why)


def set_link(
    *, pod: str, intf: str, given: Mapping[str, str], clear: bool, both: bool, lab: str | None
) -> SetResult:
    current, record = find_pod(pod, lab=lab)
    with closing(open_store(current.store)) as store:
        topologies = {t.key: t for t in topostore.lab_topologies(store, current.name)}
        changes = plan_changes(
            topologies,
            kube_ns=record.kube_ns,
            pod=record.name,
            intf=intf,
            given=given,
            clear=clear,
            both=both,
        )
        todo = [c for c in changes if c.changed]
        for change in todo:
            _write(store, change)
    errors: list[str] = []
    if todo:
        with LabDaemonClient(str(lab_paths(current.name).socket)) as client:
            for change in todo:
                try:
                    client.update_links(pod=change.pod, kube_ns=change.kube_ns, links=[change.link])
                except KubedtnError as e:
                    errors.append(f"{change.where}: {e}")
    return SetResult(tuple(changes), error="; ".join(errors))
