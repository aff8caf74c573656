"""Pods going down (DestroyPod(s)) and links removed from live pods (DelLinks).

A pod going down is marked dead and its link ends are removed (a veth's far end goes with
it), its peers' statuses say the links are down, and the peers' daemons on other nodes
are asked to remove their VXLAN ends (after our locks are released). The removal runs on
a thread of its own while the statuses are written, both under the locks: it is mostly
the kernel waiting, and neither needs the other's result. Idempotent: a pod in no
Topology, already dead, or running on another node succeeds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from kubedtn.daemon.context import NodeContext
from kubedtn.daemon.crossnode import CrossNodeLinks
from kubedtn.daemon.jobs import StatusChange
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.plan import NodeInfo, RemoteEnd, is_alive
from kubedtn.daemon.podstatus import status_after
from kubedtn.daemon.setup import check_here
from kubedtn.daemon.types import PodOutcome, Sandbox
from kubedtn.dataplane import Endpoint, InterfaceRef
from kubedtn.errors import KubedtnError
from kubedtn.model import Link, PeerKind, Topology
from kubedtn.model.names import vni_for_link
from kubedtn.model.podref import PodRef

log = EventLog(logging.getLogger(__name__))


class _Background:
    """One call run on a thread of its own; ``wait`` gives its KubedtnError (None: done)."""

    def __init__(self, fn: Callable[[list[str]], None], arg: list[str]) -> None:
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, arg), name="kubedtn-remove", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[list[str]], None], arg: list[str]) -> None:
        try:
            fn(arg)
        except BaseException as e:  # handed to the caller's thread by wait()
            self._error = e

    def wait(self) -> KubedtnError | None:
        self._thread.join()
        if self._error is None or isinstance(self._error, KubedtnError):
            return self._error
        raise self._error


class PodTeardown:
    """DestroyPod(s) and DelLinks for the pods of this node (see the module docstring)."""

    def __init__(self, ctx: NodeContext, *, cross: CrossNodeLinks) -> None:
        self.records, self.locks, self.node, self._clock = ctx.records, ctx.locks, ctx.node, ctx.clock
        self.dataplane = ctx.records.dataplane
        self.cross = cross

    def destroy_pods(
        self,
        pods: Sequence[PodRef],
        *,
        deleted: Mapping[str, Topology] | None = None,
        sandboxes: Mapping[str, Sandbox] | None = None,
    ) -> list[PodOutcome]:
        """Mark each pod dead and remove its link ends (see the module docstring).

        ``deleted``: the last state of pods whose Topology was deleted from the store while
        they ran; their ends are removed as that state records them. ``sandboxes``: by pod,
        the sandbox a CNI DEL is about; a pod running in another one (a late or repeated
        DEL of an old sandbox) is left as it is."""
        outcomes: dict[str, PodOutcome] = {}
        deleted = deleted or {}
        read = {**deleted, **self.records.lenient_many(ref.key for ref in pods)}
        first: dict[str, Topology] = {}  # in the order asked for
        for ref in pods:
            if ref.key in read:
                first[ref.key] = read[ref.key]
            else:
                outcomes[ref.key] = PodOutcome(ref.name, ref.namespace, in_topology=False)
        keys = {(t.namespace, link.uid) for t in first.values() for link in (*t.links, *t.status.links)}
        now = self._clock()
        with self.locks.holding(keys):
            doomed: dict[str, Topology] = {}
            marks: list[tuple[str, StatusChange]] = []  # written in one commit, below
            # Read again under the locks: a SetupPod may have changed them meanwhile.
            again = {**deleted, **self.records.lenient_many(first)}
            for key, topo in first.items():
                fresh = again.get(key)
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
                sandbox = (sandboxes or {}).get(key)
                if sandbox is not None and is_alive(fresh) and other_sandbox(fresh, sandbox):
                    log.info(
                        "DEL of another sandbox than the one running; nothing done",
                        pod=fresh.name,
                        namespace=fresh.namespace,
                        action="destroy",
                        netns=sandbox.netns or None,
                        container=sandbox.container_id or None,
                        running_netns=fresh.status.net_ns,
                    )
                    outcomes[key] = PodOutcome(fresh.name, fresh.namespace)
                    continue
                doomed[key] = fresh
                if key not in deleted:
                    marks.append((key, partial(status_after, now=now, alive=("", ""))))
            # A namespace whose path now names another one took our interfaces with it; the
            # new one at that path is someone else's.
            netns = sorted(
                {
                    t.status.net_ns
                    for t in doomed.values()
                    if t.status.net_ns and self.records.namespace_still(t)
                }
            )
            # The kernel's removal is mostly waiting (an RCU grace period per namespace), and
            # the store writes below need none of its results: both run at once, under the
            # locks. A write that fails still waits for the removal, then raises.
            removal = _Background(self.dataplane.remove_owned, netns)
            try:
                if marks:
                    self.records.write_statuses(marks)
                peer_uids: dict[str, dict[int, Link]] = {}
                for topo in doomed.values():
                    for link in (*topo.links, *topo.status.links):
                        peer = f"{topo.namespace}/{link.peer_pod}"
                        if link.peer_kind is PeerKind.POD and peer not in doomed:
                            peer_uids.setdefault(peer, {})[link.uid] = link
                far = far_ends_elsewhere(self.records.view(peer_uids), peer_uids, node=self.node)
                if peer_uids:
                    self.records.write_statuses(
                        (peer, partial(status_after, now=now, unplumbed=uids, not_applied={}))
                        for peer, uids in peer_uids.items()
                    )
            finally:
                error = removal.wait()
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
        self.cross.remove_far_ends(far)
        return [outcomes[r.key] for r in pods]

    def del_links(self, pod: PodRef, links: Sequence[Link]) -> None:
        """Remove this pod's end of each link (a veth's far end goes with it)."""
        now = self._clock()
        with self.locks.holding((pod.namespace, link.uid) for link in links):
            topo = self.records.stored(pod.namespace, pod.name)
            if is_alive(topo):
                check_here(topo, self.node)
            if is_alive(topo) and self.records.namespace_still(topo):
                self.dataplane.remove(InterfaceRef(topo.status.net_ns, link.local_intf) for link in links)
            uids = {link.uid: link for link in links}
            self.records.write_status(
                topo.key, partial(status_after, now=now, unplumbed=uids, not_applied={})
            )
            for link in links:
                if link.peer_kind is PeerKind.POD and link.peer_pod:  # ("": an end only we know)
                    peer = f"{pod.namespace}/{link.peer_pod}"
                    self.records.write_status(
                        peer, partial(status_after, now=now, unplumbed=(link.uid,), not_applied={})
                    )
        log.info("links removed", pod=pod.name, namespace=pod.namespace, action="delete", links=len(links))


def other_sandbox(topo: Topology, sandbox: Sandbox) -> bool:
    """The pod runs in another sandbox than ``sandbox`` (as far as both say: what either
    leaves empty, an older client or a status without the field, decides nothing)."""
    recorded = topo.status
    if sandbox.container_id and recorded.container_id:
        return sandbox.container_id != recorded.container_id
    return bool(sandbox.netns and recorded.net_ns) and sandbox.netns != recorded.net_ns


def far_ends_elsewhere(
    peers: Mapping[str, Topology], peer_links: Mapping[str, Mapping[int, Link]], *, node: NodeInfo
) -> list[RemoteEnd]:
    """The far ends, on other nodes, of the links of pods going down on ``node``:
    ``peer_links`` maps each peer (``namespace/name``) to the links (seen from our side) it
    shares; ``peers``: those peers as stored."""
    ends: list[RemoteEnd] = []
    for key, links in peer_links.items():
        peer = peers.get(key)
        if peer is None or not is_alive(peer) or peer.status.src_ip == node.ip:
            continue  # no far end, or a veth that went with ours
        for link in links.values():
            ends.append(
                RemoteEnd(
                    pod=peer.name,
                    kube_ns=peer.namespace,
                    node_ip=peer.status.src_ip,
                    uid=link.uid,
                    vni=vni_for_link(peer.namespace, link.uid),
                    vtep=node.ip,
                    endpoint=Endpoint(netns=peer.status.net_ns, name=link.peer_intf),
                )
            )
    return ends
