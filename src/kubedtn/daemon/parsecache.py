"""Parsed Topologies by (namespace, name, resourceVersion): parse each stored version once.

Checking a Topology (``parse_topology``) costs about a millisecond for a pod with ten
links, and a batch reads each pod several times (its own check, the peers' view, every
status write). A resourceVersion names one exact content, so a parse can be reused until
the object changes; the daemon's own status writes seed the entry of the version they
create, so the next read of that pod costs nothing either.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from kubedtn.model import Topology, TopologyStatus
from kubedtn.model.objects import ParsedTopology, parse_topology

Key = tuple[str, str]


class TopologyCache:
    """A bounded, thread-safe map of the last parsed version of each object."""

    def __init__(self, *, size: int = 20_000) -> None:
        self._size = size
        self._entries: dict[Key, tuple[str, ParsedTopology]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(obj: Mapping[str, Any], namespace: str) -> tuple[Key, str]:
        meta = obj.get("metadata") or {}
        return (str(meta.get("namespace") or namespace), str(meta.get("name"))), str(
            meta.get("resourceVersion", "")
        )

    def parse(self, obj: Mapping[str, Any], *, namespace: str) -> ParsedTopology:
        key, rv = self._key(obj, namespace)
        if rv:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and entry[0] == rv:
                    self.hits += 1
                    return entry[1]
        parsed = parse_topology(obj, default_namespace=namespace)
        if rv:
            self._put(key, rv, parsed)
        return parsed

    def remember_status(
        self, topo: Topology, status: TopologyStatus, *, resource_version: str, base: ParsedTopology
    ) -> None:
        """The version a status write created: ``base`` (the parse it started from) with the new status."""
        assert base.topology is not None
        new = replace(base, topology=replace(topo, status=status, resource_version=resource_version))
        self._put((topo.namespace, topo.name), resource_version, new)

    def _put(self, key: Key, rv: str, parsed: ParsedTopology) -> None:
        with self._lock:
            self.misses += 1
            self._entries.pop(key, None)
            self._entries[key] = (rv, parsed)
            while len(self._entries) > self._size:
                del self._entries[next(iter(self._entries))]
