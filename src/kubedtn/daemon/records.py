"""The pods as the store records them: reading Topologies (through the parse cache, many
from one snapshot) and writing statuses (computed from the version last seen, committed
conditionally, read-modify-write only when that guess went stale).

Every other part of the daemon reads and writes pods through ``PodRecords``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kubedtn.daemon.jobs import StatusChange
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.parsecache import TopologyCache
from kubedtn.daemon.plan import NodeInfo, is_alive
from kubedtn.daemon.types import split_key
from kubedtn.dataplane import Dataplane
from kubedtn.errors import ConflictError, NotFoundError, ValidationError
from kubedtn.model import Topology, TopologyStatus
from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.model.objects import ParsedTopology, status_to_dict
from kubedtn.store import ObjectStore, retry_on_conflict

log = EventLog(logging.getLogger(__name__))

# Optimistic-concurrency retries of a status write (many requests may touch one pod's status).
STATUS_WRITE_ATTEMPTS = 30

# Pods read from one snapshot: the parse this daemon has of the stored version, or the object.
Fetched = list[tuple[tuple[str, str], ParsedTopology | Mapping[str, Any]]]


@dataclass(frozen=True)
class _Guess:
    """A status computed from the version of a pod this daemon last read or wrote."""

    base: ParsedTopology
    topo: Topology  # base.topology
    new: TopologyStatus
    body: dict[str, Any]  # new as stored


@dataclass(frozen=True)
class StatusWrite:
    """A status write; ``guess`` None: read the store first (nothing cached, or the cached
    version needs no change, which proves nothing about the stored one)."""

    key: str
    change: StatusChange
    guess: _Guess | None = None


class PodRecords:
    """Reads and status writes of the pods' Topologies (see the module docstring)."""

    def __init__(self, *, store: ObjectStore, dataplane: Dataplane, node: NodeInfo) -> None:
        self.store = store
        self.dataplane = dataplane
        self.node = node
        self._parsed = TopologyCache()

    # ---- reading --------------------------------------------------------------------------

    def current(self, namespace: str, name: str) -> ParsedTopology | None:
        """The stored version of a pod's Topology, parsed; None when there is none. A version
        this daemon parsed already (or wrote) is not read again, only confirmed current."""
        cached = self._parsed.version(namespace, name)
        try:
            if cached is None:
                obj = self.store.get(namespace, name)
            else:
                changed = self.store.get_if_changed(namespace, name, cached[0])
                if changed is None:
                    return cached[1]
                obj = changed
        except NotFoundError:
            return None
        return self._parsed.parse(obj, namespace=namespace)

    def lenient(self, namespace: str, name: str) -> Topology | None:
        """A pod's Topology even when some of its links are bad (those are left out)."""
        parsed = self.current(namespace, name)
        return None if parsed is None else parsed.topology

    def stored(self, namespace: str, name: str) -> Topology:
        """``lenient``, or NotFoundError naming the pod."""
        topo = self.lenient(namespace, name)
        if topo is None:
            raise NotFoundError(f"{namespace}/{name}: no Topology")
        return topo

    def strict(
        self, namespace: str, name: str, *, fetched: Mapping[tuple[str, str], ParsedTopology] | None = None
    ) -> Topology | None:
        """The pod's Topology, strictly checked (ValidationError lists every problem); None if
        absent. ``fetched``: the pods of a batch, parsed from one read (``parse_fetched``)."""
        parsed = self.current(namespace, name) if fetched is None else fetched.get((namespace, name))
        if parsed is None:
            return None
        if parsed.problems or parsed.topology is None:
            raise ValidationError(list(parsed.problems) or [f"{namespace}/{name}: not a Topology"])
        return parsed.topology

    def lenient_many(self, keys: Iterable[str]) -> dict[str, Topology]:
        """``lenient`` of many pods, by ``namespace/name``, from one snapshot of the store (one
        read, not one per pod); absent or unreadable ones left out."""
        parsed = self.parse_fetched(self.fetch(keys))
        return {topo.key: topo for p in parsed.values() if (topo := p.topology) is not None}

    def view(self, keys: Iterable[str], *, latest: bool = False) -> dict[str, Topology]:
        """Topologies by ``namespace/name`` (absent ones left out), for planning."""
        return self.view_of(self.fetch(keys, latest=latest))

    def fetch(self, keys: Iterable[str], *, latest: bool = False) -> Fetched:
        """The stored versions of these pods, from one snapshot of the store: two pods marked
        alive in one write are seen both alive or both not. Each is the parse this daemon
        has (the store still has that version) or the object as stored. ``latest``: past
        the store's cache, if it has one (``ObjectStore.get_changed``)."""
        have = {split_key(key): self._parsed.version(*split_key(key)) for key in sorted(set(keys))}
        if not have:
            return []
        changed = self.store.get_changed(
            [(ns, name, h[0] if h else "") for (ns, name), h in have.items()], latest=latest
        )
        fetched: Fetched = []
        for key, parse in have.items():
            if key not in changed:
                continue  # no Topology
            obj = changed[key]
            if obj is not None:
                fetched.append((key, obj))
            elif parse is not None:  # still the version parsed before
                fetched.append((key, parse[1]))
        return fetched

    def parse_fetched(self, fetched: Fetched) -> dict[tuple[str, str], ParsedTopology]:
        return {
            key: got if isinstance(got, ParsedTopology) else self._parsed.parse(got, namespace=key[0])
            for key, got in fetched
        }

    def view_of(self, fetched: Fetched) -> dict[str, Topology]:
        """The Topologies of fetched pods, by ``namespace/name`` (unparsable ones left out).

        A pod recorded alive on this node whose namespace is gone (it died without a
        DestroyPod), or whose path now names another namespace, is seen as not alive, so no
        link is planned into a missing namespace or into someone else's.
        """
        view: dict[str, Topology] = {}
        for parsed in self.parse_fetched(fetched).values():
            topo = parsed.topology
            if topo is None:
                continue
            if is_alive(topo) and topo.status.src_ip == self.node.ip and not self.namespace_still(topo):
                log.warning(
                    "peer's namespace is gone (or its path names another now); treating it as down",
                    pod=topo.name,
                    namespace=topo.namespace,
                    netns=topo.status.net_ns,
                )
                topo = replace(topo, status=replace(topo.status, src_ip="", net_ns=""))
            view[topo.key] = topo
        return view

    def namespace_still(self, topo: Topology) -> bool:
        """The pod's recorded namespace is still there and still the one recorded: a path the
        runtime reused for a new namespace (the pod died, a new sandbox got the same name)
        is not. Without a recorded identity (an older daemon, a CRD that prunes it) the path
        decides, as before."""
        found = self.dataplane.namespace_id(topo.status.net_ns)
        return bool(found) and (not topo.status.net_ns_id or found == topo.status.net_ns_id)

    def listed(self) -> list[Topology]:
        """Every stored Topology that can be read (bad links left out)."""
        items, _ = self.store.list()
        parsed = (
            self._parsed.parse(o, namespace=o["metadata"].get("namespace", DEFAULT_NAMESPACE)) for o in items
        )
        return [p.topology for p in parsed if p.topology is not None]

    def pods_here(self) -> list[Topology]:
        """Pods recorded alive on this node."""
        return [t for t in self.listed() if is_alive(t) and t.status.src_ip == self.node.ip]

    def prime(self, obj: Mapping[str, Any]) -> None:
        """Check a Topology now (kept for later reads of the same version): the store watch
        hands in new ones as they are written, so a batch of pods written just before its
        SetupPods is checked while it is being written."""
        self._parsed.parse(obj, namespace=obj.get("metadata", {}).get("namespace") or DEFAULT_NAMESPACE)

    # ---- writing statuses -----------------------------------------------------------------

    def write_status(self, key: str, change: StatusChange) -> Topology | None:
        """Read-modify-write of one pod's status (retried on conflicts); None when it is gone."""
        return self.commit_status(self.prepare_status(key, change))

    def write_statuses(
        self, changes: Iterable[tuple[str, StatusChange]], *, then_fetch: Iterable[str] = ()
    ) -> Fetched:
        """Status writes computed first, then committed in one batch: the store's single
        write lock (shared with the other nodes' daemons) is held only while they are written.
        ``then_fetch``: pods read (``fetch``) in the same transaction, after the writes."""
        writes = [self.prepare_status(key, change) for key, change in changes]
        with self.store.batch():
            self.commit_statuses(writes)
            return self.fetch(then_fetch)

    def prepare_status(self, key: str, change: StatusChange) -> StatusWrite:
        """The first try of a status write, computed (not written) from the version this
        daemon last read or wrote of the pod: most writes follow its own read or write, so
        the store is not read. Its resourceVersion makes the write conditional (see
        commit_status), so a guess that went stale meanwhile is caught there."""
        namespace, name = split_key(key)
        base = self._parsed.latest(namespace, name)
        if base is None or base.topology is None or not base.topology.resource_version:
            return StatusWrite(key, change)
        new = change(base.topology)
        if new == base.topology.status:
            return StatusWrite(key, change)
        return StatusWrite(key, change, _Guess(base, base.topology, new, status_to_dict(new)))

    def commit_statuses(self, writes: Sequence[StatusWrite]) -> None:
        """Commit prepared writes: every guess in one store call, then one at a time the writes
        whose guess was stale (or that had none) by read-modify-write. A pod written twice
        in the list: its second guess is stale, so that write reads the first's result."""
        guessed = [w for w in writes if w.guess is not None]
        versions = self.store.write_statuses(
            [
                (g.topo.namespace, g.topo.name, g.topo.resource_version, g.body)
                for w in guessed
                if (g := w.guess)
            ]
        )
        for write, rv in zip(guessed, versions, strict=True):
            if rv is not None and (g := write.guess) is not None:
                self._parsed.remember_status(g.topo, g.new, resource_version=rv, base=g.base)
        unwritten = {id(w) for w, rv in zip(guessed, versions, strict=True) if rv is None}
        for write in writes:
            if write.guess is None or id(write) in unwritten:
                self.commit_status(replace(write, guess=None))

    def commit_status(self, write: StatusWrite) -> Topology | None:
        """Write a prepared status; when its guess was stale (a conflict) or proves nothing
        (it needed no write, but the stored status may be another), read-modify-write."""
        guess = write.guess
        if guess is not None:
            topo = guess.topo
            with contextlib.suppress(ConflictError, NotFoundError):
                rv = self.store.write_status(
                    topo.namespace, topo.name, resource_version=topo.resource_version, status=guess.body
                )
                self._parsed.remember_status(topo, guess.new, resource_version=rv, base=guess.base)
                return replace(topo, status=guess.new, resource_version=rv)
        namespace, name = split_key(write.key)

        def attempt() -> Topology | None:
            parsed = self.current(namespace, name)
            topo = None if parsed is None else parsed.topology
            if parsed is None or topo is None:
                return None
            new = write.change(topo)
            if new != topo.status:
                rv = self.store.write_status(
                    namespace, name, resource_version=topo.resource_version, status=status_to_dict(new)
                )
                self._parsed.remember_status(topo, new, resource_version=rv, base=parsed)
            return replace(topo, status=new)

        return retry_on_conflict(attempt, STATUS_WRITE_ATTEMPTS, delay=0.005)
