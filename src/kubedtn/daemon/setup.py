"""Pods coming up (SetupPod(s)) and links added to live pods (AddLinks), in batches.

A batch goes through these steps, in this order (``PodSetup._plumb``):

1. **read and check** the pods' own Topologies (strictly: a bad link is an error naming
   it) and their peers' (what the ends say of each other); every problem is reported
   before anything is written or plumbed;
2. **lock** the links involved (per (namespace, uid), sorted: no deadlock between batches);
3. **write** the pods' liveness (SetupPod: ``src_ip``, ``net_ns``) and, in the same
   store transaction, read the peers' liveness for step 4. Two pods coming up at once
   on two nodes: whichever wrote second sees the other alive and plans the link, and the
   first does not see the second, so the link is never lost and never made twice (a
   store without transactions reads just after the write: at least one of them sees
   the other; a store reading from a cache, which may lag the other daemon's write,
   reads the peers it shows down again past it). Just before, the far ends of
   cross-node links to peers step 1 saw alive are asked for already
   (``CrossNodeLinks.ask_early``). A *closed* batch (every peer of its pods is a pod of
   the batch: ``lab up``) has no peer outside to race with, so its liveness goes into
   step 5's write instead (one write per pod, not two);
4. **plan** (``kubedtn.daemon.plan``) against the peers read in step 3 (AddLinks and
   closed batches read them now), ask the peers' daemons for the far ends not asked for
   yet (``CrossNodeLinks.confirm``), and **apply** every link of the batch at once
   (``LinkApplier``; both ends planned in the batch → one link);
5. **record** the outcome in both ends' status (links, skipped, Ready), still under the
   locks, so a concurrent DestroyPod of a peer sees a consistent store;
6. after releasing the locks, wait for the far ends and record the cross-node links
   (``CrossNodeLinks.finish``); far ends asked for early that step 4 did not want are
   removed again (``CrossNodeLinks.take_back``).

Apply is idempotent, so a retry, a restart or two requests for one link converge.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial

from kubedtn.daemon.applier import PLUMBED_OUTCOMES, LinkApplier
from kubedtn.daemon.context import NodeContext
from kubedtn.daemon.crossnode import CrossNodeLinks, Push
from kubedtn.daemon.jobs import PodJob, about, is_closed, peer_keys, status_changes
from kubedtn.daemon.locks import LinkKey
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.plan import (
    CrossNode,
    Impossible,
    Localhost,
    Mismatch,
    NodeInfo,
    Physical,
    SameNode,
    Skip,
    is_alive,
    mtu_problems,
    pair_problems,
    plan_batch,
)
from kubedtn.daemon.podstatus import status_after
from kubedtn.daemon.types import PodOutcome, SetupRequest
from kubedtn.dataplane import DataplaneError, LinkResult, LinkSpec, NamespaceNotFoundError
from kubedtn.errors import KubedtnError, NotFoundError, ValidationError
from kubedtn.model import Link, Topology
from kubedtn.model.podref import PodRef

log = EventLog(logging.getLogger(__name__))


class PodSetup:
    """SetupPod(s) and AddLinks for the pods of this node (see the module docstring)."""

    def __init__(self, ctx: NodeContext, *, applier: LinkApplier, cross: CrossNodeLinks) -> None:
        self.records, self.locks, self.node, self._clock = ctx.records, ctx.locks, ctx.node, ctx.clock
        self.applier = applier
        self.cross = cross

    def setup_pods(self, requests: Sequence[SetupRequest], *, prune: bool = False) -> list[PodOutcome]:
        """Mark each pod alive on this node and plumb every link whose peer is alive.

        Pods in no Topology succeed at once (``in_topology`` False). ``prune`` also deletes
        our interfaces in the pods' namespaces that no planned link owns (the reconcile).
        """
        started = time.monotonic()
        outcomes: dict[str, PodOutcome] = {}
        jobs: list[PodJob] = []
        queued: set[str] = set()
        own = self.records.parse_fetched(self.records.fetch(req.key for req in requests))  # (one read)
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
                topo = self.records.strict(req.namespace, req.name, fetched=own)
            except ValidationError as e:
                plog.warning("pod's Topology is invalid; nothing done", error=e)
                outcomes[req.key] = PodOutcome(req.name, req.namespace, error=e)
                continue
            if topo is None:
                plog.info("pod is in no Topology; passing through")
                outcomes[req.key] = PodOutcome(req.name, req.namespace, in_topology=False)
                continue
            ns_id = self.records.dataplane.namespace_id(req.netns)
            if not ns_id:
                err = NamespaceNotFoundError(f"{req.key}: network namespace {req.netns} does not exist")
                outcomes[req.key] = PodOutcome(req.name, req.namespace, error=err)
                continue
            alive = replace(
                topo.status,
                src_ip=self.node.ip,
                net_ns=req.netns,
                net_ns_id=ns_id,
                container_id=req.container_id,
            )
            jobs.append(PodJob(replace(topo, status=alive), topo.links, prune=prune))
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
        """Plumb these links of an alive pod (AddLinks, as kube-dtn's controller calls it); a pod that is not
        up yet gets them at SetupPod."""
        topo = self.records.strict(pod.namespace, pod.name)
        if topo is None:
            raise NotFoundError(f"{pod.key}: no Topology")
        if not is_alive(topo):
            log.info(
                "pod is not up; links wait for SetupPod", pod=pod.name, namespace=pod.namespace, action="add"
            )
            return PodOutcome(pod.name, pod.namespace)
        check_here(topo, self.node)
        (outcome,) = self._plumb([PodJob(topo, tuple(links))], mark_alive=False)
        return outcome

    def _plumb(self, jobs: list[PodJob], *, mark_alive: bool) -> list[PodOutcome]:
        """Steps 1-6 of the module docstring for a batch of jobs."""
        if not jobs:
            return []
        outcomes: list[PodOutcome] = []
        # 1. read and check
        view = self._precheck(jobs)
        for job in [j for j in jobs if j.problems]:
            outcomes.append(replace(job.outcome(), error=ValidationError(job.problems)))
            log.warning(
                "links rejected; nothing done",
                pod=job.topo.name,
                namespace=job.topo.namespace,
                problems=len(job.problems),
            )
        jobs = [j for j in jobs if not j.problems]
        keys = {(j.topo.namespace, link.uid) for j in jobs for link in j.links}
        cross: list[tuple[PodJob, CrossNode]] = []
        # 2. lock
        with self.locks.holding(keys):
            peers: dict[str, Topology] | None = None  # None: step 4 reads them
            early: list[Push] = []
            if mark_alive and not is_closed(jobs):
                # 3. mark alive, reading the peers in the same transaction
                early = self.cross.ask_early(jobs, view)
                now = self._clock()
                alive = [
                    (
                        job.key,
                        partial(
                            status_after,
                            now=now,
                            alive=(job.topo.status.src_ip, job.topo.status.net_ns),
                            sandbox=(job.topo.status.net_ns_id, job.topo.status.container_id),
                        ),
                    )
                    for job in jobs
                ]
                # Of two daemons marking the two ends of a link alive at once, exactly one
                # sees the other alive (and makes the link), never both.
                wanted = peer_keys(jobs)
                peers = self.records.view_of(self.records.write_statuses(alive, then_fetch=wanted))
                # A store's cache may not have the other daemon's write yet: what it shows
                # down is read again past it, or both could miss each other.
                doubtful = sorted(k for k in wanted if k not in peers or not is_alive(peers[k]))
                if doubtful and self.records.store.cached:
                    peers.update(self.records.view(doubtful, latest=True))
            # 4. plan and apply
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
            # 5. record
            self.records.write_statuses(
                status_changes([j for j in jobs if id(j) not in waiting], now=self._clock())
            )
        # 6. the far ends
        if pushes:
            self.cross.finish([j for j in jobs if id(j) in waiting], cross, pushes)
        self.cross.take_back(unconfirmed)
        for job in jobs:
            outcome = job.outcome()
            outcomes.append(outcome)
            plog = log.bind(
                pod=job.topo.name, namespace=job.topo.namespace, action="setup" if mark_alive else "add"
            )
            if outcome.error is None:
                plog.info("links plumbed", plumbed=len(job.plumbed), skipped=len(outcome.skipped))
            else:
                plog.error("links failed", plumbed=len(job.plumbed), error=outcome.error)
        return outcomes

    def _precheck(self, jobs: list[PodJob]) -> dict[str, Topology]:
        """Every problem between the two ends of each link, before anything is written or
        plumbed (each link's own fields were checked when its Topology was read). Returns the
        view it checked against: the peers as read, the batch's pods as alive."""
        view = self.records.view(peer_keys(jobs))
        view.update({j.key: j.topo for j in jobs})
        for job in jobs:
            job.problems += pair_problems(job.topo, job.links, peers=view)
            job.problems += mtu_problems(job.topo, job.links, peers=view, node=self.node)
        return view

    def _plan_and_apply(
        self, jobs: list[PodJob], *, early: Sequence[Push], peers: Mapping[str, Topology] | None
    ) -> tuple[list[Push], list[Push]]:
        """Step 4 (locks held): plan, ask for the far ends, one apply, results per job.
        Returns the pushes step 6 waits for and the early ones to take back. ``peers``: the
        peers as read already (by the write that marked the jobs alive); None: read them now."""
        view = dict(peers) if peers is not None else self.records.view(peer_keys(jobs))
        # The batch's own pods: their liveness as this call sets it, their spec as checked.
        view.update({j.key: j.topo for j in jobs})
        chosen: dict[LinkKey, LinkSpec] = {}
        planned = plan_batch([(j.topo, j.links) for j in jobs], peers=view, node=self.node)
        for job, decisions in zip(jobs, planned, strict=True):
            job.decisions = decisions
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
        pushes, unconfirmed = self.cross.confirm(jobs, early)
        prune = {j.topo.status.net_ns for j in jobs if j.prune}
        results, not_applied = self.applier.apply_links(chosen, prune=prune)
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
                    job.failures.append(about(job.key, d.link.uid, error or DataplaneError("not applied")))
        return pushes, unconfirmed


def check_here(topo: Topology, node: NodeInfo) -> None:
    """NamespaceNotFoundError when the pod runs on another node than ``node``."""
    if topo.status.src_ip != node.ip:
        raise NamespaceNotFoundError(
            f"{topo.key} runs on node {topo.status.src_ip}, not on this node ({node.ip}); "
            "ask that node's daemon"
        )
