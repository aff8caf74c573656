"""Parsed Topologies by (namespace, name): parse each stored version once, and each spec once.

Checking a Topology (``parse_topology``) costs about a millisecond for a pod with ten
links, and a batch reads each pod several times (its own check, the peers' view, every
status write). A resourceVersion names one exact content, so a parse is reused until the
object changes; the daemon's own status writes seed the entry of the version they
create, so the next read of that pod costs nothing either. A new version whose metadata
and spec are those of the cached one — someone else wrote its status: a peer's daemon
marking it alive, recording a link it plumbed — has only its status checked again
(``reparse_status``).

The raw spec and metadata of a parsed object are kept (not copied) to recognise them:
callers must not change the spec or metadata of objects they hand in afterwards
(``obj["status"] = ...``, which the status writes do, is fine).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from kubedtn.model import Topology, TopologyStatus
from kubedtn.model.objects import ParsedTopology, parse_topology, reparse_status

Key = tuple[str, str]


@dataclass(frozen=True)
class _Entry:
    rv: str
    parsed: ParsedTopology
    # What a status write leaves alone: apiVersion, metadata but resourceVersion, spec.
    api_version: object
    meta: dict[str, Any]
    spec: object


def _meta_but_rv(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return {k: v for k, v in meta.items() if k != "resourceVersion"} if isinstance(meta, Mapping) else {}


class TopologyCache:
    """A bounded, thread-safe map of the last parsed version of each object."""

    def __init__(self, *, size: int = 20_000) -> None:
        self._size = size
        self._entries: dict[Key, _Entry] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.status_only = 0
        self.misses = 0

    @staticmethod
    def _key(obj: Mapping[str, Any], namespace: str) -> tuple[Key, str]:
        meta = obj.get("metadata") or {}
        return (str(meta.get("namespace") or namespace), str(meta.get("name"))), str(
            meta.get("resourceVersion", "")
        )

    def parse(self, obj: Mapping[str, Any], *, namespace: str) -> ParsedTopology:
        key, rv = self._key(obj, namespace)
        if not rv:
            return parse_topology(obj, default_namespace=namespace)
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry.rv == rv:
            with self._lock:
                self.hits += 1
            return entry.parsed
        meta = _meta_but_rv(obj)
        same_spec = (
            entry is not None
            and entry.spec == obj.get("spec")
            and entry.meta == meta
            and entry.api_version == obj.get("apiVersion")
        )
        if entry is not None and same_spec:
            parsed = reparse_status(entry.parsed, obj, default_namespace=namespace)
            with self._lock:
                self.status_only += 1
        else:
            parsed = parse_topology(obj, default_namespace=namespace)
            with self._lock:
                self.misses += 1
        self._put(key, _Entry(rv, parsed, obj.get("apiVersion"), meta, obj.get("spec")))
        return parsed

    def version(self, namespace: str, name: str) -> tuple[str, ParsedTopology] | None:
        """The resourceVersion of the newest parse this cache holds, and that parse."""
        with self._lock:
            entry = self._entries.get((namespace, name))
        return (entry.rv, entry.parsed) if entry is not None else None

    def latest(self, namespace: str, name: str) -> ParsedTopology | None:
        """The newest version of the object this cache has seen (maybe not the store's newest)."""
        with self._lock:
            entry = self._entries.get((namespace, name))
        return entry.parsed if entry is not None else None

    def remember_status(
        self, topo: Topology, status: TopologyStatus, *, resource_version: str, base: ParsedTopology
    ) -> None:
        """The version a status write created: ``base`` (the parse it started from) with the new status."""
        assert base.topology is not None
        key = (topo.namespace, topo.name)
        new = replace(base, topology=replace(topo, status=status, resource_version=resource_version))
        with self._lock:
            old = self._entries.get(key)
        if old is not None and old.parsed is base:
            self._put(key, replace(old, rv=resource_version, parsed=new))

    def _put(self, key: Key, entry: _Entry) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = entry
            while len(self._entries) > self._size:
                del self._entries[next(iter(self._entries))]
