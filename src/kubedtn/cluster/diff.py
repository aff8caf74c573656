"""What applying files would change on a cluster, per Topology and per link uid (pure).

Lines read like ``r1 link 1 (eth1→r2/eth1): latency 10ms → 20ms``. A Topology not in
the cluster yet is created with all its links; a link uid only in the files is added and
one only in the cluster is removed. The live side is the object's spec: what the daemons
plumb (its status says how far they are).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubedtn.model.objects import LINK_FIELDS, link_to_dict, parse_topology
from kubedtn.model.types import PROPERTY_FIELDS, Link, Topology

NONE = "(none)"


def describe(link: Link) -> str:
    """``eth1→r2/eth1``: this end, the peer and the peer's end."""
    return f"{link.local_intf}→{link.peer_pod}/{link.peer_intf}"


def _fields(link: Link) -> dict[str, str]:
    raw = link_to_dict(link)
    out: dict[str, str] = {f: str(raw[f]) for f in LINK_FIELDS if f != "properties" and f in raw}
    out.update(link.properties.to_strings())
    return out


_ORDER = [*(f for f in LINK_FIELDS if f != "properties"), *PROPERTY_FIELDS]


def link_changes(before: Link, after: Link) -> list[str]:
    """``field old → new`` for every field or property that differs (``(none)`` when unset)."""
    old, new = _fields(before), _fields(after)
    return [
        f"{field} {old.get(field, NONE)} → {new.get(field, NONE)}"
        for field in _ORDER
        if old.get(field) != new.get(field)
    ]


def _set(link: Link) -> str:
    fields = _fields(link)
    shown = [
        f"{f} {fields[f]}"
        for f in _ORDER
        if f in fields and f not in ("uid", "peer_pod", "local_intf", "peer_intf")
    ]
    return f" ({', '.join(shown)})" if shown else ""


def _metadata_changes(label: str, before: Topology, after: Topology) -> list[str]:
    out: list[str] = []
    for what, old, new in (
        ("label", before.labels, after.labels),
        ("annotation", before.annotations, after.annotations),
    ):
        # Apply adds the file's labels and annotations; it leaves the others alone.
        out.extend(
            f"{label}: {what} {key} {old.get(key, NONE)} → {value}"
            for key, value in sorted(new.items())
            if old.get(key) != value
        )
    return out


def topology_diff(label: str, before: Topology | None, after: Topology) -> list[str]:
    """Lines for one Topology (``label`` names it, e.g. ``r1``); none when nothing changes."""
    if before is None:
        lines = [f"{label}: created with {len(after.links)} link{'s' if len(after.links) != 1 else ''}"]
        lines.extend(f"{label} link {link.uid} ({describe(link)}): added{_set(link)}" for link in after.links)
        return lines
    lines = _metadata_changes(label, before, after)
    old, new = before.links_by_uid, after.links_by_uid
    for uid in sorted(old.keys() | new.keys()):
        if uid not in old:
            lines.append(f"{label} link {uid} ({describe(new[uid])}): added{_set(new[uid])}")
        elif uid not in new:
            lines.append(f"{label} link {uid} ({describe(old[uid])}): removed")
        elif changes := link_changes(old[uid], new[uid]):
            lines.append(f"{label} link {uid} ({describe(new[uid])}): {', '.join(changes)}")
    return lines


def live_topology(obj: Mapping[str, Any], *, namespace: str) -> Topology | None:
    """A live object as a Topology; its links with problems are left out (they are shown as
    removed or added, so the diff still says what applying would write)."""
    return parse_topology(obj, default_namespace=namespace).topology


def diff_all(
    wanted: tuple[Topology, ...], live: Mapping[tuple[str, str], Mapping[str, Any] | None], *, namespace: str
) -> list[str]:
    """Every line for the files' Topologies; ``live`` maps (namespace, name) to the live
    object (None: not in the cluster). Names outside ``namespace`` are shown as ``ns/name``."""
    lines: list[str] = []
    for topo in wanted:
        label = topo.name if topo.namespace == namespace else topo.key
        obj = live.get((topo.namespace, topo.name))
        before = live_topology(obj, namespace=topo.namespace) if obj is not None else None
        lines.extend(topology_diff(label, before, topo))
    return lines
