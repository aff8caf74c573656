"""Pure: what the controller does about one Topology, given its peers and the Nodes.

The daemons make and change links (each follows the Topologies of its own pods). What no
single daemon can see is the controller's:

* **the finalizer**: every live Topology carries ``kubedtn.io/links``, so a deleted one
  stays until the daemon of its pod has removed its links (the daemon takes the finalizer
  off). A Topology being deleted whose pod runs nowhere, or on a lost node, has nobody to
  do that: the controller takes the finalizer off itself;
* **lost nodes**: a pod recorded running on a node that is lost (``controller.nodes``) is
  recorded not running (``src_ip``, ``net_ns``, ``links`` cleared, ``Ready`` False with
  reason NodeLost). The daemons of its peers see it stop and remove their ends of its
  links; when the pod comes up on another node, its new daemon links it again;
* **agreement**: both ends of each link must say the same (``PeersAgree``, False naming the
  link and the field, as ``kubedtn topo validate`` words it);
* **Degraded**: True with a reason and a message naming the link when the pod's links are
  not what its spec asks for a reason a user must act on (a disagreeing or missing peer,
  a failed setup, a lost node).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from kubedtn.model import Condition, PeerKind, Topology
from kubedtn.model.objects import LINKS_FINALIZER
from kubedtn.model.validate import set_problems

READY: Final = "Ready"
PEERS_AGREE: Final = "PeersAgree"
DEGRADED: Final = "Degraded"
MESSAGE_MAX: Final = 1000


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class Verdict:
    """What to write for one Topology; empty when it is as it should be."""

    add_finalizer: bool = False
    remove_finalizer: bool = False
    mark_down: bool = False  # its pod's node is lost: record it not running
    conditions: tuple[Condition, ...] = ()  # to set (others kept as they are)
    events: tuple[Event, ...] = field(default_factory=tuple)

    @property
    def status_changes(self) -> bool:
        return self.mark_down or bool(self.conditions)


def _short(text: str) -> str:
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"


def disagreements(topo: Topology, peers: Sequence[Topology]) -> list[str]:
    """The set problems that concern ``topo``'s own links (either end)."""
    mine = f"{topo.key}: "
    named = f"{topo.key} spec.links["
    return [line for line in set_problems([topo, *peers]) if line.startswith(mine) or named in line]


def missing_peers(topo: Topology, peers: Mapping[str, Topology]) -> list[str]:
    return [
        f"{topo.key}: link {link.uid} ({link.local_intf}): peer pod {link.peer_pod} has no Topology"
        for link in topo.links
        if link.peer_kind is PeerKind.POD and f"{topo.namespace}/{link.peer_pod}" not in peers
    ]


def _condition(topo: Topology, type_: str) -> Condition | None:
    return next((c for c in topo.status.conditions if c.type == type_), None)


def _changed(old: Condition | None, new: Condition) -> bool:
    return old is None or (old.status, old.reason, old.message) != (new.status, new.reason, new.message)


def judge(
    obj: Mapping[str, Any],
    topo: Topology,
    peers: Mapping[str, Topology],
    *,
    node_lost: bool,
) -> Verdict:
    """The controller's verdict on one Topology (module docstring). ``obj`` is the object as
    stored (for its metadata), ``topo`` its parse, ``peers`` the Topologies of its pod peers
    that exist, by ``namespace/name``; ``node_lost``: the node its pod runs at is lost."""
    meta = obj.get("metadata") or {}
    finalizers = list(meta.get("finalizers") or [])
    deleting = bool(meta.get("deletionTimestamp"))
    running = bool(topo.status.src_ip and topo.status.net_ns)
    if deleting:
        nobody = not running or node_lost
        remove = nobody and LINKS_FINALIZER in finalizers
        events = (
            (Event("Normal", "Released", "its pod runs on no live node: nothing to remove"),)
            if remove
            else ()
        )
        return Verdict(remove_finalizer=remove, events=events)

    raised: list[Event] = []
    conditions: list[Condition] = []
    mark_down = running and node_lost
    if mark_down:
        text = f"the node at {topo.status.src_ip} is lost (not Ready, or gone); the pod's links were removed"
        conditions.append(Condition(READY, "False", "NodeLost", text))
        raised.append(Event("Warning", "NodeLost", text))

    problems = disagreements(topo, list(peers.values()))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        agree = Condition(PEERS_AGREE, "False", "PeerMismatch", _short(problems[0] + more))
    else:
        agree = Condition(PEERS_AGREE, "True", "Agree", "both ends of every link agree")
    missing = missing_peers(topo, peers)
    ready = _condition(topo, READY)
    if mark_down:
        degraded = Condition(DEGRADED, "True", "NodeLost", conditions[0].message)
    elif problems:
        degraded = Condition(DEGRADED, "True", "PeerMismatch", agree.message)
    elif missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        degraded = Condition(DEGRADED, "True", "PeerMissing", _short(missing[0] + more))
    elif ready is not None and ready.reason in ("SetupFailed", "NodeLost"):
        # (NodeLost: recorded down by an earlier verdict, and not up anywhere since)
        degraded = Condition(DEGRADED, "True", ready.reason, ready.message)
    else:
        degraded = Condition(DEGRADED, "False", "AsSpecified", "no link needs attention")
    for cond in (agree, degraded):
        old = _condition(topo, cond.type)
        if _changed(old, cond):
            conditions.append(cond)
            if cond.type == DEGRADED and cond.status == "True" and not mark_down:
                raised.append(Event("Warning", cond.reason, cond.message))
            elif cond.type == DEGRADED and old is not None and old.status == "True":
                raised.append(Event("Normal", "Recovered", f"no longer degraded ({old.reason})"))
    return Verdict(
        add_finalizer=LINKS_FINALIZER not in finalizers,
        mark_down=mark_down,
        conditions=tuple(conditions),
        events=tuple(raised),
    )


def ready_event(old: Condition | None, new: Condition | None) -> Event | None:
    """An Event for a change of the daemons' Ready condition (links up, waiting, failed)."""
    if new is None or not _changed(old, new):
        return None
    if new.status == "True":
        return Event("Normal", "LinksUp", new.message)
    return Event(
        "Warning" if new.reason == "SetupFailed" else "Normal", new.reason or "NotReady", new.message
    )
