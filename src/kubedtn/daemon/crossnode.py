"""The cross-node protocol: how the two daemons of a link between nodes each make their end.

The daemon setting pods up (``kubedtn.daemon.setup``) drives it; its steps, in the order
they happen, are the functions of this module, top to bottom:

1. ``ask_early`` — before marking its pods alive, the daemon asks the peers' daemons
   (``Remote.UpdateMany``, one call per node) for the far ends of links to peers it already
   saw alive on other nodes: they start one store write and one plan sooner;
2. ``confirm`` — after marking alive (the peers read again in that same transaction) the
   plan decides: far ends asked for early exactly as the plan wants are *confirmed*; those
   the plan wants on no such node are to be *taken back*; the rest are asked for now;
3. the daemon makes its own ends while the peers make theirs, then releases its locks;
4. ``finish`` — waits for the peers' answers (never holding its locks while a peer works:
   two daemons plumbing both ends of a link at once cannot deadlock) and records every
   cross-node link once both ends exist, one status write per pod;
5. ``take_back`` — far ends asked for early that the plan did not confirm and that were
   made are removed again (``Remote.DeleteMany``; the peer removes each only while it still
   points at this node with that VNI).

``remove_far_ends`` is the same call for a pod going down. The decisions (which far ends,
which are confirmed, which are taken back) are pure functions, tested without a kernel.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any, Protocol

from kubedtn.daemon.context import NodeContext
from kubedtn.daemon.jobs import PodJob, about, same_life, status_changes
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.plan import CrossNode, NodeInfo, RemoteEnd, is_alive, plan_pod
from kubedtn.daemon.podstatus import status_after
from kubedtn.daemon.records import StatusWrite
from kubedtn.errors import KubedtnError, TemporaryError
from kubedtn.model import Topology

log = EventLog(logging.getLogger(__name__))

Answers = list[KubedtnError | None]
# One Remote call in flight: the (pod, decision) pairs it carries, in order, and its answer.
Push = tuple[list[tuple[PodJob, CrossNode]], "Future[Answers]"]


class RemoteUpdater(Protocol):
    """The daemons of other nodes (service Remote): one call per node for many far ends.

    Each call returns an error or None per end, in order; a daemon that cannot be reached
    gives a TemporaryError for every end."""

    def update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Answers: ...

    def start_update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Future[Answers]:
        """update_many, sent before this returns; the answer comes in the future. The caller
        goes on with its own ends while the peer makes its."""
        ...

    def delete_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Answers: ...


# ---- the pure decisions ---------------------------------------------------------------------


def by_node(items: Iterable[tuple[RemoteEnd, Any]]) -> dict[str, list[tuple[RemoteEnd, Any]]]:
    """Far ends grouped by the node whose daemon makes them (one Remote call each)."""
    out: dict[str, list[tuple[RemoteEnd, Any]]] = {}
    for end, tag in items:
        out.setdefault(end.node_ip, []).append((end, tag))
    return out


def early_far_ends(
    jobs: Sequence[PodJob], view: Mapping[str, Topology], node: NodeInfo
) -> list[tuple[PodJob, CrossNode]]:
    """The cross-node links of the jobs as planned against ``view`` (the precheck's read):
    none when no peer is up on another node (then there is nothing to plan either)."""
    if not any(is_alive(t) and t.status.src_ip != node.ip for t in view.values()):
        return []
    return [
        (job, d)
        for job in jobs
        for d in plan_pod(job.topo, peers=view, node=node, links=job.links)
        if isinstance(d, CrossNode)
    ]


def split_pushes(
    early: Sequence[Push], wanted: Mapping[tuple[int, int], RemoteEnd]
) -> tuple[list[Push], list[Push]]:
    """Early pushes split by what the plan wants (``wanted``: by (id(job), uid)): the far ends
    it wants exactly as asked (confirmed), and those it does not want on that node at all
    (to take back). A far end wanted on the same node but otherwise different is in
    neither: the plan asks for it again, and that request corrects it. Each part gets a
    future of its own answers."""
    confirmed: list[Push] = []
    take_back: list[Push] = []
    for pairs, future in early:
        wants = [(wanted.get((id(j), d.link.uid)), d.remote) for j, d in pairs]
        same = [want == asked for want, asked in wants]
        unwanted = [want is None or want.node_ip != asked.node_ip for want, asked in wants]
        for mask, out in ((same, confirmed), (unwanted, take_back)):
            if any(mask):
                out.append(([pair for pair, m in zip(pairs, mask, strict=True) if m], part_of(future, mask)))
    return confirmed, take_back


def part_of(future: Future[Answers], mask: Sequence[bool]) -> Future[Answers]:
    """A future of the answers of ``future`` where ``mask`` is True."""
    part: Future[Answers] = Future()

    def done(whole: Future[Answers]) -> None:
        error = whole.exception()
        if error is not None:
            part.set_exception(error)
        else:
            part.set_result([r for r, m in zip(whole.result(), mask, strict=True) if m])

    future.add_done_callback(done)
    return part


# ---- the steps --------------------------------------------------------------------------------


class CrossNodeLinks:
    """The steps of the protocol for one daemon (see the module docstring)."""

    def __init__(self, ctx: NodeContext, *, remote: RemoteUpdater | None) -> None:
        self.records, self.locks, self.node, self._clock = ctx.records, ctx.locks, ctx.node, ctx.clock
        self.remote = remote

    def ask_early(self, jobs: Sequence[PodJob], view: Mapping[str, Topology]) -> list[Push]:
        """Step 1: the far ends of links to peers the precheck saw alive on other nodes."""
        if self.remote is None:
            return []
        return self.push_far_ends(early_far_ends(jobs, view, self.node))

    def confirm(self, jobs: Sequence[PodJob], early: Sequence[Push]) -> tuple[list[Push], list[Push]]:
        """Step 2, once the jobs are planned: the pushes step 4 waits for (the early ones the
        plan confirms, and new ones for the far ends not asked for yet), and the early ones
        it does not confirm (for ``take_back``)."""
        far = [(j, d) for j in jobs for d in j.decisions if isinstance(d, CrossNode)]
        wanted = {(id(j), d.link.uid): d.remote for j, d in far}
        confirmed, unconfirmed = split_pushes(early, wanted)
        asked = {(id(j), d.link.uid) for pairs, _ in confirmed for j, d in pairs}
        pushes = confirmed + self.push_far_ends([(j, d) for j, d in far if (id(j), d.link.uid) not in asked])
        return pushes, unconfirmed

    def push_far_ends(self, far: Sequence[tuple[PodJob, CrossNode]]) -> list[Push]:
        """Ask each peer node's daemon for its far ends (one Remote call per node): sent now,
        answered while we make our ends. A daemon holds its own locks only while it works
        on its kernel, never while it waits on another daemon."""
        pushes: list[Push] = []
        for node_ip, items in by_node((d.remote, (job, d)) for job, d in far).items():
            ends = [end for end, _ in items]
            if self.remote is None:
                future: Future[Answers] = Future()
                future.set_result([TemporaryError(f"no client for the daemon on node {node_ip}")] * len(ends))
            else:
                future = self.remote.start_update_many(node_ip, ends)
            pushes.append(([pair for _, pair in items], future))
        return pushes

    def finish(
        self, waiting: list[PodJob], cross: list[tuple[PodJob, CrossNode]], pushes: list[Push]
    ) -> None:
        """Step 4: the far ends' outcome (for the links whose near end we made: ``cross``),
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
        writes = self._writes(waiting, theirs, now)
        ours_made = {(id(job), d.link.uid) for job, d in cross}
        failed = False
        for pairs, future in pushes:
            for (job, d), error in zip(pairs, future.result(), strict=True):
                if error is None or (id(job), d.link.uid) not in ours_made:
                    continue  # made; or our end failed, and says so already
                del job.plumbed[d.link.uid]
                theirs[d.peer].pop(d.link.uid, None)
                job.failures.append(about(job.key, d.link.uid, error))
                failed = True
        if failed:
            writes = self._writes(waiting, theirs, now)
        keys = {(j.topo.namespace, link.uid) for j in waiting for link in j.links}
        with self.locks.holding(keys):
            # A DestroyPod (or a new life of the pod) may have run while we waited, our
            # locks released: its status stands, and so do the peers' it wrote.
            fresh = self.records.lenient_many(j.key for j in waiting)
            ended = [j for j in waiting if not same_life(fresh.get(j.key), j.topo)]
            if ended:
                gone = {id(j) for j in ended}
                theirs = {}
                for job, d in cross:
                    if id(job) not in gone and d.link.uid in job.plumbed:
                        theirs.setdefault(d.peer, {})[d.link.uid] = None
                writes = self._writes([j for j in waiting if id(j) not in gone], theirs, now)
            with self.records.store.batch():
                self.records.commit_statuses(writes)
        if ended:
            self._forget(ended, fresh, pushes)

    def _forget(self, ended: list[PodJob], fresh: Mapping[str, Topology], pushes: list[Push]) -> None:
        """The far ends made for pods that went down while we waited are removed again (the
        DestroyPod may have asked before they were made); a pod that came up again in
        another namespace has its own SetupPod to decide on them."""
        down = {id(j) for j in ended if (t := fresh.get(j.key)) is None or not is_alive(t)}
        for job in ended:
            log.info(
                "pod went down (or came up anew) while its far ends were made; its status is left as is",
                pod=job.topo.name,
                namespace=job.topo.namespace,
                action="setup",
            )
        made = [
            d.remote
            for pairs, future in pushes
            for (job, d), error in zip(pairs, future.result(), strict=True)
            if error is None and id(job) in down
        ]
        self.remove_far_ends(made, why="far end of a pod that went down meanwhile not removed")

    def _writes(
        self, waiting: list[PodJob], theirs: Mapping[str, Mapping[int, None]], now: str
    ) -> list[StatusWrite]:
        """The writes of step 4, prepared: the waiting pods' (and their same-node peers'),
        then the cross-node peers' (the links their daemons made ends of)."""
        changes = status_changes(waiting, now=now)
        changes += [
            (key, partial(status_after, now=now, plumbed_own=tuple(uids)))
            for key, uids in theirs.items()
            if uids
        ]
        return [self.records.prepare_status(key, change) for key, change in changes]

    def take_back(self, unconfirmed: Sequence[Push]) -> None:
        """Step 5: remove the far ends asked for early that the plan did not confirm and that
        were made (rare: a peer went down, moved or changed between the two reads)."""
        made: list[RemoteEnd] = []
        for pairs, future in unconfirmed:
            made += [d.remote for (_, d), error in zip(pairs, future.result(), strict=True) if error is None]
        self.remove_far_ends(made, why="far end asked for early not removed")

    def remove_far_ends(
        self, ends: Sequence[RemoteEnd], *, why: str = "far end of a link left on its node"
    ) -> None:
        """Ask the peers' daemons to remove these far ends (call it holding no locks). A
        daemon that cannot be reached is logged, not an error: DEL must stay idempotent, and
        that end is replaced when the pod comes back (or removed with its peer)."""
        if self.remote is None:
            return
        for node_ip, items in by_node((end, None) for end in ends).items():
            errors = self.remote.delete_many(node_ip, [end for end, _ in items])
            for (end, _), error in zip(items, errors, strict=True):
                if error is not None:
                    log.warning(
                        why, pod=end.pod, namespace=end.kube_ns, link=end.uid, node=node_ip, error=error
                    )
