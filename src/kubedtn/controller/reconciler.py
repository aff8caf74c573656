"""One Topology reconciled: read it, its peers and the Nodes from the caches, judge it
(``controller.topologies``), write what the verdict asks, record Events.

Writes carry the resourceVersion read, so a write on a stale object is a conflict: the key
is retried (the work queue's backoff) from the cache, which the conflicting write reaches
soon. The key's pods' peers are queued too by the informers' handlers (``keys_for_*``):
agreement is a property of the pair.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubedtn.controller.events import EventRecorder
from kubedtn.controller.nodes import DEFAULT_GRACE_S, NodeView, node_addresses, node_ready, view_nodes
from kubedtn.controller.topologies import READY, Verdict, judge, ready_event
from kubedtn.model import Condition, PeerKind, Topology
from kubedtn.model.objects import LINKS_FINALIZER, condition_to_dict, parse_topology, running_at
from kubedtn.store import EventType
from kubedtn.store.kubecache import CachedKubeStore
from kubedtn.store.objects import without_finalizer

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name) of a Topology


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return str(meta.get("namespace") or "default"), str(meta["name"])


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def peer_keys(obj: Mapping[str, Any]) -> list[Key]:
    """The Topologies a Topology's links name as peers (read from the raw spec: a broken
    object still has peers that must hear of it)."""
    namespace = _key(obj)[0]
    links = ((obj.get("spec") or {}).get("links")) or []
    out: list[Key] = []
    for link in links if isinstance(links, list) else []:
        peer = link.get("peer_pod") if isinstance(link, Mapping) else None
        if isinstance(peer, str) and peer and "/" not in peer and peer != "localhost":
            out.append((namespace, peer))
    return out


def merged_conditions(
    raw: Iterable[Any], new: Iterable[Condition], *, generation: int, now: str
) -> list[Any]:
    """The status's conditions with ``new`` set by type; a condition's transition time moves
    only when its status flips. Conditions of other types (the daemons') are kept as they are."""
    out = [dict(c) for c in raw if isinstance(c, Mapping)]
    for cond in new:
        old = next((c for c in out if c.get("type") == cond.type), None)
        when = (
            now if old is None or old.get("status") != cond.status else old.get("lastTransitionTime") or now
        )
        body = condition_to_dict(cond)
        body.update(lastTransitionTime=when, observedGeneration=generation)
        if old is None:
            out.append(body)
        else:
            out[out.index(old)] = body
    return out


class Reconciler:
    """``reconcile(key)`` for the work queue's workers; the node clock for lost nodes."""

    def __init__(
        self,
        *,
        topologies: CachedKubeStore,
        nodes: CachedKubeStore | None,
        recorder: EventRecorder,
        requeue: Callable[[Key, float], None],
        grace_s: float = DEFAULT_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topologies = topologies
        self.nodes = nodes
        self.recorder = recorder
        self.requeue = requeue
        self.grace_s = grace_s
        self._clock = clock
        self._lock = threading.Lock()
        self._not_ready_since: dict[str, float] = {}  # node name → when first seen not Ready
        self._deleted: set[str] = set()  # addresses of Nodes seen deleted
        self._ready_seen: dict[Key, Condition | None] = {}  # for Events on Ready changes
        self.reconciled = 0

    # ---- what an informer's change asks to reconcile -----------------------------------

    def keys_for_topology(self, kind: EventType, obj: Mapping[str, Any]) -> list[Key]:
        return [_key(obj), *peer_keys(obj)]

    def keys_for_node(self, kind: EventType, node: Mapping[str, Any]) -> list[Key]:
        """Note when a node stops being Ready; the Topologies recorded running at its addresses."""
        name = str(node["metadata"]["name"])
        addresses = set(node_addresses(node))
        with self._lock:
            if kind is EventType.DELETED or node_ready(node):
                self._not_ready_since.pop(name, None)
            else:
                self._not_ready_since.setdefault(name, self._clock())
            if kind is EventType.DELETED:
                self._deleted |= addresses
            else:
                self._deleted -= addresses
        items, _ = self.topologies.list()
        return [_key(o) for o in items if running_at(o) in addresses]

    # ---- one key ----------------------------------------------------------------------

    def node_view(self) -> NodeView:
        if self.nodes is None or not self.nodes.cache.wait_synced(0):
            return NodeView(known=False, ready=frozenset(), lost=frozenset(), waiting={})
        items, _ = self.nodes.list()
        with self._lock:
            since = dict(self._not_ready_since)
            deleted = set(self._deleted)
        for node in items:  # a node first seen not Ready in a list (no event yet)
            name = str(node["metadata"]["name"])
            if not node_ready(node) and name not in since:
                with self._lock:
                    since[name] = self._not_ready_since.setdefault(name, self._clock())
        return view_nodes(
            items, not_ready_since=since, now=self._clock(), grace_s=self.grace_s, deleted=deleted
        )

    def reconcile(self, key: Key) -> None:
        obj = self.topologies.cache.get(key)
        if obj is None:
            with self._lock:
                self._ready_seen.pop(key, None)
            return
        parsed = parse_topology(obj)
        topo = parsed.topology
        if topo is None:
            return  # not even a name and links: kubedtn topo validate says why; nothing to judge
        peers = self._peers(topo)
        view = self.node_view()
        at = running_at(obj)
        verdict = judge(obj, topo, peers, node_lost=view.is_lost(at))
        if at in view.waiting:
            self.requeue(key, view.waiting[at] + 0.05)  # judge it again once its grace is over
        self._note_ready(obj, key, topo)
        self._apply(obj, verdict)
        self.reconciled += 1

    def _peers(self, topo: Topology) -> dict[str, Topology]:
        keys = {(topo.namespace, link.peer_pod) for link in topo.links if link.peer_kind is PeerKind.POD}
        out: dict[str, Topology] = {}
        for key in keys:
            held = self.topologies.cache.get(key)
            peer = None if held is None else parse_topology(held).topology
            if peer is not None:
                out[peer.key] = peer
        return out

    def _note_ready(self, obj: Mapping[str, Any], key: Key, topo: Topology) -> None:
        """An Event when the daemons' Ready changed since the last look (none at the first
        look after a start: a restarted controller would repeat every Event)."""
        ready = next((c for c in topo.status.conditions if c.type == READY), None)
        with self._lock:
            known = key in self._ready_seen
            old = self._ready_seen.get(key)
            self._ready_seen[key] = ready
        event = ready_event(old, ready) if known else None
        if event is not None:
            self.recorder.record(obj, event.type, event.reason, event.message)

    def _apply(self, obj: Mapping[str, Any], verdict: Verdict) -> None:
        current: Mapping[str, Any] = obj
        if verdict.status_changes:
            status = copy.deepcopy(dict(obj.get("status") or {}))
            if verdict.mark_down:
                for field in ("src_ip", "net_ns"):
                    status[field] = ""
                status["links"] = []
                status["skipped"] = []
            meta = obj["metadata"]
            status["conditions"] = merged_conditions(
                status.get("conditions") or [],
                verdict.conditions,
                generation=int(meta.get("generation") or 0),
                now=_now_rfc3339(),
            )
            current = self.topologies.update_status({**obj, "status": status})
        if verdict.add_finalizer:
            meta = dict(current["metadata"])
            meta["finalizers"] = [*(meta.get("finalizers") or []), LINKS_FINALIZER]
            current = self.topologies.update({**current, "metadata": meta})
        if verdict.remove_finalizer:
            freed = without_finalizer(current, LINKS_FINALIZER)
            if freed is not None:
                self.topologies.update(freed)
        for event in verdict.events:
            self.recorder.record(obj, event.type, event.reason, event.message)
        if verdict.mark_down:
            log.warning("%s/%s: its node is lost; recorded not running", *_key(obj))
