"""The link manager: the one object the gRPC servicers (and tests) call; pods come up and
go down, links follow. It holds the node's shared state (the store's records of its pods,
the link locks) and hands each request to the module whose job it is:

* ``setup``      — SetupPod(s), AddLinks (the steps of a batch, in order);
* ``crossnode``  — the cross-node protocol those steps drive (far ends asked of peers);
* ``teardown``   — DestroyPod(s), DelLinks;
* ``properties`` — UpdateLinks;
* ``farends``    — the server side of Remote (ends peers' daemons ask for);
* ``checks``     — CheckPod;
* ``records``    — every read of a pod and write of its status;
* ``applier``    — the dataplane apply with its second chances.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import kubedtn
from kubedtn.daemon.applier import LinkApplier
from kubedtn.daemon.checks import check_pod
from kubedtn.daemon.context import NodeContext
from kubedtn.daemon.crossnode import CrossNodeLinks, RemoteUpdater
from kubedtn.daemon.farends import FarEnds
from kubedtn.daemon.health import JobHealth
from kubedtn.daemon.locks import LinkLocks
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.plan import NodeInfo, RemoteEnd, is_alive
from kubedtn.daemon.podstatus import now_rfc3339, status_after
from kubedtn.daemon.properties import update_links
from kubedtn.daemon.records import PodRecords
from kubedtn.daemon.setup import PodSetup
from kubedtn.daemon.teardown import PodTeardown
from kubedtn.daemon.types import CheckResult, NodeSummary, PodOutcome, Sandbox, SetupRequest
from kubedtn.dataplane import Dataplane
from kubedtn.errors import KubedtnError, NotFoundError
from kubedtn.model import Link, Topology
from kubedtn.model.podref import PodRef
from kubedtn.store import ObjectStore

log = EventLog(logging.getLogger(__name__))

__all__ = ["LinkManager"]


class LinkManager:
    """SetupPod(s)/DestroyPod(s)/AddLinks/DelLinks/UpdateLinks/Get/SetAlive/Remote.*,
    CheckPod and the start-up reconcile, for the pods of one node."""

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
        self.locks = LinkLocks()
        self._clock = clock
        self.records = PodRecords(store=store, dataplane=dataplane, node=node)
        self.ctx = NodeContext(records=self.records, locks=self.locks, node=node, clock=clock)
        applier = LinkApplier(dataplane=dataplane, node=node, pods_here=self.records.pods_here)
        self.cross = CrossNodeLinks(self.ctx, remote=remote)
        self.setup = PodSetup(self.ctx, applier=applier, cross=self.cross)
        self.teardown = PodTeardown(self.ctx, cross=self.cross)
        self.far_ends = FarEnds(self.ctx, applier=applier)

    # ---- the pods of this node ------------------------------------------------------------

    def setup_pods(self, requests: Sequence[SetupRequest], *, prune: bool = False) -> list[PodOutcome]:
        return self.setup.setup_pods(requests, prune=prune)

    def destroy_pods(
        self,
        pods: Sequence[PodRef],
        *,
        deleted: Mapping[str, Topology] | None = None,
        sandboxes: Mapping[str, Sandbox] | None = None,
    ) -> list[PodOutcome]:
        return self.teardown.destroy_pods(pods, deleted=deleted, sandboxes=sandboxes)

    def add_links(self, pod: PodRef, links: Sequence[Link]) -> PodOutcome:
        return self.setup.add_links(pod, links)

    def del_links(self, pod: PodRef, links: Sequence[Link]) -> None:
        self.teardown.del_links(pod, links)

    def update_links(self, pod: PodRef, links: Sequence[Link]) -> int:
        return update_links(pod, links, self.ctx)

    def get(self, pod: PodRef) -> Topology:
        topo = self.records.strict(pod.namespace, pod.name)
        if topo is None:
            raise NotFoundError(f"{pod.key}: no Topology")
        return topo

    def set_alive(self, pod: PodRef, *, src_ip: str, net_ns: str) -> None:
        """Record where the pod runs (both empty: not running), as kube-dtn's SetAlive."""
        change = partial(status_after, now=self._clock(), alive=(src_ip, net_ns))
        if self.records.write_status(pod.key, change) is None:
            raise NotFoundError(f"{pod.key}: no Topology")

    def check_pod(self, pod: PodRef, *, netns: str = "") -> CheckResult:
        return check_pod(pod, records=self.records, node=self.node, netns=netns)

    # ---- Remote (the peers' daemons) ------------------------------------------------------

    def remote_update(self, end: RemoteEnd) -> None:
        """Create or update our end of a cross-node link, for the peer's daemon."""
        (error,) = self.far_ends.update_many([end])
        if error is not None:
            raise error

    def remote_update_many(self, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        return self.far_ends.update_many(ends)

    def remote_delete_many(self, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        return self.far_ends.delete_many(ends)

    # ---- the node -------------------------------------------------------------------------

    def prime(self, obj: Mapping[str, Any]) -> None:
        self.records.prime(obj)

    def pods_here(self) -> list[Topology]:
        return self.records.pods_here()

    def summary(self) -> NodeSummary:
        here = self.records.pods_here()
        links = {(t.namespace, link.uid) for t in here for link in t.status.links}
        return NodeSummary(kubedtn.version(), self.node.ip, len(here), len(links))

    def reconcile(self, health: JobHealth | None = None) -> tuple[int, int]:
        """At start: pods alive on this node whose namespace exists are set up again (missing
        links back, stale ones pruned); those whose namespace is gone, or whose path now
        names another namespace, are marked dead and their links removed. Returns (set up,
        destroyed).

        It never raises: a pod that cannot be read, checked or set up is logged by name and
        reported in ``health``, and the others go on (a daemon that did not start would
        serve none of them); a store that cannot be listed is reported the same way."""
        health = health or JobHealth("reconcile")
        try:
            here = [t for t in self.records.pods_here() if is_alive(t)]
        except Exception as e:
            log.error("reconcile: cannot list this node's pods", action="reconcile", error=repr(e))
            health.failed(f"cannot list this node's pods: {e}")
            return 0, 0
        gone: list[PodRef] = []
        back: list[SetupRequest] = []
        failed: list[PodOutcome] = []
        for t in here:
            try:
                exists = self.records.namespace_still(t)
            except Exception as e:
                failed.append(PodOutcome(t.name, t.namespace, error=KubedtnError(f"its namespace: {e!r}")))
                continue
            if exists:
                back.append(SetupRequest(t.name, t.namespace, t.status.net_ns, t.status.container_id))
            else:
                gone.append(PodRef(namespace=t.namespace, name=t.name))
        if gone:
            failed += _each(gone, self.destroy_pods)
        if back:
            failed += _each(back, lambda part: self.setup_pods(part, prune=True))
        for o in failed:
            log.error(
                "reconcile could not set a pod up again", pod=o.name, namespace=o.namespace, error=o.error
            )
        if failed:
            health.failed("; ".join(_naming(o) for o in failed))
        else:
            health.ok()
        log.info("reconciled", action="reconcile", set_up=len(back), destroyed=len(gone), failed=len(failed))
        return len(back), len(gone)


def _naming(outcome: PodOutcome) -> str:
    """The outcome's error, with the pod's name in front unless it starts with it."""
    text = str(outcome.error)
    return text if text.startswith(f"{outcome.key}:") else f"{outcome.key}: {text}"


Item = TypeVar("Item", PodRef, SetupRequest)


def _each(items: Sequence[Item], run: Callable[[Sequence[Item]], list[PodOutcome]]) -> list[PodOutcome]:
    """The outcomes that failed of ``run`` on the batch; when the batch raises (a bug one pod
    brings out), each pod again on its own, so only that pod's fails."""
    try:
        return [o for o in run(items) if not o.ok]
    except Exception as e:
        if len(items) == 1:
            (item,) = items
            return [PodOutcome(item.name, item.namespace, error=KubedtnError(f"internal error: {e!r}"))]
        log.error("reconcile: a batch failed; each pod again on its own", error=repr(e), pods=len(items))
        return [o for item in items for o in _each([item], run)]
