"""What a lab looks like: pods, links and their properties, as the kernel has them or as
the daemon recorded them.

``gather`` reads the kernel (``lab status``: the live view); ``gather_recorded`` reads
only what the daemon recorded in the pods' status (``lab up``: the summary of what was
just done, without reading every namespace back). Everything else is pure: which
properties of a link end the kernel does not carry (``missing_properties``), how each
link is (``link_views``, ``recorded_link_views``). The tables are drawn by
``kubedtn.lab.report``.
"""

from __future__ import annotations

import math
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from kubedtn.daemon.podstatus import PROPERTIES, noted_links
from kubedtn.dataplane import create_namespaces, delete_namespaces, namespace_exists
from kubedtn.errors import KubedtnError
from kubedtn.lab import topostore
from kubedtn.lab.names import pod_text, short_key
from kubedtn.lab.state import PodRecord
from kubedtn.model import Condition, Link, LinkProperties, PeerKind, Topology
from kubedtn.model.objects import status_summary, topology_from_dict
from kubedtn.model.types import PROPERTY_FIELDS
from kubedtn.model.units import format_rate_bps
from kubedtn.store import ObjectStore

if TYPE_CHECKING:
    from kubedtn.dataplane import LiveInterface

# LinkProperties field → the property name users write.
_NAME_OF: dict[str, str] = {attr: name for name, (attr, _) in PROPERTY_FIELDS.items()}
_NETEM_MISSING = "sch_netem is missing in this kernel"
# Link states of a lab that is up as it should be.
WORKING = ("up", "outside")


@dataclass(frozen=True)
class PodView:
    key: str
    name: str
    kube_ns: str
    netns: str
    netns_exists: bool
    alive: bool  # the daemon recorded it (status.net_ns) and its namespace exists
    node_ip: str
    links: int
    conditions: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class EndView:
    pod: str  # namespace/name
    intf: str
    want: LinkProperties
    live: LiveInterface | None  # None: the interface is not there

    @property
    def where(self) -> str:
        return f"{short_key(self.pod)}/{self.intf}"


@dataclass(frozen=True)
class LinkView:
    uid: int
    a: EndView
    b: EndView | None  # None: the far end is not a lab pod
    peer: str  # the far end as written (pod name, localhost, physical/IP)
    # "up", "down" (an end is set down), "missing", "partial" (one end only), "outside" (the
    # peer is not in the lab)
    state: str
    notes: tuple[str, ...] = ()  # properties the kernel does not carry, and why


def missing_properties(want: LinkProperties, live: LinkProperties | None) -> list[str]:
    """Names of the properties set in ``want`` that the kernel's qdiscs do not emulate as asked."""
    if live is None:
        return [_NAME_OF[f.name] for f in fields(want) if getattr(want, f.name)] or ["(foreign qdiscs)"]
    out: list[str] = []
    for f in fields(want):
        w, got = getattr(want, f.name), getattr(live, f.name)
        if f.name == "rate_bps":
            same = abs(w - got) < 8  # tc keeps bytes per second
        elif isinstance(w, float):
            same = math.isclose(w, got, abs_tol=1e-3)
        else:
            same = w == got
        if not same:
            out.append(_NAME_OF[f.name])
    return out


def _end_state(live: LiveInterface | None) -> str:
    if live is None:
        return "missing"
    # Administrative state: both ends of a veth up means carrier (a veth's carrier is its
    # peer being up); the kernel's operstate lags up to a second behind (linkwatch), while
    # traffic already flows.
    return "up" if live.up else "down"


def end_notes(end: EndView, *, netem_missing: bool | None) -> list[str]:
    """One line per link end whose properties are not (all) in the kernel, with the cause."""
    if end.live is None:
        return []
    missing = missing_properties(end.want, end.live.properties)
    if not missing:
        return []
    clauses: list[str] = []
    netem = [m for m in missing if m != "rate"]
    if netem:
        if netem_missing:
            why = _NETEM_MISSING
        elif netem_missing is None:
            why = "cause unknown; see the daemon's log"
        else:
            why = "the kernel has other values; see the daemon's log"
        clauses.append(f"{', '.join(netem)} not applied: {why}")
    if "rate" in missing:
        live = end.live.properties.rate_bps if end.live.properties else 0
        have = f"{format_rate_bps(live)}/s" if live else "unlimited"
        want = f"{format_rate_bps(end.want.rate_bps)}/s" if end.want.rate_bps else "unlimited"
        clauses.append(f"rate is {have} in the kernel, not {want}")
    return [f"{end.where}: {'; '.join(clauses)}"]


def _links_once(topologies: Sequence[Topology]) -> Iterator[tuple[Topology, Link, Topology | None]]:
    """Each link of the lab once: the pod listing it first, the link, the far pod (None when
    the peer is not a pod of the lab). A uid names one link within a Kubernetes namespace."""
    by_key = {t.key: t for t in topologies}
    seen: set[tuple[str, int]] = set()
    for topo in sorted(topologies, key=lambda t: (t.namespace, t.name)):
        for link in topo.links:
            if (topo.namespace, link.uid) not in seen:
                seen.add((topo.namespace, link.uid))
                yield topo, link, _far_end(by_key, topo, link)


def _in_order(views: list[LinkView]) -> list[LinkView]:
    """By Kubernetes namespace, then uid."""
    return sorted(views, key=lambda v: (v.a.pod.split("/", 1)[0], v.uid))


def link_views(
    topologies: Sequence[Topology],
    live: Mapping[str, Mapping[str, LiveInterface]],
    *,
    netem_missing: bool | None = None,
) -> list[LinkView]:
    """One view per link (uid in its namespace); ``live``: pod key → interface name → what the kernel has."""
    out: list[LinkView] = []
    for topo, link, far in _links_once(topologies):
        mine = live.get(topo.key, {})
        a = EndView(topo.key, link.local_intf, link.properties, mine.get(link.local_intf))
        if far is None:
            out.append(LinkView(link.uid, a, None, link.peer_pod, "outside"))
            continue
        theirs = live.get(far.key, {})
        b = EndView(far.key, link.peer_intf, _far_props(far, link), theirs.get(link.peer_intf))
        states = {_end_state(a.live), _end_state(b.live)}
        if len(states) == 1:
            (state,) = states
        else:
            state = "partial" if "missing" in states else "down"
        notes = end_notes(a, netem_missing=netem_missing) + end_notes(b, netem_missing=netem_missing)
        out.append(LinkView(link.uid, a, b, link.peer_pod, state, tuple(notes)))
    return _in_order(out)


def recorded_link_views(
    topologies: Sequence[Topology],
    plumbed: Mapping[str, AbstractSet[int]],
    without_netem: Mapping[str, AbstractSet[int]],
) -> list[LinkView]:
    """One view per link (uid in its namespace) from what the daemon recorded: ``plumbed``, pod key → the uids
    in its ``status.links``; ``without_netem``, pod key → the uids its PropertiesApplied
    condition names (made with their rate only: the kernel has no sch_netem). A link is
    up when both ends record it, partial when one does; the notes read as the kernel
    view's."""
    out: list[LinkView] = []
    for topo, link, far in _links_once(topologies):
        a = EndView(topo.key, link.local_intf, link.properties, None)
        if far is None:  # as link_views: a host peer, or a pod not in the lab
            out.append(LinkView(link.uid, a, None, link.peer_pod, "outside"))
            continue
        b = EndView(far.key, link.peer_intf, _far_props(far, link), None)
        mine, theirs = link.uid in plumbed.get(topo.key, ()), link.uid in plumbed.get(far.key, ())
        state = "up" if mine and theirs else "partial" if mine or theirs else "missing"
        notes: list[str] = []
        if link.uid in without_netem.get(topo.key, ()) or link.uid in without_netem.get(far.key, ()):
            for end in (a, b):
                lacking = missing_properties(end.want, LinkProperties(rate_bps=end.want.rate_bps))
                if lacking:
                    notes.append(f"{end.where}: {', '.join(lacking)} not applied: {_NETEM_MISSING}")
        out.append(LinkView(link.uid, a, b, link.peer_pod, state, tuple(notes)))
    return _in_order(out)


def _far_end(by_key: Mapping[str, Topology], topo: Topology, link: Link) -> Topology | None:
    if link.peer_kind is not PeerKind.POD:
        return None
    return by_key.get(f"{topo.namespace}/{link.peer_pod}")


def _far_props(far: Topology, link: Link) -> LinkProperties:
    match = far.links_by_uid.get(link.uid)
    return match.properties if match is not None else LinkProperties()


def pod_views(topologies: Sequence[Topology], records: Sequence[PodRecord]) -> list[PodView]:
    by_key = {t.key: t for t in topologies}
    out: list[PodView] = []
    for rec in records:
        topo = by_key.get(rec.key)
        exists = namespace_exists(rec.netns_path)
        status = topo.status if topo else None
        out.append(
            PodView(
                key=rec.key,
                name=rec.name,
                kube_ns=rec.kube_ns,
                netns=rec.netns,
                netns_exists=exists,
                alive=bool(exists and status and status.net_ns),
                node_ip=status.src_ip if status else "",
                links=len(topo.links) if topo else 0,
                conditions=status.conditions if status else (),
            )
        )
    return out


# ---- reading the kernel -----------------------------------------------------------------------


def read_interfaces(records: Sequence[PodRecord]) -> dict[str, dict[str, LiveInterface]]:
    """pod key → kubedtn's interfaces in its namespace (by name); pods without a namespace: {}.

    (One namespace after the other: a read is mostly parsing, threads do not make it faster.)
    """
    from kubedtn.dataplane import NetlinkDataplane  # here: `lab up` prints its summary without the engine

    dp = NetlinkDataplane()
    out: dict[str, dict[str, LiveInterface]] = {}
    for rec in records:
        if not namespace_exists(rec.netns_path):
            out[rec.key] = {}
            continue
        try:
            out[rec.key] = {i.name: i for i in dp.read(rec.netns_path, owned_only=True)}
        except KubedtnError:
            out[rec.key] = {}  # vanished while reading
    return out


def kernel_has_netem() -> bool:
    """Probes a throwaway namespace: can a netem qdisc be attached?"""
    name = f"kdtn-probe-{uuid.uuid4().hex[:8]}"
    create_namespaces([name])
    try:
        probe = subprocess.run(
            ["tc", "-n", name, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
            capture_output=True,
            check=False,
        )
        return probe.returncode == 0
    finally:
        delete_namespaces([name])


def needs_netem_probe(views: Sequence[LinkView]) -> bool:
    """True when some end lacks a netem property (then the cause is worth a probe)."""
    for v in views:
        for end in (v.a, v.b):
            if end is None or end.live is None:
                continue
            if any(m != "rate" for m in missing_properties(end.want, end.live.properties)):
                return True
    return False


# ---- the whole lab ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabView:
    pods: tuple[PodView, ...]
    links: tuple[LinkView, ...]
    notes: tuple[str, ...]  # properties not applied, failed conditions

    @property
    def all_up(self) -> bool:
        return all(p.alive for p in self.pods) and all(v.state in WORKING for v in self.links)


def gather(
    store: ObjectStore, lab: str, records: Sequence[PodRecord], *, known: Sequence[Topology] = ()
) -> LabView:
    """Reads the lab's objects (with the daemon's status) and what the kernel has.

    ``known``: Topologies whose spec the caller has just written (``lab up``); of those only
    the status is read from the store, which skips checking every spec a second time.
    """
    topologies = stored_topologies(store, lab, known)
    pods = pod_views(topologies, records)
    interfaces = read_interfaces(records)
    links = link_views(topologies, interfaces)
    if needs_netem_probe(links):
        links = link_views(topologies, interfaces, netem_missing=not kernel_has_netem())
    return LabView(tuple(pods), tuple(links), tuple(lab_notes(links, pods)))


def stored_topologies(store: ObjectStore, lab: str, known: Sequence[Topology]) -> list[Topology]:
    """The lab's Topologies as stored: for the ``known`` ones their spec with the stored
    status summary, the others checked in full."""
    return _topologies(topostore.lab_objects(store, lab), known)


def _topologies(objects: Sequence[Mapping[str, Any]], known: Sequence[Topology]) -> list[Topology]:
    by_key = {t.key: t for t in known}
    out: list[Topology] = []
    for obj in objects:
        spec = by_key.get(topostore.key_of(obj))
        if spec is None:
            out.append(topology_from_dict(obj))
        else:
            out.append(replace(spec, status=status_summary(obj)))
    return out


def recorded_uids(obj: Mapping[str, Any]) -> frozenset[int]:
    """The uids of a stored object's ``status.links`` (a bad entry is left out: the status
    is the daemon's own writing, and this is only a summary)."""
    status = obj.get("status")
    links = status.get("links") if isinstance(status, Mapping) else None
    if not isinstance(links, list):
        return frozenset()
    return frozenset(
        uid for item in links if isinstance(item, Mapping) and isinstance(uid := item.get("uid"), int)
    )


def gather_recorded(
    store: ObjectStore, lab: str, records: Sequence[PodRecord], *, known: Sequence[Topology] = ()
) -> LabView:
    """The lab as the daemon recorded it (no kernel read): what ``lab up`` just did.

    ``known``: Topologies whose spec the caller has just written; of those only the
    status is read from the store."""
    objects = topostore.lab_objects(store, lab)
    topologies = _topologies(objects, known)
    plumbed = {topostore.key_of(obj): recorded_uids(obj) for obj in objects}
    without_netem = {t.key: frozenset(noted_links(t.status)) for t in topologies}
    pods = pod_views(topologies, records)
    links = recorded_link_views(topologies, plumbed, without_netem)
    return LabView(tuple(pods), tuple(links), tuple(lab_notes(links, pods)))


# The daemon's condition naming properties the kernel lacks: the lab reports those per end
# (link notes), so it does not repeat the condition.
PROPERTIES_CONDITION = PROPERTIES


def lab_notes(links: Sequence[LinkView], pods: Sequence[PodView]) -> list[str]:
    """Warnings: properties not applied, conditions the daemon reported as failed."""
    out = [f"link {v.uid} {note}" for v in links for note in v.notes]
    for p in pods:
        who = pod_text(p.kube_ns, p.name)
        for c in p.conditions:
            if c.status == "False" and c.type != PROPERTIES_CONDITION:
                out.append(f"{who}: {c.type} is False ({c.reason}): {c.message}")
    return out
