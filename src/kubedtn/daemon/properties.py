"""Link properties changed on live links (UpdateLinks): the same interfaces, new qdiscs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from kubedtn.daemon.context import NodeContext
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.plan import is_alive
from kubedtn.daemon.podstatus import status_after
from kubedtn.daemon.setup import check_here
from kubedtn.dataplane import InterfaceRef
from kubedtn.model import Link
from kubedtn.model.podref import PodRef

log = EventLog(logging.getLogger(__name__))


def update_links(pod: PodRef, links: Sequence[Link], ctx: NodeContext) -> int:
    """Change the properties of this pod's end of existing links in place (same
    interfaces); links not plumbed yet get the new properties when they are. Returns
    how many interfaces were changed."""
    records, locks, node = ctx.records, ctx.locks, ctx.node
    stamp = ctx.clock()
    dataplane = records.dataplane
    with locks.holding((pod.namespace, link.uid) for link in links):
        topo = records.stored(pod.namespace, pod.name)
        if not is_alive(topo):
            return 0
        check_here(topo, node)
        if not records.namespace_still(topo):
            return 0  # the pod is gone; a new namespace at its path is not its
        present = {i.name for i in dataplane.read(topo.status.net_ns, owned_only=True)}
        updates = {
            InterfaceRef(topo.status.net_ns, link.local_intf): link.properties
            for link in links
            if link.local_intf in present
        }
        unbypassed = {InterfaceRef(topo.status.net_ns, link.local_intf) for link in links if not link.bypass}
        if updates:
            dataplane.set_properties(updates, unbypassed=unbypassed)
        plumbed = {link.uid for link in topo.status.links}
        changed = {link.uid: link for link in links if link.uid in plumbed}
        records.write_status(topo.key, partial(status_after, now=stamp, plumbed=changed))
    log.info(
        "link properties updated",
        pod=pod.name,
        namespace=pod.namespace,
        action="update",
        interfaces=len(updates),
    )
    return len(updates)
