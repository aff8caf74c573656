"""Pure: the status a pod's Topology records, and its ``Ready`` condition.

``status.src_ip``/``status.net_ns`` say where the pod runs (both empty: not running);
``status.links`` the links whose two ends are plumbed (this pod's view of them);
``status.skipped`` the peer pods of the links still waiting for their peer (kube-dtn's
field: "pods skipped by the local pod"); the ``Ready`` condition (the CRD's READY column)
sums it up: True when every link of the spec is plumbed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Final

from kubedtn.model import Condition, Link, PeerKind, Topology, TopologyStatus

READY: Final = "Ready"
# False when the links are up but the kernel lacks sch_netem for some of their properties.
PROPERTIES: Final = "PropertiesApplied"
# Condition messages are for people; a runaway kernel error should not bloat the object.
MESSAGE_MAX: Final = 1000


def now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def ready_condition(topo: Topology, status: TopologyStatus, *, failure: str | None) -> Condition:
    """Ready (without timestamps) for a status: True when every link of the spec is plumbed."""
    if not (status.src_ip and status.net_ns):
        return Condition(READY, "False", "PodDown", "the pod is not running (no SetupPod, or DestroyPod)")
    if failure:
        text = failure if len(failure) <= MESSAGE_MAX else failure[: MESSAGE_MAX - 1] + "…"
        return Condition(READY, "False", "SetupFailed", text)
    plumbed = {link.uid for link in status.links}
    missing = [link for link in topo.links if link.uid not in plumbed]
    total = len(topo.links)
    if not missing:
        return Condition(READY, "True", "LinksUp", f"{total} of {total} links up")
    waiting = sorted({link.peer_pod for link in missing})
    return Condition(
        READY,
        "False",
        "WaitingForPeers",
        f"{total - len(missing)} of {total} links up; waiting for {', '.join(waiting)}",
    )


def _with_condition(topo: Topology, status: TopologyStatus, cond: Condition, *, now: str) -> TopologyStatus:
    """``status`` with ``cond`` set; its transition time moves only when its status flips."""
    old = next((c for c in topo.status.conditions if c.type == cond.type), None)
    changed = old is None or (old.status, old.reason, old.message) != (cond.status, cond.reason, cond.message)
    when = now if old is None or old.status != cond.status else old.last_transition_time or now
    if not changed and old is not None and old.observed_generation == topo.generation:
        cond = old
    else:
        cond = replace(cond, last_transition_time=when, observed_generation=topo.generation)
    others = tuple(c for c in status.conditions if c.type != cond.type)
    return replace(status, conditions=(*others, cond))


def _with_ready(topo: Topology, status: TopologyStatus, *, failure: str | None, now: str) -> TopologyStatus:
    return _with_condition(topo, status, ready_condition(topo, status, failure=failure), now=now)


NOTE_SEPARATOR: Final = " | "


def properties_condition(notes: Mapping[int, str]) -> Condition:
    """PropertiesApplied: False (reason NetemMissing) naming, per link, what the kernel could
    not emulate (``link 1: latency, loss on ... not applied: ...``, joined by " | ")."""
    if not notes:
        return Condition(PROPERTIES, "True", "Applied", "every link property is applied")
    text = NOTE_SEPARATOR.join(notes[uid] for uid in sorted(notes))
    text = text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"
    return Condition(PROPERTIES, "False", "NetemMissing", text)


def noted_links(status: TopologyStatus) -> dict[int, str]:
    """The per-link notes of a PropertiesApplied=False condition, by uid."""
    cond = next((c for c in status.conditions if c.type == PROPERTIES and c.status == "False"), None)
    notes: dict[int, str] = {}
    for note in cond.message.split(NOTE_SEPARATOR) if cond else ():
        head = note.split(":", 1)[0]
        if head.startswith("link ") and head[5:].isdigit():
            notes[int(head[5:])] = note
    return notes


def _ordered_links(topo: Topology, links: Mapping[int, Link]) -> tuple[Link, ...]:
    order = {link.uid: i for i, link in enumerate(topo.links)}
    return tuple(links[uid] for uid in sorted(links, key=lambda u: (order.get(u, len(order)), u)))


def _skipped(topo: Topology, plumbed: Iterable[int]) -> tuple[str, ...]:
    have = set(plumbed)
    return tuple(
        sorted({x.peer_pod for x in topo.links if x.uid not in have and x.peer_kind is PeerKind.POD})
    )


def _differ(new: str, old: str) -> bool:
    """Two identities known and not the same."""
    return bool(new and old) and new != old


def status_after(
    topo: Topology,
    *,
    now: str,
    alive: tuple[str, str] | None = None,
    sandbox: tuple[str, str] | None = None,
    plumbed: Mapping[int, Link] | None = None,
    plumbed_own: Iterable[int] = (),
    unplumbed: Iterable[int] = (),
    failure: str | None = None,
    not_applied: Mapping[int, str] | None = None,
) -> TopologyStatus:
    """The status after an event, from the stored one.

    ``alive``: (src_ip, net_ns) to record, ("", "") for a pod that stopped (its links are
    then all gone), None to keep; a net_ns other than the recorded one is a new life (the
    links recorded before are gone with the old namespace). ``sandbox``: with ``alive``, the
    namespace's identity and the sandbox's container id (see ``TopologyStatus``; "" not
    known); one that differs from the recorded one is a new life too, even at the same path.
    ``plumbed``: links (by uid) now up; ``plumbed_own``: uids now up, recorded as the pod's
    own spec has them (a peer plumbed them); ``unplumbed``: uids now down. ``failure``: the
    error of a failed setup (Ready False, reason SetupFailed).
    ``not_applied``: for the links this call plumbed, the properties the kernel cannot
    emulate, by uid (the PropertiesApplied condition keeps the notes of other links; None
    leaves the condition as it is).
    """
    old = topo.status
    src_ip, net_ns = alive if alive is not None else (old.src_ip, old.net_ns)
    if not (src_ip and net_ns):
        # A pod that is not running has no links, so nothing to say about their properties.
        status = TopologyStatus(conditions=tuple(c for c in old.conditions if c.type != PROPERTIES))
        return _with_ready(topo, status, failure=None, now=now)
    # A pod that comes up in another namespace than the one recorded starts a new life:
    # the links recorded for the old one went with its namespace.
    new_id, new_cid = sandbox if sandbox is not None else ("", "")
    new_life = alive is not None and (
        net_ns != old.net_ns or _differ(new_id, old.net_ns_id) or _differ(new_cid, old.container_id)
    )
    links = {} if new_life else {link.uid: link for link in old.links}
    for uid in unplumbed:
        links.pop(uid, None)
    links.update(plumbed or {})
    own = {link.uid: link for link in topo.links}
    links.update({uid: own[uid] for uid in plumbed_own if uid in own})
    status = replace(
        old,
        src_ip=src_ip,
        net_ns=net_ns,
        net_ns_id=new_id or ("" if new_life else old.net_ns_id),
        container_id=new_cid or ("" if new_life else old.container_id),
        links=_ordered_links(topo, links),
        skipped=_skipped(topo, links),
    )
    had_condition = any(c.type == PROPERTIES for c in old.conditions)
    # The condition speaks of plumbed links: a pod with none yet (all its peers still down)
    # gets it with its first link, which also spares that pod a status write per SetupPod.
    if not_applied is not None and (had_condition or status.links):
        notes = noted_links(old)
        for uid in {*(plumbed or {}), *plumbed_own, *unplumbed}:
            notes.pop(uid, None)
        notes.update(not_applied)
        status = _with_condition(topo, status, properties_condition(notes), now=now)
    return _with_ready(topo, status, failure=failure, now=now)
