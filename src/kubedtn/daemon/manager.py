"""The link manager: pods come up and go down, links follow — store + dataplane, no gRPC.

Every operation works in batches (one pod is a batch of one), in this order:

1. **read and check** the pods' own Topologies (strictly: a bad link is an error naming
   it) and their peers' (what the ends say of each other); every problem is reported
   before anything is written or plumbed;
2. **lock** the links involved (per (namespace, uid), sorted: no deadlock between batches);
3. **write** the pods' liveness (SetupPod: ``src_ip``, ``net_ns``) and, in the same
   store transaction, read the peers' liveness for step 4. Two pods coming up at once
   on two nodes: whichever wrote second sees the other alive and plans the link, and the
   first does not see the second, so the link is never lost and never made twice (a
   store without transactions reads just after the write: at least one of them sees
   the other).
   Just before, the far ends of cross-node links to peers step 1 saw alive are asked for
   already (``Remote.UpdateMany``), so the peers' daemons start on them one write and one
   plan sooner; step 4 decides. A *closed* batch (every peer of its pods is a pod of the
   batch: ``lab up``) has no peer outside to race with, so its liveness goes into step
   5's write instead (one write per pod, not two);
4. **plan** (``kubedtn.daemon.plan``) against the peers read in step 3 (AddLinks and
   closed batches read them now), ask the peers' daemons for the far ends not asked for
   yet, and send **one** ``Dataplane.apply`` for every link of the batch (both ends
   planned in the batch → one link);
5. **record** the outcome in both ends' status (links, skipped, Ready), still under the locks,
   so a concurrent DestroyPod of a peer sees a consistent store;
6. after releasing the locks, wait for the far ends (holding our locks while a peer
   works on its own could deadlock two daemons) and record the cross-node links; far
   ends asked for in step 3 that step 4 did not want are removed again.

Apply is idempotent, so a retry, a restart or two requests for one link converge.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

import kubedtn
from kubedtn.daemon.locks import LinkKey, LinkLocks
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.parsecache import TopologyCache
from kubedtn.daemon.plan import (
    CrossNode,
    Decision,
    Impossible,
    Localhost,
    Mismatch,
    NodeInfo,
    Physical,
    Plumb,
    RemoteEnd,
    SameNode,
    Skip,
    is_alive,
    mtu_problems,
    pair_problems,
    plan_pod,
)
from kubedtn.daemon.podstatus import now_rfc3339, status_after
from kubedtn.daemon.vnis import Holder, owners_here, settle
from kubedtn.dataplane import (
    ApplyReport,
    Dataplane,
    DataplaneError,
    Endpoint,
    InterfaceRef,
    LinkResult,
    LinkSpec,
    LiveInterface,
    NamespaceNotFoundError,
    NetemMissingError,
    VethSpec,
    VniInUseError,
    VxlanSpec,
    namespace_exists,
    validate_links,
)
from kubedtn.dataplane.netns import RUN_NETNS
from kubedtn.errors import KubedtnError, NotFoundError, TemporaryError, ValidationError
from kubedtn.model import Link, LinkProperties, PeerKind, Topology, TopologyStatus
from kubedtn.model.names import vni_for_link
from kubedtn.model.objects import ParsedTopology, status_to_dict
from kubedtn.store import ConflictError, ObjectStore, retry_on_conflict
from kubedtn.store import NotFoundError as StoreNotFound

log = EventLog(logging.getLogger(__name__))

# Optimistic-concurrency retries of a status write (many requests may touch one pod's status).
STATUS_WRITE_ATTEMPTS = 30

PLUMBED_OUTCOMES = ("created", "kept", "updated", "replaced")


class RemoteUpdater(Protocol):
    """The daemons of other nodes (service Remote): one call per node for many far ends.

    Each call returns an error or None per end, in order; a daemon that cannot be reached
    gives a TemporaryError for every end."""

    def update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]: ...

    def start_update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Future[list[KubedtnError | None]]:
        """update_many, sent before this returns; the answer comes in the future. The caller
        goes on with its own ends while the peer makes its."""
        ...

    def delete_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]: ...


# What a status write does to the stored status (a partial of podstatus.status_after).
StatusChange = Callable[[Topology], TopologyStatus]
# One Remote call in flight: the (pod, decision) pairs it carries, in order, and its answer.
_Push = tuple[list[tuple["_Job", CrossNode]], "Future[list[KubedtnError | None]]"]


def by_node(items: Iterable[tuple[RemoteEnd, Any]]) -> dict[str, list[tuple[RemoteEnd, Any]]]:
    """Far ends grouped by the node whose daemon makes them (one Remote call each)."""
    out: dict[str, list[tuple[RemoteEnd, Any]]] = {}
    for end, tag in items:
        out.setdefault(end.node_ip, []).append((end, tag))
    return out


@dataclass(frozen=True)
class SetupRequest:
    name: str
    namespace: str
    netns: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class PodRef:
    name: str
    namespace: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class PodOutcome:
    """What happened to one pod of a batch. ``error`` is None when it succeeded."""

    name: str
    namespace: str
    in_topology: bool = True
    error: KubedtnError | None = None
    plumbed: tuple[int, ...] = ()  # uids plumbed (or confirmed) by this call
    skipped: tuple[str, ...] = ()  # why links were left for later

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class CheckResult:
    in_topology: bool
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class NodeSummary:
    version: str
    node_ip: str
    pods_alive: int
    links: int


@dataclass
class _Job:
    """One pod's part of a plumbing batch."""

    topo: Topology  # as alive
    links: tuple[Link, ...]
    prune: bool = False
    decisions: list[Decision] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    failures: list[KubedtnError] = field(default_factory=list)
    plumbed: dict[int, Link] = field(default_factory=dict)
    unplumbed: set[int] = field(default_factory=set)
    not_applied: dict[int, str] = field(default_factory=dict)  # by uid: properties the kernel lacks

    @property
    def key(self) -> str:
        return self.topo.key


@dataclass(frozen=True)
class _Guess:
    """A status computed from the version of a pod this daemon last read or wrote."""

    base: ParsedTopology
    topo: Topology  # base.topology
    new: TopologyStatus
    body: dict[str, Any]  # new as stored


@dataclass(frozen=True)
class _StatusWrite:
    """A status write; ``guess`` None: read the store first (nothing cached, or the cached
    version needs no change, which proves nothing about the stored one)."""

    key: str
    change: StatusChange
    guess: _Guess | None = None


# Pods read from one snapshot: the parse this daemon has of the stored version, or the object.
_Fetched = list[tuple[tuple[str, str], ParsedTopology | Mapping[str, Any]]]


def _split_key(key: str) -> tuple[str, str]:
    namespace, name = key.split("/", 1)
    return namespace, name


def _first_error(errors: Sequence[KubedtnError]) -> KubedtnError:
    """One error for a pod: the kind of the first decides the gRPC code; every message is kept."""
    if len(errors) == 1:
        return errors[0]
    first = errors[0]
    if isinstance(first, ValidationError):
        return ValidationError([p for e in errors for p in getattr(e, "problems", [str(e)])])
    text = "; ".join(str(e) for e in errors)
    for kind in (TemporaryError, NamespaceNotFoundError, DataplaneError):
        if isinstance(first, kind):
            return kind(text)
    return KubedtnError(text)


class LinkManager:
    """SetupPod(s)/DestroyPod(s)/AddLinks/DelLinks/UpdateLinks/Get/SetAlive/Remote.Update,
    CheckPod and the start-up reconcile, for the pods of one node (see the module doc)."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        dataplane: Dataplane,
        node: NodeInfo,
        remote: RemoteUpdater | None = None,
        clock: Callable[[], str] = now_rfc3339,
    ) -> None:
        self.store = store
        self.dataplane = dataplane
        self.node = node
        self.remote = remote
        self.locks = LinkLocks()
        self._clock = clock
        self._parsed = TopologyCache()

    # ---- store access ---------------------------------------------------------------------

    def _current(self, namespace: str, name: str) -> ParsedTopology | None:
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
        except StoreNotFound:
            return None
        return self._parsed.parse(obj, namespace=namespace)

    def _lenient(self, namespace: str, name: str) -> Topology | None:
        """A pod's Topology even when some of its links are bad (those are left out)."""
        parsed = self._current(namespace, name)
        return None if parsed is None else parsed.topology

    def _read_own(
        self, namespace: str, name: str, *, fetched: Mapping[tuple[str, str], ParsedTopology] | None = None
    ) -> Topology | None:
        """The pod's Topology, strictly checked (ValidationError lists every problem); None if
        absent. ``fetched``: the pods of a batch, parsed from one read (``_parse_fetched``)."""
        parsed = self._current(namespace, name) if fetched is None else fetched.get((namespace, name))
        if parsed is None:
            return None
        if parsed.problems or parsed.topology is None:
            raise ValidationError(list(parsed.problems) or [f"{namespace}/{name}: not a Topology"])
        return parsed.topology

    def _read_view(self, keys: Iterable[str]) -> dict[str, Topology]:
        """Topologies by ``namespace/name`` (absent ones left out), for planning."""
        return self._view_of(self._fetch(keys))

    def _fetch(self, keys: Iterable[str]) -> _Fetched:
        """The stored versions of these pods, from one snapshot of the store: two pods marked
        alive in one write are seen both alive or both not. Each is the parse this daemon
        has (the store still has that version) or the object as stored."""
        have = {_split_key(key): self._parsed.version(*_split_key(key)) for key in sorted(set(keys))}
        if not have:
            return []
        changed = self.store.get_changed([(ns, name, h[0] if h else "") for (ns, name), h in have.items()])
        fetched: _Fetched = []
        for key, parse in have.items():
            if key not in changed:
                continue  # no Topology
            obj = changed[key]
            if obj is not None:
                fetched.append((key, obj))
            elif parse is not None:  # still the version parsed before
                fetched.append((key, parse[1]))
        return fetched

    def _parse_fetched(self, fetched: _Fetched) -> dict[tuple[str, str], ParsedTopology]:
        return {
            key: got if isinstance(got, ParsedTopology) else self._parsed.parse(got, namespace=key[0])
            for key, got in fetched
        }

    def _view_of(self, fetched: _Fetched) -> dict[str, Topology]:
        """The Topologies of fetched pods, by ``namespace/name`` (unparsable ones left out).

        A pod recorded alive on this node whose namespace is gone (it died without a
        DestroyPod) is seen as not alive, so no link is planned into a missing namespace.
        """
        view: dict[str, Topology] = {}
        for parsed in self._parse_fetched(fetched).values():
            topo = parsed.topology
            if topo is None:
                continue
            if (
                is_alive(topo)
                and topo.status.src_ip == self.node.ip
                and not namespace_exists(topo.status.net_ns)
            ):
                log.warning(
                    "peer's namespace is gone; treating it as down",
                    pod=topo.name,
                    namespace=topo.namespace,
                    netns=topo.status.net_ns,
                )
                topo = replace(topo, status=replace(topo.status, src_ip="", net_ns=""))
            view[topo.key] = topo
        return view

    def _write_status(self, key: str, change: StatusChange) -> Topology | None:
        """Read-modify-write of one pod's status (retried on conflicts); None when it is gone."""
        return self._commit_status(self._prepare_status(key, change))

    def _prepare_status(self, key: str, change: StatusChange) -> _StatusWrite:
        """The first try of a status write, computed (not written) from the version this
        daemon last read or wrote of the pod: most writes follow its own read or write, so
        the store is not read. Its resourceVersion makes the write conditional (see
        _commit_status), so a guess that went stale meanwhile is caught there."""
        namespace, name = _split_key(key)
        base = self._parsed.latest(namespace, name)
        if base is None or base.topology is None or not base.topology.resource_version:
            return _StatusWrite(key, change)
        new = change(base.topology)
        if new == base.topology.status:
            return _StatusWrite(key, change)
        return _StatusWrite(key, change, _Guess(base, base.topology, new, status_to_dict(new)))

    def _commit_statuses(self, writes: Sequence[_StatusWrite]) -> None:
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
                self._commit_status(replace(write, guess=None))

    def _commit_status(self, write: _StatusWrite) -> Topology | None:
        """Write a prepared status; when its guess was stale (a conflict) or proves nothing
        (it needed no write, but the stored status may be another), read-modify-write."""
        guess = write.guess
        if guess is not None:
            topo = guess.topo
            with contextlib.suppress(ConflictError, StoreNotFound):
                rv = self.store.write_status(
                    topo.namespace, topo.name, resource_version=topo.resource_version, status=guess.body
                )
                self._parsed.remember_status(topo, guess.new, resource_version=rv, base=guess.base)
                return replace(topo, status=guess.new, resource_version=rv)
        namespace, name = _split_key(write.key)

        def attempt() -> Topology | None:
            parsed = self._current(namespace, name)
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

    # ---- SetupPod(s), AddLinks ------------------------------------------------------------

    def setup_pods(self, requests: Sequence[SetupRequest], *, prune: bool = False) -> list[PodOutcome]:
        """Mark each pod alive on this node and plumb every link whose peer is alive.

        Pods in no Topology succeed at once (``in_topology`` False). ``prune`` also deletes
        our interfaces in the pods' namespaces that no planned link owns (the reconcile).
        """
        started = time.monotonic()
        outcomes: dict[str, PodOutcome] = {}
        jobs: list[_Job] = []
        queued: set[str] = set()
        own = self._parse_fetched(self._fetch(req.key for req in requests))  # (one read for all)
        for req in requests:
            plog = log.bind(pod=req.name, namespace=req.namespace, action="setup")
            if req.key in outcomes or req.key in queued:
                outcomes[req.key] = PodOutcome(
                    req.name,
                    req.namespace,
                    error=ValidationError(f"{req.key}: asked to set up twice in one batch"),
                )
                jobs = [j for j in jobs if j.key != req.key]
                continue
            try:
                topo = self._read_own(req.namespace, req.name, fetched=own)
            except ValidationError as e:
                plog.warning("pod's Topology is invalid; nothing done", error=e)
                outcomes[req.key] = PodOutcome(req.name, req.namespace, error=e)
                continue
            if topo is None:
                plog.info("pod is in no Topology; passing through")
                outcomes[req.key] = PodOutcome(req.name, req.namespace, in_topology=False)
                continue
            if not namespace_exists(req.netns):
                err = NamespaceNotFoundError(f"{req.key}: network namespace {req.netns} does not exist")
                outcomes[req.key] = PodOutcome(req.name, req.namespace, error=err)
                continue
            alive = replace(topo.status, src_ip=self.node.ip, net_ns=req.netns)
            jobs.append(_Job(replace(topo, status=alive), topo.links, prune=prune))
            queued.add(req.key)
        for outcome in self._plumb(jobs, mark_alive=True):
            outcomes[outcome.key] = outcome
        result = [outcomes[r.key] for r in requests]
        if len(requests) > 1:
            log.info(
                "batch set up",
                action="setup",
                pods=len(requests),
                failed=sum(1 for o in result if not o.ok),
                ms=round((time.monotonic() - started) * 1000, 1),
            )
        return result

    def add_links(self, pod: PodRef, links: Sequence[Link]) -> PodOutcome:
        """Plumb these links of an alive pod (the controller's AddLinks); a pod that is not
        up yet gets them at SetupPod."""
        topo = self._read_own(pod.namespace, pod.name)
        if topo is None:
            raise NotFoundError(f"{pod.key}: no Topology")
        if not is_alive(topo):
            log.info(
                "pod is not up; links wait for SetupPod", pod=pod.name, namespace=pod.namespace, action="add"
            )
            return PodOutcome(pod.name, pod.namespace)
        self._check_here(topo)
        (outcome,) = self._plumb([_Job(topo, tuple(links))], mark_alive=False)
        return outcome

    def _check_here(self, topo: Topology) -> None:
        if topo.status.src_ip != self.node.ip:
            raise NamespaceNotFoundError(
                f"{topo.key} runs on node {topo.status.src_ip}, not on this node ({self.node.ip}); "
                "ask that node's daemon"
            )

    def _precheck(self, jobs: list[_Job]) -> dict[str, Topology]:
        """Every problem between the two ends of each link, before anything is written or
        plumbed (each link's own fields were checked when its Topology was read). Returns the
        view it checked against: the peers as read, the batch's pods as alive."""
        view = self._read_view(_peer_keys(jobs))
        view.update({j.key: j.topo for j in jobs})
        for job in jobs:
            job.problems += pair_problems(job.topo, job.links, peers=view)
            job.problems += mtu_problems(job.topo, job.links, peers=view, node=self.node)
        return view

    def _plumb(self, jobs: list[_Job], *, mark_alive: bool) -> list[PodOutcome]:
        if not jobs:
            return []
        outcomes: list[PodOutcome] = []
        view = self._precheck(jobs)
        for job in [j for j in jobs if j.problems]:
            outcomes.append(self._outcome(job, error=ValidationError(job.problems)))
            log.warning(
                "links rejected; nothing done",
                pod=job.topo.name,
                namespace=job.topo.namespace,
                problems=len(job.problems),
            )
        jobs = [j for j in jobs if not j.problems]
        keys = {(j.topo.namespace, link.uid) for j in jobs for link in j.links}
        cross: list[tuple[_Job, CrossNode]] = []
        early: list[_Push] = []
        with self.locks.holding(keys):
            peers: dict[str, Topology] | None = None  # None: step 4 reads them
            if mark_alive and not _closed(jobs):
                early = self._push_early(jobs, view)
                now = self._clock()
                alive = [
                    (
                        job.key,
                        partial(
                            status_after, now=now, alive=(job.topo.status.src_ip, job.topo.status.net_ns)
                        ),
                    )
                    for job in jobs
                ]
                # Step 4's read of the peers happens in the same transaction as this write:
                # of two daemons marking the two ends of a link alive at once, exactly one
                # sees the other alive (and makes the link), never both.
                fetched = self._write_statuses(alive, then_fetch=_peer_keys(jobs))
                peers = self._view_of(fetched)
            pushes, unconfirmed = self._plan_and_apply(jobs, early=early, peers=peers)
            cross = [
                (j, d)
                for j in jobs
                for d in j.decisions
                if isinstance(d, CrossNode) and d.link.uid in j.plumbed
            ]
            # Cross-node links count once the far end exists too (step 6); the pods with
            # such links are recorded once, then.
            for job, d in cross:
                del job.plumbed[d.link.uid]
            waiting = {id(j) for j, _ in cross} if pushes else set()
            self._record([j for j in jobs if id(j) not in waiting])
        if pushes:
            self._finish_cross_node([j for j in jobs if id(j) in waiting], cross, pushes)
        self._take_back(unconfirmed)
        for job in jobs:
            error = _first_error(job.failures) if job.failures else None
            outcomes.append(self._outcome(job, error=error))
            plog = log.bind(
                pod=job.topo.name, namespace=job.topo.namespace, action="setup" if mark_alive else "add"
            )
            skipped = [d.reason for d in job.decisions if isinstance(d, Skip)]
            if error is None:
                plog.info("links plumbed", plumbed=len(job.plumbed), skipped=len(skipped))
            else:
                plog.error("links failed", plumbed=len(job.plumbed), error=error)
        return outcomes

    @staticmethod
    def _outcome(job: _Job, *, error: KubedtnError | None) -> PodOutcome:
        return PodOutcome(
            job.topo.name,
            job.topo.namespace,
            error=error,
            plumbed=tuple(sorted(job.plumbed)),
            skipped=tuple(d.reason for d in job.decisions if isinstance(d, Skip)),
        )

    def _plan_and_apply(
        self, jobs: list[_Job], *, early: Sequence[_Push] = (), peers: Mapping[str, Topology] | None = None
    ) -> tuple[list[_Push], list[_Push]]:
        """Steps 4-5 for the jobs (locks held): plan against the store, one apply, results per
        job. The peers' daemons are asked for the far ends of cross-node links as soon as the
        plan is made, so they make theirs while we make ours (step 6 waits for them).

        ``early``: far ends already asked for (``_push_early``). Returns the pushes step 6
        waits for (the early ones this plan confirms, and the new ones), and the early ones
        it does not confirm (to be taken back, ``_take_back``). ``peers``: the peers as read
        already (by the write that marked the jobs alive); None: read them now."""
        view = dict(peers) if peers is not None else self._read_view(_peer_keys(jobs))
        # The batch's own pods: their liveness as this call sets it, their spec as checked.
        view.update({j.key: j.topo for j in jobs})
        chosen: dict[LinkKey, LinkSpec] = {}
        for job in jobs:
            job.decisions = plan_pod(job.topo, peers=view, node=self.node, links=job.links)
            for i, d in enumerate(job.decisions):
                if isinstance(d, Mismatch):
                    # The peer's spec changed since the check: wait for it to settle.
                    job.decisions[i] = Skip(d.link, d.peer, "; ".join(d.problems))
                elif isinstance(d, Impossible):
                    job.failures.append(DataplaneError(d.reason))
                    job.unplumbed.add(d.link.uid)
                elif isinstance(d, Skip):
                    # Not "unplumbed": the peer's daemon, on another node, may be making this
                    # link right now and record it in this pod's status before we write ours.
                    # (What an earlier life of the pod recorded is cleared when it comes up
                    # in a new namespace, see status_after.)
                    pass
                else:
                    chosen.setdefault((job.topo.namespace, d.link.uid), d.spec)
        far = [(j, d) for j in jobs for d in j.decisions if isinstance(d, CrossNode)]
        wanted = {(id(j), d.link.uid): d.remote for j, d in far}
        confirmed, unconfirmed = _split_pushes(early, wanted)  # (unconfirmed: to take back)
        asked = {(id(j), d.link.uid) for pairs, _ in confirmed for j, d in pairs}
        pushes = confirmed + self._push_far_ends([(j, d) for j, d in far if (id(j), d.link.uid) not in asked])
        prune = {j.topo.status.net_ns for j in jobs if j.prune}
        results, not_applied = self._apply_links(chosen, prune=prune)
        for job in jobs:
            job.not_applied = {
                d.link.uid: not_applied[k]
                for d in job.decisions
                if (k := (job.topo.namespace, d.link.uid)) in not_applied
            }
            for d in job.decisions:
                if not isinstance(d, SameNode | CrossNode | Physical | Localhost):
                    continue
                result = results.get((job.topo.namespace, d.link.uid))
                if isinstance(result, LinkResult) and result.outcome in PLUMBED_OUTCOMES:
                    job.plumbed[d.link.uid] = d.link
                else:
                    job.unplumbed.add(d.link.uid)
                    error = result if isinstance(result, KubedtnError) else (result.error if result else None)
                    job.failures.append(_about(job.key, d.link.uid, error or DataplaneError("not applied")))
        return pushes, unconfirmed

    def _apply_links(
        self, chosen: Mapping[LinkKey, LinkSpec], *, prune: set[str]
    ) -> tuple[dict[LinkKey, LinkResult | KubedtnError], dict[LinkKey, str]]:
        """One apply, then the second chances: a VNI held by a leftover is freed and the link
        made again; a link refused for want of sch_netem is made with its rate only. The
        result per link, and a note per link applied without its netem properties."""
        results = self._apply(chosen, prune=prune)
        self._settle_taken_vnis(chosen, results)
        return results, self._without_netem(chosen, results)

    def _settle_taken_vnis(
        self, chosen: Mapping[LinkKey, LinkSpec], results: dict[LinkKey, LinkResult | KubedtnError]
    ) -> None:
        """VXLAN ends refused because their VNI is taken on this node: a leftover holder is
        removed and the link made again; a live link holding it makes a precise error naming
        both links. Updates ``results``."""
        taken = {
            key: result.error.vni
            for key, result in results.items()
            if isinstance(result, LinkResult) and isinstance(result.error, VniInUseError)
        }
        if not taken:
            return
        holders = self._vxlan_holders(set(taken.values()))
        owners = owners_here(self.pods_here())
        stale: set[Holder] = set()
        again: dict[LinkKey, LinkSpec] = {}
        for key, vni in taken.items():
            verdict = settle(vni, key, holders, owners)
            if verdict.collision is not None:
                spec = chosen[key]
                ours = f"{key[0]} link {key[1]} ({spec.endpoints[0].name})"
                results[key] = ValidationError(
                    f"{ours}: VXLAN VNI {vni} is already used on node {self.node.ip} by "
                    f"{verdict.collision.describe()}; the two links' uids map to the same VNI "
                    "(see kubedtn.model.names.vni_for_link): change the uid of one of them"
                )
                continue
            stale.update(verdict.stale)
            again[key] = chosen[key]
        if stale:
            log.warning("removing VXLAN ends left over from an earlier life", ends=len(stale))
            self.dataplane.remove(InterfaceRef(h.netns, h.name) for h in stale)
        if again:
            results.update(self._apply(again, prune=set()))

    def _vxlan_holders(self, vnis: set[int]) -> list[Holder]:
        """Our VXLAN interfaces with one of ``vnis`` whose tunnel starts at this node, in any
        named namespace (where runtimes and the lab keep pods) or recorded pod namespace."""
        paths = {t.status.net_ns for t in self.pods_here()}
        with contextlib.suppress(OSError):
            paths.update(os.path.join(RUN_NETNS, name) for name in os.listdir(RUN_NETNS))
        holders: list[Holder] = []
        for path in sorted(paths):
            try:
                interfaces = self.dataplane.read(path, owned_only=True)
            except KubedtnError:
                continue  # gone meanwhile, or not a namespace
            holders += [
                Holder(path, i.name, i.vxlan.vni)
                for i in interfaces
                if i.vxlan is not None and i.vxlan.vni in vnis and i.vxlan.local == self.node.ip
            ]
        return holders

    def _without_netem(
        self, chosen: Mapping[LinkKey, LinkSpec], results: dict[LinkKey, LinkResult | KubedtnError]
    ) -> dict[LinkKey, str]:
        """Links refused only because this kernel has no sch_netem are applied again with what
        it can do (the rate, as tbf): a lab on such a kernel still comes up, and says what is
        missing. Updates ``results``; returns a note per degraded link."""
        refused = [
            key
            for key, result in results.items()
            if isinstance(result, LinkResult) and isinstance(result.error, NetemMissingError)
        ]
        if not refused:
            return {}
        degraded = {key: _rate_only(chosen[key]) for key in refused}
        notes = {key: _netem_note(chosen[key]) for key in refused}
        for key, note in notes.items():
            log.warning(
                "applying a link without its netem properties", link=key[1], namespace=key[0], note=note
            )
        results.update(self._apply(degraded, prune=set()))
        return notes

    def _apply(
        self, chosen: Mapping[LinkKey, LinkSpec], *, prune: set[str]
    ) -> dict[LinkKey, LinkResult | KubedtnError]:
        """One Dataplane.apply for all links (one per Kubernetes namespace when uids repeat
        across namespaces: the dataplane wants unique uids per call)."""
        if not chosen and not prune:
            return {}
        groups: list[list[LinkKey]] = [list(chosen)]
        uids = [uid for _, uid in chosen]
        if len(set(uids)) != len(uids):
            by_ns: dict[str, list[LinkKey]] = {}
            for key in chosen:
                by_ns.setdefault(key[0], []).append(key)
            groups = list(by_ns.values())
        out: dict[LinkKey, LinkResult | KubedtnError] = {}
        for group in groups:
            netns = {ep.netns for k in group for ep in chosen[k].endpoints}
            out.update(self._apply_group(chosen, group, prune & netns if len(groups) > 1 else prune))
        return out

    def _apply_group(
        self, chosen: Mapping[LinkKey, LinkSpec], group: list[LinkKey], prune: set[str]
    ) -> dict[LinkKey, LinkResult | KubedtnError]:
        """Dataplane.apply of the links ``group`` (keys of ``chosen``), a result per link."""
        specs = [chosen[k] for k in group]
        try:
            report: ApplyReport = self.dataplane.apply(specs, prune=sorted(prune), strict=False)
        except ValidationError as e:
            # The model checked every link already; should the dataplane still refuse some,
            # keep them out and apply the others.
            log.error("dataplane refused links of the batch", links=len(specs), error=e)
            out: dict[LinkKey, LinkResult | KubedtnError] = {}
            bad = {k: err for k in group if (err := _spec_error(chosen[k])) is not None}
            out.update(bad)
            good = [k for k in group if k not in bad]
            if good and len(good) < len(group):
                out.update(self._apply({k: chosen[k] for k in good}, prune=prune))
            else:
                out.update({k: e for k in good})
            return out
        except KubedtnError as e:
            log.error("dataplane apply failed", links=len(specs), error=e)
            return {k: e for k in group}
        return dict(zip(group, report.results, strict=True))

    def _record(self, jobs: list[_Job]) -> None:
        """Step 5: each job's status, and the status of same-node peers outside the batch
        (one commit for all of them)."""
        self._write_statuses(self._status_changes(jobs, now=self._clock()))

    def _write_statuses(
        self, changes: Iterable[tuple[str, StatusChange]], *, then_fetch: Iterable[str] = ()
    ) -> _Fetched:
        """Status writes computed first, then committed in one batch: the store's single
        write lock (shared with the other nodes' daemons) is held only while they are written.
        ``then_fetch``: pods read (``_fetch``) in the same transaction, after the writes."""
        writes = [self._prepare_status(key, change) for key, change in changes]
        with self.store.batch():
            self._commit_statuses(writes)
            return self._fetch(then_fetch)

    def _status_changes(self, jobs: list[_Job], *, now: str) -> list[tuple[str, StatusChange]]:
        """The status writes that record the jobs: each job's pod, and the same-node peers
        outside the batch whose links they plumbed."""
        in_batch = {j.key for j in jobs}
        changes: list[tuple[str, StatusChange]] = []
        for job in jobs:
            failure = "; ".join(str(e) for e in job.failures) or None
            change = partial(
                status_after,
                now=now,
                alive=(job.topo.status.src_ip, job.topo.status.net_ns),
                plumbed=dict(job.plumbed),
                unplumbed=set(job.unplumbed),
                failure=failure,
                not_applied=dict(job.not_applied),
            )
            changes.append((job.key, change))
        peer_links: dict[str, dict[int, Link]] = {}
        peer_notes: dict[str, dict[int, str]] = {}
        for job in jobs:
            for d in job.decisions:
                if isinstance(d, SameNode) and d.link.uid in job.plumbed and d.peer not in in_batch:
                    peer_links.setdefault(d.peer, {})[d.link.uid] = d.link
                    if d.link.uid in job.not_applied:
                        peer_notes.setdefault(d.peer, {})[d.link.uid] = job.not_applied[d.link.uid]
        for peer, uids in peer_links.items():
            notes = peer_notes.get(peer, {})
            changes.append((peer, partial(status_after, now=now, plumbed_own=uids, not_applied=notes)))
        return changes

    def _push_far_ends(self, far: list[tuple[_Job, CrossNode]]) -> list[_Push]:
        """Ask each peer node's daemon for its far ends (one Remote call per node): sent now,
        answered while we make our ends. Waiting for the answers (step 6) holds none of our
        locks, and a daemon holds its own only while it works on its kernel, never while it
        waits on another daemon: two daemons plumbing the two ends of a link at once cannot
        deadlock."""
        pushes: list[_Push] = []
        for node_ip, items in by_node((d.remote, (job, d)) for job, d in far).items():
            ends = [end for end, _ in items]
            if self.remote is None:
                future: Future[list[KubedtnError | None]] = Future()
                future.set_result([TemporaryError(f"no client for the daemon on node {node_ip}")] * len(ends))
            else:
                future = self.remote.start_update_many(node_ip, ends)
            pushes.append(([pair for _, pair in items], future))
        return pushes

    def _push_early(self, jobs: list[_Job], view: Mapping[str, Topology]) -> list[_Push]:
        """The far ends of the cross-node links whose peers the precheck saw alive, asked for
        before this daemon marks its pods alive and plans again: the peers' daemons start on
        their ends one store write and one plan sooner. Only the plan made after marking
        alive counts (on the peers read again with the marking); what it does not confirm is
        taken back."""
        if self.remote is None or not any(
            is_alive(t) and t.status.src_ip != self.node.ip for t in view.values()
        ):
            return []  # (no peer up on another node: nothing to ask for, no need to plan)
        far = [
            (job, d)
            for job in jobs
            for d in plan_pod(job.topo, peers=view, node=self.node, links=job.links)
            if isinstance(d, CrossNode)
        ]
        return self._push_far_ends(far)

    def _take_back(self, unconfirmed: Sequence[_Push]) -> None:
        """Remove the far ends asked for early that the plan did not confirm and that were
        made (rare: a peer went down, moved or changed between the two reads). The peer's
        daemon removes each only while it still points at this node with that VNI."""
        made: list[tuple[RemoteEnd, None]] = []
        for pairs, future in unconfirmed:
            made += [
                (d.remote, None)
                for (_, d), error in zip(pairs, future.result(), strict=True)
                if error is None
            ]
        for node_ip, items in by_node(made).items():
            ends = [end for end, _ in items]
            if self.remote is not None:
                errors = self.remote.delete_many(node_ip, ends)
                for end, error in zip(ends, errors, strict=True):
                    if error is not None:
                        log.warning(
                            "far end asked for early not removed",
                            pod=end.pod,
                            namespace=end.kube_ns,
                            link=end.uid,
                            error=error,
                        )

    def _finish_cross_node(
        self, waiting: list[_Job], cross: list[tuple[_Job, CrossNode]], pushes: list[_Push]
    ) -> None:
        """Step 6: the far ends' outcome (for the links whose near end we made: ``cross``),
        then the status of the ``waiting`` pods (all their links) and of the cross-node
        peers, in one batch — one write per pod, not per link (a pod may have hundreds of
        cross-node links).

        The statuses are computed while the peers' daemons still work, as if every far end
        will be made (they nearly always are); all again when one was not."""
        now = self._clock()
        theirs: dict[str, dict[int, None]] = {}
        for job, d in cross:
            job.plumbed[d.link.uid] = d.link
            theirs.setdefault(d.peer, {})[d.link.uid] = None
        writes = self._cross_writes(waiting, theirs, now)
        ours_made = {(id(job), d.link.uid) for job, d in cross}
        failed = False
        for pairs, future in pushes:
            for (job, d), error in zip(pairs, future.result(), strict=True):
                if error is None or (id(job), d.link.uid) not in ours_made:
                    continue  # made; or our end failed, and says so already
                del job.plumbed[d.link.uid]
                theirs[d.peer].pop(d.link.uid, None)
                job.failures.append(_about(job.key, d.link.uid, error))
                failed = True
        if failed:
            writes = self._cross_writes(waiting, theirs, now)
        keys = {(j.topo.namespace, link.uid) for j in waiting for link in j.links}
        with self.locks.holding(keys), self.store.batch():
            self._commit_statuses(writes)

    def _cross_writes(
        self, waiting: list[_Job], theirs: Mapping[str, Mapping[int, None]], now: str
    ) -> list[_StatusWrite]:
        """The writes of step 6, prepared: the waiting pods' (and their same-node peers'),
        then the cross-node peers' (the links their daemons made ends of)."""
        changes = self._status_changes(waiting, now=now)
        changes += [
            (key, partial(status_after, now=now, plumbed_own=tuple(uids)))
            for key, uids in theirs.items()
            if uids
        ]
        return [self._prepare_status(key, change) for key, change in changes]

    # ---- DestroyPod(s), DelLinks, UpdateLinks ---------------------------------------------

    def destroy_pods(self, pods: Sequence[PodRef]) -> list[PodOutcome]:
        """Mark each pod dead and remove its link ends (a veth's far end goes with it).

        Idempotent: a pod in no Topology, already dead, or running on another node succeeds.
        """
        outcomes: dict[str, PodOutcome] = {}
        first: dict[str, Topology] = {}
        for ref in pods:
            topo = self._lenient(ref.namespace, ref.name)
            if topo is None:
                outcomes[ref.key] = PodOutcome(ref.name, ref.namespace, in_topology=False)
            else:
                first[ref.key] = topo
        keys = {(t.namespace, link.uid) for t in first.values() for link in (*t.links, *t.status.links)}
        now = self._clock()
        with self.locks.holding(keys):
            doomed: dict[str, Topology] = {}
            for key, topo in first.items():
                # Read again under the locks: a SetupPod may have changed it meanwhile.
                fresh = self._lenient(topo.namespace, topo.name)
                if fresh is None:
                    outcomes[key] = PodOutcome(topo.name, topo.namespace, in_topology=False)
                    continue
                if fresh.status.src_ip and fresh.status.src_ip != self.node.ip:
                    log.info(
                        "pod runs on another node; nothing to do here",
                        pod=fresh.name,
                        namespace=fresh.namespace,
                        action="destroy",
                        node=fresh.status.src_ip,
                    )
                    outcomes[key] = PodOutcome(fresh.name, fresh.namespace)
                    continue
                doomed[key] = fresh
                self._write_status(key, partial(status_after, now=now, alive=("", "")))
            netns = sorted({t.status.net_ns for t in doomed.values() if t.status.net_ns})
            error: KubedtnError | None = None
            try:
                self.dataplane.remove_owned(netns)
            except KubedtnError as e:
                error = e
            peer_uids: dict[str, dict[int, Link]] = {}
            for topo in doomed.values():
                for link in (*topo.links, *topo.status.links):
                    peer = f"{topo.namespace}/{link.peer_pod}"
                    if link.peer_kind is PeerKind.POD and peer not in doomed:
                        peer_uids.setdefault(peer, {})[link.uid] = link
            far = self._far_ends_elsewhere(peer_uids)
            for peer, uids in peer_uids.items():
                self._write_status(peer, partial(status_after, now=now, unplumbed=uids, not_applied={}))
            for key, topo in doomed.items():
                outcomes[key] = PodOutcome(topo.name, topo.namespace, error=error)
                log.info(
                    "pod destroyed" if error is None else "pod marked down; removing its links failed",
                    pod=topo.name,
                    namespace=topo.namespace,
                    action="destroy",
                    netns=topo.status.net_ns or None,
                    error=error,
                )
        self._remove_far_ends(far)
        return [outcomes[r.key] for r in pods]

    def _far_ends_elsewhere(self, peer_links: Mapping[str, Mapping[int, Link]]) -> list[RemoteEnd]:
        """The far ends, on other nodes, of the links of pods going down here: ``peer_links``
        maps each peer (``namespace/name``) to the links (seen from our side) it shares."""
        peers = self._read_view(peer_links)
        ends: list[RemoteEnd] = []
        for key, links in peer_links.items():
            peer = peers.get(key)
            if peer is None or not is_alive(peer) or peer.status.src_ip == self.node.ip:
                continue  # no far end, or a veth that went with ours
            for link in links.values():
                ends.append(
                    RemoteEnd(
                        pod=peer.name,
                        kube_ns=peer.namespace,
                        node_ip=peer.status.src_ip,
                        uid=link.uid,
                        vni=vni_for_link(peer.namespace, link.uid),
                        vtep=self.node.ip,
                        endpoint=Endpoint(netns=peer.status.net_ns, name=link.peer_intf),
                    )
                )
        return ends

    def _remove_far_ends(self, ends: Sequence[RemoteEnd]) -> None:
        """Ask the peers' daemons to remove the far ends (after our locks are released). A
        daemon that cannot be reached is logged, not an error: DEL must stay idempotent, and
        that end is replaced when the pod comes back (or removed with its peer)."""
        if self.remote is None:
            return
        for node_ip, items in by_node((end, None) for end in ends).items():
            errors = self.remote.delete_many(node_ip, [end for end, _ in items])
            for (end, _), error in zip(items, errors, strict=True):
                if error is not None:
                    log.warning(
                        "far end of a link left on its node",
                        pod=end.pod,
                        namespace=end.kube_ns,
                        link=end.uid,
                        node=node_ip,
                        error=error,
                    )

    def del_links(self, pod: PodRef, links: Sequence[Link]) -> None:
        """Remove this pod's end of each link (a veth's far end goes with it)."""
        topo = self._read_stored(pod)
        now = self._clock()
        with self.locks.holding((pod.namespace, link.uid) for link in links):
            topo = self._read_stored(pod)
            if is_alive(topo):
                self._check_here(topo)
                self.dataplane.remove(InterfaceRef(topo.status.net_ns, link.local_intf) for link in links)
            uids = {link.uid: link for link in links}
            self._write_status(topo.key, partial(status_after, now=now, unplumbed=uids, not_applied={}))
            for link in links:
                if link.peer_kind is PeerKind.POD:
                    peer = f"{pod.namespace}/{link.peer_pod}"
                    self._write_status(
                        peer, partial(status_after, now=now, unplumbed=(link.uid,), not_applied={})
                    )
        log.info("links removed", pod=pod.name, namespace=pod.namespace, action="delete", links=len(links))

    def update_links(self, pod: PodRef, links: Sequence[Link]) -> int:
        """Change the properties of this pod's end of existing links in place (same
        interfaces); links not plumbed yet get the new properties when they are. Returns
        how many interfaces were changed."""
        now = self._clock()
        with self.locks.holding((pod.namespace, link.uid) for link in links):
            topo = self._read_stored(pod)
            if not is_alive(topo):
                return 0
            self._check_here(topo)
            present = {i.name for i in self.dataplane.read(topo.status.net_ns, owned_only=True)}
            updates = {
                InterfaceRef(topo.status.net_ns, link.local_intf): link.properties
                for link in links
                if link.local_intf in present
            }
            if updates:
                self.dataplane.set_properties(updates)
            plumbed = {link.uid for link in topo.status.links}
            changed = {link.uid: link for link in links if link.uid in plumbed}
            self._write_status(topo.key, partial(status_after, now=now, plumbed=changed))
        log.info(
            "link properties updated",
            pod=pod.name,
            namespace=pod.namespace,
            action="update",
            interfaces=len(updates),
        )
        return len(updates)

    def _read_stored(self, pod: PodRef) -> Topology:
        topo = self._lenient(pod.namespace, pod.name)
        if topo is None:
            raise NotFoundError(f"{pod.key}: no Topology")
        return topo

    # ---- Get, SetAlive, Remote.Update -----------------------------------------------------

    def get(self, pod: PodRef) -> Topology:
        topo = self._read_own(pod.namespace, pod.name)
        if topo is None:
            raise NotFoundError(f"{pod.key}: no Topology")
        return topo

    def set_alive(self, pod: PodRef, *, src_ip: str, net_ns: str) -> None:
        """Record where the pod runs (both empty: not running), as kube-dtn's SetAlive."""
        now = self._clock()
        if self._write_status(pod.key, partial(status_after, now=now, alive=(src_ip, net_ns))) is None:
            raise NotFoundError(f"{pod.key}: no Topology")

    def remote_update(self, end: RemoteEnd) -> None:
        """Create or update our end of a cross-node link, for the peer's daemon."""
        (error,) = self.remote_update_many([end])
        if error is not None:
            raise error

    def remote_update_many(self, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        """Our ends of many cross-node links in one dataplane batch; an error or None per end.

        A correct existing end is kept; an end of ours that is wrong (other VNI, remote or
        kind — e.g. still toward a node the peer pod left) is replaced."""
        errors: list[KubedtnError | None] = [None] * len(ends)
        with self.locks.holding((end.kube_ns, end.uid) for end in ends):
            chosen: dict[LinkKey, LinkSpec] = {}
            index: dict[LinkKey, int] = {}
            # Many ends, few pods: each read once, all in one read of the store.
            parsed = self._parse_fetched(self._fetch({f"{end.kube_ns}/{end.pod}" for end in ends}))
            for i, end in enumerate(ends):
                got = parsed.get((end.kube_ns, end.pod))
                try:
                    spec = self._far_end_spec(end, None if got is None else got.topology)
                except KubedtnError as e:
                    errors[i] = e
                    continue
                chosen[(end.kube_ns, end.uid)] = spec
                index[(end.kube_ns, end.uid)] = i
            results, _ = self._apply_links(chosen, prune=set())
            for key, result in results.items():
                if isinstance(result, KubedtnError):
                    errors[index[key]] = result
                elif result.outcome not in PLUMBED_OUTCOMES:
                    errors[index[key]] = result.error or DataplaneError(f"link {key[1]}: not applied")
        for end, error in zip(ends, errors, strict=True):
            if error is not None:
                log.error(
                    "remote end failed",
                    pod=end.pod,
                    namespace=end.kube_ns,
                    link=end.uid,
                    action="remote-update",
                    vtep=end.vtep,
                    error=error,
                )
        failed = sum(e is not None for e in errors)
        log.info("remote ends plumbed", action="remote-update", ends=len(ends) - failed, failed=failed)
        return errors

    def _far_end_spec(self, end: RemoteEnd, topo: Topology | None) -> VxlanSpec:
        """The VXLAN our pod ``end.pod`` (its Topology: ``topo``) needs toward the peer's
        node; refused when the pod does not run here in that namespace."""
        if topo is not None and (topo.status.net_ns != end.endpoint.netns or not is_alive(topo)):
            raise NamespaceNotFoundError(
                f"{topo.key} is not running in {end.endpoint.netns} on this node "
                f"(recorded: {topo.status.net_ns or 'not running'})"
            )
        if self.node.underlay is None:
            raise DataplaneError(
                f"link {end.uid}: this node's IP {self.node.ip} is on no interface, so there is no "
                "underlay for VXLAN; start the daemon with --host-ip set to an address of this node"
            )
        return VxlanSpec(
            uid=end.uid,
            endpoint=end.endpoint,
            vni=end.vni,
            remote=end.vtep,
            local=self.node.ip,
            underlay=self.node.underlay,
            node_netns=self.node.netns,
        )

    def remote_delete_many(self, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        """Remove our end of each link whose other end went away — only while it is still
        the VXLAN toward ``end.vtep`` with ``end.vni`` (an end already re-pointed at the
        pod's new node, or gone, is left alone). An error or None per end."""
        errors: list[KubedtnError | None] = [None] * len(ends)
        now = self._clock()
        with self.locks.holding((end.kube_ns, end.uid) for end in ends):
            doomed: list[InterfaceRef] = []
            gone: dict[str, set[int]] = {}
            live: dict[str, dict[str, LiveInterface] | KubedtnError | None] = {}
            for i, end in enumerate(ends):
                netns = end.endpoint.netns
                if netns not in live:  # many ends, few pods: read each namespace once
                    try:
                        live[netns] = {x.name: x for x in self.dataplane.read(netns, owned_only=True)}
                    except NamespaceNotFoundError:
                        live[netns] = None  # the pod is gone too: nothing left of its end
                    except KubedtnError as e:
                        live[netns] = e
                interfaces = live[netns]
                if isinstance(interfaces, KubedtnError):
                    errors[i] = interfaces
                    continue
                mine = None if interfaces is None else interfaces.get(end.endpoint.name)
                if mine is None or mine.vxlan is None:
                    continue
                if (mine.vxlan.vni, mine.vxlan.remote) != (end.vni, end.vtep):
                    continue
                doomed.append(end.endpoint.ref)
                gone.setdefault(f"{end.kube_ns}/{end.pod}", set()).add(end.uid)
            if doomed:
                self.dataplane.remove(doomed)
            for key, uids in gone.items():
                self._write_status(key, partial(status_after, now=now, unplumbed=uids, not_applied={}))
        log.info("remote ends removed", action="remote-delete", ends=len(ends))
        return errors

    # ---- CheckPod, Status, reconcile ------------------------------------------------------

    def check_pod(self, pod: PodRef, *, netns: str = "") -> CheckResult:
        """Whether every link the pod should have now (its peer is up) exists as planned."""
        parsed = self._current(pod.namespace, pod.name)
        if parsed is None:
            return CheckResult(in_topology=False)
        topo = parsed.topology
        if topo is None:
            return CheckResult(True, (f"{pod.key}: the stored Topology cannot be read",))
        if not is_alive(topo):
            return CheckResult(True, (f"{pod.key}: not set up on any node (no SetupPod recorded)",))
        if netns and topo.status.net_ns != netns:
            return CheckResult(True, (f"{pod.key}: set up in {topo.status.net_ns}, not in {netns}",))
        if topo.status.src_ip != self.node.ip:
            return CheckResult(True, (f"{pod.key}: runs on node {topo.status.src_ip}, not on this one",))
        if not namespace_exists(topo.status.net_ns):
            return CheckResult(True, (f"{pod.key}: network namespace {topo.status.net_ns} is gone",))
        peers = self._read_view(f"{topo.namespace}/{link.peer_pod}" for link in topo.links)
        decisions = plan_pod(topo, peers=peers, node=self.node)
        known = [d.spec.b.netns for d in decisions if isinstance(d, SameNode)]
        live = {i.name: i for i in self.dataplane.read(topo.status.net_ns, known=known)}
        problems: list[str] = []
        for d in decisions:
            if isinstance(d, SameNode | CrossNode | Physical | Localhost):
                problems += _check_end(pod.key, d, live)
            elif isinstance(d, Mismatch):
                problems += d.problems
            elif isinstance(d, Impossible):
                problems.append(d.reason)
        return CheckResult(True, tuple(problems))

    def prime(self, obj: Mapping[str, Any]) -> None:
        """Check a Topology now (kept for later reads of the same version): the store watch
        hands in new ones as they are written, so a batch of pods written just before its
        SetupPods is checked while it is being written."""
        self._parsed.parse(obj, namespace=obj.get("metadata", {}).get("namespace") or "default")

    def _listed(self) -> list[Topology]:
        """Every stored Topology that can be read (bad links left out)."""
        items, _ = self.store.list()
        parsed = (self._parsed.parse(o, namespace=o["metadata"].get("namespace", "default")) for o in items)
        return [p.topology for p in parsed if p.topology is not None]

    def summary(self) -> NodeSummary:
        alive = self._listed()
        here = [t for t in alive if is_alive(t) and t.status.src_ip == self.node.ip]
        links = {(t.namespace, link.uid) for t in here for link in t.status.links}
        return NodeSummary(kubedtn.version(), self.node.ip, len(here), len(links))

    def pods_here(self) -> list[Topology]:
        """Pods recorded alive on this node."""
        return [t for t in self._listed() if is_alive(t) and t.status.src_ip == self.node.ip]

    def reconcile(self) -> tuple[int, int]:
        """At start: pods alive on this node whose namespace exists are set up again (missing
        links back, stale ones pruned); those whose namespace is gone are marked dead and
        their links removed. Returns (set up, destroyed)."""
        here = self.pods_here()
        gone = [PodRef(t.name, t.namespace) for t in here if not namespace_exists(t.status.net_ns)]
        back = [
            SetupRequest(t.name, t.namespace, t.status.net_ns)
            for t in here
            if namespace_exists(t.status.net_ns)
        ]
        if gone:
            self.destroy_pods(gone)
        if back:
            failed = [o for o in self.setup_pods(back, prune=True) if not o.ok]
            for o in failed:
                log.error(
                    "reconcile could not set a pod up again", pod=o.name, namespace=o.namespace, error=o.error
                )
        log.info("reconciled", action="reconcile", set_up=len(back), destroyed=len(gone))
        return len(back), len(gone)


def _split_pushes(
    early: Sequence[_Push], wanted: Mapping[tuple[int, int], RemoteEnd]
) -> tuple[list[_Push], list[_Push]]:
    """Early pushes split by what the plan wants: the far ends it wants exactly as asked
    (confirmed), and those it does not want on that node at all (to take back). A far end
    wanted on the same node but otherwise different is in neither: the plan asks for it
    again, and that request corrects it. Each part gets a future of its own answers."""
    confirmed: list[_Push] = []
    take_back: list[_Push] = []
    for pairs, future in early:
        wants = [(wanted.get((id(j), d.link.uid)), d.remote) for j, d in pairs]
        same = [want == asked for want, asked in wants]
        unwanted = [want is None or want.node_ip != asked.node_ip for want, asked in wants]
        for mask, out in ((same, confirmed), (unwanted, take_back)):
            if any(mask):
                out.append(([pair for pair, m in zip(pairs, mask, strict=True) if m], _part_of(future, mask)))
    return confirmed, take_back


def _part_of(
    future: Future[list[KubedtnError | None]], mask: Sequence[bool]
) -> Future[list[KubedtnError | None]]:
    """A future of the answers of ``future`` where ``mask`` is True."""
    part: Future[list[KubedtnError | None]] = Future()

    def done(whole: Future[list[KubedtnError | None]]) -> None:
        error = whole.exception()
        if error is not None:
            part.set_exception(error)
        else:
            part.set_result([r for r, m in zip(whole.result(), mask, strict=True) if m])

    future.add_done_callback(done)
    return part


def _peer_keys(jobs: Sequence[_Job]) -> set[str]:
    """``namespace/name`` of the peer pods of the jobs' links that are not in the batch."""
    keys = {f"{j.topo.namespace}/{link.peer_pod}" for j in jobs for link in j.links}
    return keys - {j.key for j in jobs}


def _closed(jobs: Sequence[_Job]) -> bool:
    """Every link of the batch joins two of its pods (no peer outside it, no host peer)."""
    keys = {j.key for j in jobs}
    return all(
        link.peer_kind is PeerKind.POD and f"{j.topo.namespace}/{link.peer_pod}" in keys
        for j in jobs
        for link in j.links
    )


def _about(pod: str, uid: int, error: KubedtnError) -> KubedtnError:
    """The error, its message prefixed with the pod and link it is about (same kind)."""
    if isinstance(error, ValidationError):
        return error
    try:
        return type(error)(f"{pod}: link {uid}: {error}")
    except TypeError:  # a kind that wants more than a message
        return DataplaneError(f"{pod}: link {uid}: {error}")


def _rate_only(spec: LinkSpec) -> LinkSpec:
    """The spec with each end keeping only its rate (tbf needs no netem)."""

    def strip(ep: Endpoint) -> Endpoint:
        return replace(ep, properties=LinkProperties(rate_bps=ep.properties.rate_bps))

    if isinstance(spec, VethSpec):
        return replace(spec, a=strip(spec.a), b=strip(spec.b))
    return replace(spec, endpoint=strip(spec.endpoint))


def _netem_note(spec: LinkSpec) -> str:
    """``link 1: latency, loss on /run/netns/x/eth1 not applied: sch_netem is missing in this kernel``."""
    ends = []
    for ep in spec.endpoints:
        names = [n for n in ep.properties.to_strings() if n != "rate"]
        if names:
            ends.append(f"{', '.join(names)} on {ep.netns}/{ep.name}")
    return f"link {spec.uid}: {'; '.join(ends)} not applied: sch_netem is missing in this kernel"


def _spec_error(spec: LinkSpec) -> ValidationError | None:
    try:
        validate_links([spec])
    except ValidationError as e:
        return ValidationError([f"link {spec.uid}: {p.removeprefix('links[0].')}" for p in e.problems])
    return None


def _check_end(pod: str, decision: Plumb, live: Mapping[str, Any]) -> list[str]:
    """Problems of the local end of a planned link, as read from the kernel."""
    link = decision.link
    ends = decision.spec.endpoints
    ep = ends[0]
    where = f"{pod}: link {link.uid} ({decision.kind} {ep.name})"
    iface = live.get(ep.name)
    if iface is None:
        return [f"{where}: interface {ep.name} is missing in {ep.netns}"]
    problems: list[str] = []
    if iface.kind != decision.kind:
        problems.append(f"{where}: {ep.name} is a {iface.kind or 'device'}, not a {decision.kind}")
    if iface.uid != link.uid:
        problems.append(f"{where}: {ep.name} belongs to link {iface.uid}, not {link.uid}")
    if not iface.up:
        problems.append(f"{where}: {ep.name} is down")
    missing = sorted(set(_canonical(ep.addresses)) - set(_canonical(iface.addresses)))
    if missing:
        problems.append(f"{where}: {ep.name} lacks address {', '.join(missing)}")
    if isinstance(decision, SameNode) and iface.peer_netns not in (None, decision.spec.b.netns):
        problems.append(f"{where}: {ep.name}'s peer is in {iface.peer_netns}, not in {decision.spec.b.netns}")
    return problems


def _canonical(cidrs: Iterable[str]) -> list[str]:
    return [str(ipaddress.ip_interface(c)) for c in cidrs]
