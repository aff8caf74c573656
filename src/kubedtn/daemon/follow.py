"""The daemon follows live Topologies: spec edits, deletions and peers lost with their node.

On a cluster nobody calls AddLinks/DelLinks/UpdateLinks: users edit Topologies in the API
(``kubectl patch``, ``kubedtn topo apply``). Each daemon watches the store and acts for
the pods running on its node; nothing crosses the network to make it act (the security
issue's rule), and a daemon that was away catches up from the store when it is back.

What an event asks (decided from the raw object, without parsing most of them):

* a pod here whose ``metadata.generation`` moved: its spec changed; the difference from
  its status becomes DelLinks, UpdateLinks and AddLinks (``kubedtn.daemon.livespec``);
* a pod here whose Topology is being deleted (``deletionTimestamp``, held by the
  controller's finalizer): the pod is taken out of the network as at DestroyPod (its
  ends removed, its peers told), then the finalizer is removed so the object can go; a
  Topology deleted outright is handled the same way from its last state;
* a pod elsewhere recorded running at some node and then at none (its daemon's DestroyPod,
  or the controller after the pod's node died): our pods' plumbed links to it are
  removed, so no VXLAN end keeps pointing at a node that is gone. When the pod comes up
  again, the cross-node protocol makes the links anew.

The watch thread only decides; a worker thread does the work, one item at a time, and
retries a failed item with backoff. A list after a broken watch (410 Gone, or the API back)
is compared with what was seen before, so nothing that happened meanwhile is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubedtn.daemon.health import Backoff, JobHealth
from kubedtn.daemon.livespec import generation, is_deleting, links_to, spec_diff
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.plan import is_alive
from kubedtn.daemon.types import split_key
from kubedtn.dataplane.live import uid_from_alias
from kubedtn.errors import NotFoundError, ValidationError
from kubedtn.model import Link, Topology
from kubedtn.model.objects import LINKS_FINALIZER, parse_topology, running_at
from kubedtn.model.podref import PodRef
from kubedtn.store import EventType, ExpiredError, ObjectStore, retry_on_conflict
from kubedtn.store.objects import without_finalizer

log = EventLog(logging.getLogger(__name__))

RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
_WATCH_TIMEOUT = 30.0


@dataclass(frozen=True)
class _Seen:
    generation: int
    running_at: str  # node IP, "" when not running


@dataclass(frozen=True)
class Work:
    """One thing to do for one pod: ``spec`` (sync its links to its spec), ``delete`` (its
    Topology is going), ``gone`` (deleted; ``last`` its final state), ``peer-down`` (the pod
    ``key`` stopped running elsewhere: our links to it go)."""

    kind: str
    key: str
    last: Mapping[str, Any] | None = None


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace') or 'default'}/{meta['name']}"


def decide(old: _Seen | None, kind: EventType, obj: Mapping[str, Any], *, here: str) -> list[Work]:
    """Pure: the work one event asks of the daemon of node ``here`` (module docstring).
    ``old`` is what was seen of the object before (None: nothing)."""
    key = _key(obj)
    at = running_at(obj)
    work: list[Work] = []
    if kind is EventType.DELETED:
        if at == here:
            work.append(Work("gone", key, obj))
        elif at or (old is not None and old.running_at):
            work.append(Work("peer-down", key))
        return work
    if at == here:
        if is_deleting(obj):
            work.append(Work("delete", key))
        elif old is not None and old.generation != generation(obj):
            work.append(Work("spec", key))
    elif not at and old is not None and old.running_at and old.running_at != here:
        work.append(Work("peer-down", key))
    return work


class SpecFollower:
    """Watches the store and keeps this node's pods' links to their live Topologies (module
    docstring). ``start()`` after the manager's start-up reconcile; ``stop()`` ends both threads."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        manager: LinkManager,
        retry: Sequence[float] = RETRY_S,
    ) -> None:
        self.store = store
        self.manager = manager
        self.here = manager.node.ip
        self._retry = tuple(retry)
        self._seen: dict[str, _Seen] = {}
        self._last_here: dict[str, Mapping[str, Any]] = {}  # for a deletion the watch missed
        self._queue: dict[tuple[str, str], tuple[Work, float, int]] = {}  # → (work, due, failures)
        self._wake = threading.Condition()
        self._stopped = threading.Event()
        self._stream: Any = None
        self._threads: list[threading.Thread] = []
        self.health = JobHealth("follower")
        self.done = 0  # items finished (for tests and metrics)

    # ---- the watch thread ---------------------------------------------------------------

    def start(self) -> None:
        rv = self._list(initial=True)
        for name, target, args in (("watch", self._run, (rv,)), ("work", self._work, ())):
            thread = threading.Thread(target=target, args=args, name=f"kubedtn-follow-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            stream.stop()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)

    def _list(self, *, initial: bool = False) -> str:
        items, rv = self.store.list()
        listed = {_key(o): o for o in items}
        if not initial:  # what happened while the watch was broken, as events
            for key in set(self._seen) - listed.keys():
                named = {"metadata": dict(zip(("namespace", "name"), split_key(key), strict=True))}
                self._observe(EventType.DELETED, self._last_here.get(key, named))
        for obj in listed.values():
            if initial:
                self._seen[_key(obj)] = _Seen(generation(obj), running_at(obj))
                if running_at(obj) == self.here:
                    self._last_here[_key(obj)] = obj
            else:
                self._observe(EventType.MODIFIED, obj)
        return rv

    def _observe(self, kind: EventType, obj: Mapping[str, Any]) -> None:
        key = _key(obj)
        old = self._seen.get(key)
        if kind is EventType.DELETED:
            self._seen.pop(key, None)
        else:
            self._seen[key] = _Seen(generation(obj), running_at(obj))
        if kind is not EventType.DELETED and running_at(obj) == self.here:
            self._last_here[key] = obj
        else:
            self._last_here.pop(key, None)
        for work in decide(old, kind, obj, here=self.here):
            self.enqueue(work)

    def _run(self, rv: str) -> None:
        while not self._stopped.is_set():
            try:
                stream = self.store.watch(resource_version=rv, timeout=_WATCH_TIMEOUT)
                self._stream = stream
                if self._stopped.is_set():
                    return
                for event in stream:
                    self._observe_one(event.type, event.object)
                rv = str(stream.position)
            except ExpiredError:
                rv = self._relist_until_done()
            except Exception as e:  # (KubedtnError, or a bug: the thread must not die of it)
                log.error("topology watch failed; listing again", action="follow", error=repr(e))
                self.health.failed(f"watch: {e}")
                if self._stopped.wait(1.0):
                    return
                rv = self._relist_until_done()
            finally:
                self._stream = None
        self.health.stopped()

    def _observe_one(self, kind: EventType, obj: Mapping[str, Any]) -> None:
        """``_observe``, an object it cannot read being that object's error alone."""
        try:
            self._observe(kind, obj)
        except Exception as e:
            meta = obj.get("metadata") if isinstance(obj, Mapping) else None
            named = (
                f"{meta.get('namespace')}/{meta.get('name')}" if isinstance(meta, Mapping) else repr(obj)[:80]
            )
            log.error("topology change not followed: unreadable object", pod=named, error=repr(e))
            self.health.failed(f"{named}: not followed: {e!r}")

    def _relist_until_done(self) -> str:
        backoff = Backoff()
        while not self._stopped.is_set():
            try:
                rv = self._list()
                self.health.ok()
                return rv
            except Exception as e:
                log.error("topology list failed; trying again", action="follow", error=repr(e))
                self.health.failed(f"list: {e}")
                self._stopped.wait(backoff.next())
        return "0"

    # ---- the worker ---------------------------------------------------------------------

    def enqueue(self, work: Work, *, delay: float = 0.0, failures: int = 0) -> None:
        with self._wake:
            held = self._queue.get((work.kind, work.key))
            due = time.monotonic() + delay
            if held is not None and failures == 0:
                due = min(due, held[1])  # asked again: no later than already due
            self._queue[(work.kind, work.key)] = (work, due, failures)
            self._wake.notify_all()

    def pending(self) -> int:
        with self._wake:
            return len(self._queue)

    def _next(self) -> tuple[Work, int] | None:
        with self._wake:
            while not self._stopped.is_set():
                now = time.monotonic()
                ready = [(due, k) for k, (_, due, _) in self._queue.items() if due <= now]
                if ready:
                    _, chosen = min(ready)
                    work, _, failures = self._queue.pop(chosen)
                    return work, failures
                soonest = min((due for _, due, _ in self._queue.values()), default=None)
                self._wake.wait(None if soonest is None else max(0.0, soonest - now))
        return None

    def _work(self) -> None:
        while (item := self._next()) is not None:
            work, failures = item
            try:
                self.run(work)
            except ValidationError as e:
                # A bad spec does not get better by trying again: the next edit brings it back.
                log.error("links not changed: the Topology has problems", pod=work.key, error=e)
                self.health.failed(f"{work.key}: links not changed: {e}")
            except Exception as e:  # (a worker that died would follow nothing more)
                pause = self._retry[min(failures, len(self._retry) - 1)]
                log.error(
                    "live change failed; trying again", pod=work.key, action=work.kind, retry_s=pause, error=e
                )
                self.health.failed(f"{work.key}: {work.kind} failed, trying again in {pause:g} s: {e}")
                self.enqueue(work, delay=pause, failures=failures + 1)
            else:
                self.health.ok()
                with self._wake:
                    self.done += 1

    def run(self, work: Work) -> None:
        """Do one item now (the worker calls this; so may tests)."""
        namespace, name = split_key(work.key)
        pod = PodRef(namespace=namespace, name=name)
        if work.kind == "spec":
            self._sync_spec(pod)
        elif work.kind == "delete":
            self._take_out(pod)
        elif work.kind == "gone":
            assert work.last is not None
            topo = parse_topology(work.last).topology
            if topo is not None:
                self.manager.destroy_pods([pod], deleted={work.key: topo})
        elif work.kind == "peer-down":
            self._drop_links_to(pod)

    def _sync_spec(self, pod: PodRef) -> None:
        records = self.manager.records
        topo = records.lenient(pod.namespace, pod.name)
        if topo is None or not is_alive(topo) or topo.status.src_ip != self.here:
            return

        def peer_up(link: Link) -> bool:
            peer = records.lenient(pod.namespace, link.peer_pod)
            return peer is not None and is_alive(peer)

        live = {
            uid: i.name
            for i in self.manager.dataplane.read(topo.status.net_ns, owned_only=True)
            if (uid := uid_from_alias(i.alias)) is not None
        }
        diff = spec_diff(topo, live=live, peer_up=peer_up)
        if diff.empty:
            return
        if diff.removed:
            self.manager.del_links(pod, diff.removed)
        if diff.updated:
            self.manager.update_links(pod, diff.updated)
        if diff.added:
            outcome = self.manager.add_links(pod, diff.added)
            if outcome.error is not None:
                raise outcome.error
        log.info(
            "links follow the spec",
            pod=pod.name,
            namespace=pod.namespace,
            action="follow",
            removed=len(diff.removed),
            updated=len(diff.updated),
            added=len(diff.added),
        )

    def _take_out(self, pod: PodRef) -> None:
        (outcome,) = self.manager.destroy_pods([pod])
        if outcome.error is not None:
            raise outcome.error

        def release() -> None:
            try:
                obj = self.store.get(pod.namespace, pod.name)
            except NotFoundError:
                return
            freed = without_finalizer(obj, LINKS_FINALIZER)
            if freed is not None:
                self.store.update(freed)

        retry_on_conflict(release)
        log.info("topology deleted; links removed", pod=pod.name, namespace=pod.namespace, action="follow")

    def _drop_links_to(self, peer: PodRef) -> None:
        current = self.manager.records.lenient(peer.namespace, peer.name)
        if current is not None and is_alive(current):
            return  # up again meanwhile: the cross-node protocol has its links in hand
        here: list[Topology] = [t for t in self.manager.pods_here() if t.namespace == peer.namespace]
        for topo in here:
            links = links_to(topo, peer.name)
            if links:
                self.manager.del_links(PodRef(namespace=topo.namespace, name=topo.name), links)
                log.info(
                    "peer is down; our ends of its links removed",
                    pod=topo.name,
                    namespace=topo.namespace,
                    peer=peer.name,
                    action="follow",
                    links=len(links),
                )
