"""The server side of Remote: this node's ends of cross-node links, made and removed when
a peer's daemon asks (``Remote.Update``/``UpdateMany``/``DeleteMany``).

An end is made only as the store backs it (kubedtn.daemon.trust): for a pod recorded
running here, in its recorded namespace (still the same one by identity), built from the
two Topologies; a correct existing end is kept, a wrong one (other VNI, remote or kind:
e.g. still toward a node the peer pod left) replaced. An end is removed only from a pod
recorded running here (in its recorded namespace) or nowhere, and only while it is still
the VXLAN toward the asking node with that VNI.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from kubedtn.daemon.applier import PLUMBED_OUTCOMES, LinkApplier
from kubedtn.daemon.context import NodeContext
from kubedtn.daemon.locks import LinkKey
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.plan import NodeInfo, RemoteEnd, peer_key
from kubedtn.daemon.podstatus import status_after
from kubedtn.daemon.trust import recorded_here, removable_name, trusted_far_end
from kubedtn.dataplane import (
    DataplaneError,
    InterfaceRef,
    LinkSpec,
    LiveInterface,
    NamespaceNotFoundError,
    VxlanSpec,
)
from kubedtn.errors import KubedtnError
from kubedtn.model import Topology

log = EventLog(logging.getLogger(__name__))


class FarEnds:
    """This node's ends of cross-node links, for the peers' daemons (module docstring)."""

    def __init__(self, ctx: NodeContext, *, applier: LinkApplier) -> None:
        self.records, self.locks, self.node, self._clock = ctx.records, ctx.locks, ctx.node, ctx.clock
        self.applier = applier

    def update_many(self, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        """Our ends of many cross-node links in one dataplane batch; an error or None per end."""
        errors: list[KubedtnError | None] = [None] * len(ends)
        with self.locks.holding((end.kube_ns, end.uid) for end in ends):
            chosen: dict[LinkKey, LinkSpec] = {}
            index: dict[LinkKey, int] = {}
            pods, peers = self._pods_and_peers(ends)
            still: dict[str, bool] = {}  # by pod: its recorded namespace is still its own
            for i, end in enumerate(ends):
                try:
                    pod = pods.get(f"{end.kube_ns}/{end.pod}")
                    trusted = trusted_far_end(end, pod, peers, node=self.node)
                    if pod is not None and not still.setdefault(pod.key, self.records.namespace_still(pod)):
                        raise NamespaceNotFoundError(
                            f"{pod.key}: its recorded namespace {pod.status.net_ns} is gone or is "
                            "another namespace now; the pod is treated as gone"
                        )
                    spec = far_end_spec(trusted, node=self.node)
                except KubedtnError as e:
                    errors[i] = e
                    continue
                chosen[(end.kube_ns, end.uid)] = spec
                index[(end.kube_ns, end.uid)] = i
            results, _ = self.applier.apply_links(chosen, prune=set())
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

    def _pods_and_peers(self, ends: Sequence[RemoteEnd]) -> tuple[dict[str, Topology], dict[str, Topology]]:
        """The named pods and their links' peers, by ``namespace/name`` (many ends, few
        pods: each read once; the peers in a second read, their names being in the first)."""
        pods = self._read({f"{end.kube_ns}/{end.pod}" for end in ends})
        wanted = {
            peer_key(pod, link)
            for end in ends
            if (pod := pods.get(f"{end.kube_ns}/{end.pod}")) is not None
            and (link := pod.links_by_uid.get(end.uid)) is not None
        }
        peers = {key: pods[key] for key in wanted if key in pods}
        peers.update(self._read(wanted - peers.keys()))
        return pods, peers

    def _read(self, keys: set[str]) -> dict[str, Topology]:
        if not keys:
            return {}
        parsed = self.records.parse_fetched(self.records.fetch(keys))
        return {topo.key: topo for p in parsed.values() if (topo := p.topology) is not None}

    def delete_many(self, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        """Remove our end of each link whose other end went away (see the module docstring).
        An error or None per end."""
        errors: list[KubedtnError | None] = [None] * len(ends)
        now = self._clock()
        dataplane = self.records.dataplane
        with self.locks.holding((end.kube_ns, end.uid) for end in ends):
            doomed: list[InterfaceRef] = []
            gone: dict[str, set[int]] = {}
            live: dict[str, dict[str, LiveInterface] | KubedtnError | None] = {}
            pods = self._read({f"{end.kube_ns}/{end.pod}" for end in ends})
            for i, end in enumerate(ends):
                try:
                    pod = recorded_here(end, pods.get(f"{end.kube_ns}/{end.pod}"), node=self.node)
                    name = removable_name(end)
                except KubedtnError as e:
                    errors[i] = e
                    continue
                if pod is not None and pod.status.net_ns != end.endpoint.netns:
                    continue  # a namespace the pod left: nothing of ours to remove there
                # Recorded running nowhere (a far end made just before the pod went down):
                # where the peer made it (its path checked by the server: a pod's namespace).
                netns = end.endpoint.netns
                if netns not in live:  # many ends, few pods: read each namespace once
                    try:
                        live[netns] = {x.name: x for x in dataplane.read(netns, owned_only=True)}
                    except NamespaceNotFoundError:
                        live[netns] = None  # the pod is gone too: nothing left of its end
                    except KubedtnError as e:
                        live[netns] = e
                interfaces = live[netns]
                if isinstance(interfaces, KubedtnError):
                    errors[i] = interfaces
                    continue
                mine = None if interfaces is None else interfaces.get(name)
                if mine is None or mine.vxlan is None:
                    continue
                if (mine.vxlan.vni, mine.vxlan.remote) != (end.vni, end.vtep):
                    continue
                doomed.append(InterfaceRef(netns, name))
                gone.setdefault(f"{end.kube_ns}/{end.pod}", set()).add(end.uid)
            if doomed:
                dataplane.remove(doomed)
            for key, uids in gone.items():
                self.records.write_status(key, partial(status_after, now=now, unplumbed=uids, not_applied={}))
        log.info("remote ends removed", action="remote-delete", ends=len(ends))
        return errors


def far_end_spec(end: RemoteEnd, *, node: NodeInfo) -> VxlanSpec:
    """The VXLAN our pod ``end.pod`` needs toward the peer's node (``end`` as the store
    backs it: ``trust.trusted_far_end``)."""
    if node.underlay is None:
        raise DataplaneError(
            f"link {end.uid}: this node's IP {node.ip} is on no interface, so there is no "
            "underlay for VXLAN; start the daemon with --host-ip set to an address of this node"
        )
    return VxlanSpec(
        uid=end.uid,
        endpoint=end.endpoint,
        vni=end.vni,
        remote=end.vtep,
        local=node.ip,
        underlay=node.underlay,
        node_netns=node.netns,
    )
