"""Pure: which node addresses are lost, from the Nodes the API holds.

A pod's Topology records the node it runs at by the daemon's HOST_IP (``status.src_ip``).
That node is *lost* when the API's Node with that address has not been Ready for the grace
period (the kubelet stopped reporting: the node died, so no CNI DEL will ever run there),
or when its Node was deleted (seen by this controller) and no Node has the address again.
A node that comes back Ready within the grace period was never lost. An address no Node
ever had is not judged: a daemon whose HOST_IP is not its node's address is misconfigured,
and wiping its pods' statuses over and over would only hide that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

# kube-controller-manager's node-monitor-grace-period (40 s) is when Ready turns Unknown;
# ours starts counting then.
DEFAULT_GRACE_S: Final = 40.0


def node_addresses(node: Mapping[str, Any]) -> tuple[str, ...]:
    addresses = (node.get("status") or {}).get("addresses") or []
    return tuple(str(a["address"]) for a in addresses if isinstance(a, Mapping) and a.get("address"))


def node_ready(node: Mapping[str, Any]) -> bool:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == "Ready":
            return cond.get("status") == "True"
    return False


@dataclass(frozen=True)
class NodeView:
    """The Nodes as the controller saw them at one moment."""

    known: bool  # the controller holds a list of Nodes (else nothing is judged lost)
    ready: frozenset[str]  # addresses of Ready nodes
    lost: frozenset[str]  # addresses of nodes not Ready for the grace period, or deleted
    waiting: Mapping[str, float]  # address → seconds until its node counts as lost

    def is_lost(self, address: str) -> bool:
        return self.known and bool(address) and address in self.lost


def view_nodes(
    nodes: Iterable[Mapping[str, Any]],
    *,
    not_ready_since: Mapping[str, float],
    now: float,
    grace_s: float = DEFAULT_GRACE_S,
    deleted: Iterable[str] = (),
    known: bool = True,
) -> NodeView:
    """``not_ready_since``: node name → when (by the controller's clock) it was first seen
    not Ready; the caller keeps it, so a remote clock never decides. ``deleted``: addresses
    of Nodes seen deleted."""
    ready: set[str] = set()
    lost: set[str] = set()
    waiting: dict[str, float] = {}
    for node in nodes:
        addresses = node_addresses(node)
        if node_ready(node):
            ready.update(addresses)
            continue
        name = str((node.get("metadata") or {}).get("name", ""))
        left = grace_s - (now - not_ready_since.get(name, now))
        for address in addresses:
            if left <= 0:
                lost.add(address)
            else:
                waiting[address] = left
    present = ready | lost | waiting.keys()
    lost.update(a for a in deleted if a not in present)
    return NodeView(known=known, ready=frozenset(ready), lost=frozenset(lost), waiting=waiting)
