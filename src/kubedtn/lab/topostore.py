"""The lab's Topology objects in the store: written from the files, labelled with the lab.

Every object ``up`` writes carries ``kubedtn.io/lab=<lab>``; ``down`` deletes exactly the
objects with that label. Writes keep the object's status (the daemon's) and retry on
conflict (the daemon writes status concurrently).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubedtn.lab.names import LAB_LABEL
from kubedtn.model import Topology
from kubedtn.model.objects import topology_from_dict, topology_to_dict
from kubedtn.store import NotFoundError, ObjectStore, retry_on_conflict


@dataclass(frozen=True)
class WriteCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0


def lab_object(topo: Topology, lab: str) -> dict[str, Any]:
    """The store body of a Topology of the lab (spec and labels; status is the daemon's)."""
    obj = topology_to_dict(topo, with_status=False)
    meta = obj["metadata"]
    meta.pop("resourceVersion", None)
    meta.pop("generation", None)
    meta["labels"] = {**dict(topo.labels), LAB_LABEL: lab}
    return obj


def owners(store: ObjectStore, keys: Iterable[str]) -> dict[str, str | None]:
    """For each ``namespace/name`` that exists in the store: its lab label (None: no label)."""
    out: dict[str, str | None] = {}
    items, _ = store.list()
    wanted = set(keys)
    for obj in items:
        key = key_of(obj)
        if key in wanted:
            out[key] = (obj["metadata"].get("labels") or {}).get(LAB_LABEL)
    return out


def _same_content(stored: dict[str, Any], body: dict[str, Any]) -> bool:
    same_spec: bool = stored.get("spec") == body["spec"]
    same_labels: bool = (stored["metadata"].get("labels") or {}) == body["metadata"].get("labels")
    return same_spec and same_labels


def write(store: ObjectStore, lab: str, topologies: Sequence[Topology]) -> WriteCounts:
    """Creates or updates every Topology (idempotent: unchanged objects are not rewritten),
    in one store batch (the SQLite store: one transaction, undone whole on an error)."""
    with store.batch():
        return _write(store, lab, topologies)


def _write(store: ObjectStore, lab: str, topologies: Sequence[Topology]) -> WriteCounts:
    created = updated = unchanged = 0
    for topo in topologies:
        body = lab_object(topo, lab)
        try:
            stored = store.get(topo.namespace, topo.name)
        except NotFoundError:
            store.create(body)
            created += 1
            continue
        if _same_content(stored, body):
            unchanged += 1
            continue

        def update(topo: Topology = topo, body: dict[str, Any] = body) -> None:
            current = store.get(topo.namespace, topo.name)
            new = dict(body)
            new["metadata"] = {**body["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}
            store.update(new)

        retry_on_conflict(update)
        updated += 1
    return WriteCounts(created=created, updated=updated, unchanged=unchanged)


def key_of(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def lab_objects(store: ObjectStore, lab: str) -> list[dict[str, Any]]:
    items, _ = store.list(label_selector=f"{LAB_LABEL}={lab}")
    return items


def lab_topologies(store: ObjectStore, lab: str) -> list[Topology]:
    """The lab's Topologies as stored (with the daemon's status)."""
    return [topology_from_dict(obj) for obj in lab_objects(store, lab)]


def delete(store: ObjectStore, lab: str, *, keys: Iterable[str] | None = None) -> int:
    """Deletes the lab's objects (only those of ``keys`` when given); the number deleted."""
    only = set(keys) if keys is not None else None
    deleted = 0
    for obj in lab_objects(store, lab):
        meta = obj["metadata"]
        if only is not None and key_of(obj) not in only:
            continue
        try:
            store.delete(meta["namespace"], meta["name"])
            deleted += 1
        except NotFoundError:
            pass
    return deleted
