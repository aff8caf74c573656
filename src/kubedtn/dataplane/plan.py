"""Deciding what to do: desired links + what exists → per-link verdicts and kernel work.

Pure (no I/O): ``plan_apply`` takes a snapshot of the namespaces involved and returns an
``ApplyPlan``; the engine only executes it. A link is

* **created** when none of its interfaces exists;
* **kept** when it exists as specified (kind, peer, VNI, remote, ...); addresses, MAC,
  MTU, up-state, alias and qdiscs are then corrected in place (verdict "updated"),
  so the interface and its ifindex stay;
* **replaced** (deleted, then created) when an interface of ours has the name but is the
  wrong kind or wired wrong;
* **refused** when an interface with the name exists that kubedtn did not create
  (its group is not ours): it is never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Literal

from kubedtn.dataplane.addr import canonical_cidr, canonical_ip
from kubedtn.dataplane.bpfmark import MarkerAction, marker_action, marker_wanted
from kubedtn.dataplane.live import LiveInterface, alias_for
from kubedtn.dataplane.qdisc import (
    GSO_MAX_SEGS,
    LiveQdisc,
    QdiscAction,
    gso_max_segs_fix,
    qdisc_actions,
    qdisc_plan,
)
from kubedtn.dataplane.specs import Endpoint, LinkSpec, MacvlanSpec, VethSpec, VxlanSpec

NsKey = tuple[int, int]

Verdict = Literal["create", "keep", "update", "replace", "refuse"]


@dataclass
class NsState:
    """What one namespace holds, as far as it was read.

    ``addresses``/``qdiscs`` are None when they were not read (no desired interface
    existed there, so nothing to compare). ``nsids`` maps other namespaces to the id this
    one knows them by (IFLA_LINK_NETNSID), for the pairs that were asked for.
    """

    key: NsKey
    label: str  # for messages: "r1" for /run/netns/r1, else the path
    links: dict[str, LiveInterface]
    addresses: dict[int, list[tuple[str, bool]]] | None = None  # ifindex → (cidr, link-scope)
    qdiscs: dict[int, list[LiveQdisc]] | None = None
    nsids: dict[NsKey, int | None] = field(default_factory=dict)

    def used_indexes(self) -> set[int]:
        return {live.ifindex for live in self.links.values()}


@dataclass(frozen=True)
class EndPlan:
    """The work on one interface of a link, in its namespace."""

    ns: NsKey
    name: str
    ifindex: int
    created: bool
    up: bool = False
    mtu: int | None = None
    mac: str | None = None
    alias: str | None = None
    gso_max_segs: int | None = None  # segments per packet (``qdisc.gso_max_segs_fix``)
    add_addresses: tuple[str, ...] = ()
    del_addresses: tuple[str, ...] = ()
    qdiscs: tuple[QdiscAction, ...] = ()
    marker: MarkerAction | None = None  # the bypass marker (kubedtn.dataplane.bpfmark)

    def changes(self) -> list[str]:
        """What changes in place, in words (for reports); empty when nothing does."""
        out: list[str] = []
        if self.mtu is not None:
            out.append(f"mtu {self.mtu}")
        if self.mac is not None:
            out.append(f"mac {self.mac}")
        if self.up:
            out.append("up")
        if self.alias is not None:
            out.append("alias")
        if self.gso_max_segs is not None:
            out.append(f"gso_max_segs {self.gso_max_segs}")
        out += [f"+{a}" for a in self.add_addresses] + [f"-{a}" for a in self.del_addresses]
        out += [f"{q.op} {q.kind}" for q in self.qdiscs]
        if self.marker == "add":
            out.append("add bypass marker")
        elif self.marker == "clear":
            out.append("remove bypass marker")
        return out


@dataclass(frozen=True)
class Deletion:
    ns: NsKey
    ifindex: int
    name: str


@dataclass(frozen=True)
class LinkPlan:
    link: LinkSpec
    verdict: Verdict
    reason: str = ""  # why replaced or refused
    foreign: bool = False  # refused because an interface of its name is not kubedtn's
    deletes: tuple[Deletion, ...] = ()
    ends: tuple[EndPlan, ...] = ()
    # For creation: namespace of the socket that sends the create request, and the
    # underlay/parent ifindex there (vxlan/macvlan).
    node: NsKey | None = None
    node_ifindex: int = 0


@dataclass(frozen=True)
class ApplyPlan:
    links: tuple[LinkPlan, ...]
    prune: tuple[Deletion, ...] = ()


class IndexAllocator:
    """Chooses free ifindexes per namespace (so no lookup is needed after creation).

    Indexes go above the highest in use. ``avoid`` adds indexes that must stay free too:
    a VXLAN/macvlan is created from the node namespace, and depending on the kernel
    version the chosen index is first looked up there.
    """

    def __init__(self, states: Mapping[NsKey, NsState]) -> None:
        self._next = {key: max(st.used_indexes(), default=1) + 1 for key, st in states.items()}
        self._used = {key: st.used_indexes() for key, st in states.items()}

    def take(self, ns: NsKey, *, avoid: AbstractSet[int] = frozenset()) -> int:
        index = self._next[ns]
        while index in avoid or index in self._used[ns]:
            index += 1
        self._next[ns] = index + 1
        self._used[ns].add(index)
        return index


def _same_ip(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return canonical_ip(a) == canonical_ip(b)


def _end_fixes(ep: Endpoint, live: LiveInterface, state: NsState, *, uid: int, marking: bool) -> EndPlan:
    """In-place corrections that make an existing interface match its endpoint."""
    # Both sides are canonical text (inet_ntop), so they compare as strings.
    want = {canonical_cidr(a) for a in ep.addresses}
    have = state.addresses.get(live.ifindex, []) if state.addresses is not None else []
    have_set = {a for a, _ in have}
    extra = tuple(sorted(a for a, link_scope in have if not link_scope and a not in want))
    live_qdiscs = state.qdiscs.get(live.ifindex, []) if state.qdiscs is not None else []
    plan = qdisc_plan(ep.properties, mtu=ep.mtu or live.mtu)
    alias = alias_for(uid)
    return EndPlan(
        ns=state.key,
        name=ep.name,
        ifindex=live.ifindex,
        created=False,
        up=not live.up,
        mtu=ep.mtu if ep.mtu is not None and ep.mtu != live.mtu else None,
        mac=ep.mac if ep.mac is not None and ep.mac.lower() != (live.mac or "") else None,
        alias=alias if live.alias != alias else None,
        gso_max_segs=gso_max_segs_fix(ep.properties, live.gso_max_segs, limit=live.tso_max_segs),
        add_addresses=tuple(sorted(a for a in want if a not in have_set)),
        del_addresses=extra,
        qdiscs=tuple(qdisc_actions(plan, live_qdiscs)),
        marker=marker_action(marker_wanted(ep.properties, bypass=ep.bypass, marking=marking), live_qdiscs),
    )


def _new_end(ep: Endpoint, ns: NsKey, ifindex: int, *, uid: int, marking: bool) -> EndPlan:
    return EndPlan(
        ns=ns,
        name=ep.name,
        ifindex=ifindex,
        created=True,
        up=True,
        alias=alias_for(uid),
        gso_max_segs=gso_max_segs_fix(ep.properties, GSO_MAX_SEGS),
        add_addresses=tuple(canonical_cidr(a) for a in ep.addresses),
        qdiscs=tuple(qdisc_actions(qdisc_plan(ep.properties, mtu=ep.mtu), [])),
        marker=marker_action(marker_wanted(ep.properties, bypass=ep.bypass, marking=marking), ()),
    )


def _mismatch(
    link: LinkSpec, lives: Sequence[LiveInterface], states: Sequence[NsState], ctx: _Context
) -> str:
    """Why existing interfaces are not this link ("" when they are)."""
    if isinstance(link, VethSpec):
        a, b = lives
        sa, sb = states
        for live, st in ((a, sa), (b, sb)):
            if live.kind != "veth":
                return f"{st.label}/{live.name} exists and is a {live.kind or 'device'}, expected a veth"
        if a.link_ifindex != b.ifindex or b.link_ifindex != a.ifindex:
            return f"{sa.label}/{a.name} is a veth whose peer is not {sb.label}/{b.name}"
        if sa.key == sb.key:
            ok = a.link_netnsid is None and b.link_netnsid is None
        else:
            ok = (
                a.link_netnsid is not None
                and a.link_netnsid == sa.nsids.get(sb.key)
                and b.link_netnsid is not None
                and b.link_netnsid == sb.nsids.get(sa.key)
            )
        return "" if ok else f"{sa.label}/{a.name} is a veth whose peer is not {sb.label}/{b.name}"
    (live,) = lives
    (st,) = states
    node = ctx.node_key(link)
    nsid_ok = (
        (live.link_netnsid is None)
        if node == st.key
        else (live.link_netnsid is not None and live.link_netnsid == st.nsids.get(node))
    )
    where = f"{st.label}/{live.name}"
    if isinstance(link, VxlanSpec):
        if live.kind != "vxlan" or live.vxlan is None:
            return f"{where} exists and is a {live.kind or 'device'}, expected a vxlan"
        v = live.vxlan
        if v.vni != link.vni:
            return f"{where} is a vxlan with VNI {v.vni}, expected {link.vni}"
        if not _same_ip(v.remote, link.remote):
            return f"{where} is a vxlan to {v.remote}, expected {link.remote}"
        if not _same_ip(v.local, link.local):
            return f"{where} is a vxlan from {v.local or 'any address'}, expected {link.local or 'any'}"
        if v.port != link.port:
            return f"{where} is a vxlan on UDP port {v.port}, expected {link.port}"
        if v.learning:
            return f"{where} is a vxlan with learning on, expected off"
        if v.underlay_ifindex != ctx.node_index(link) or not nsid_ok:
            return f"{where} is a vxlan over another device than {link.underlay}"
        return ""
    if live.kind != "macvlan":
        return f"{where} exists and is a {live.kind or 'device'}, expected a macvlan"
    if live.macvlan_mode != "bridge":
        return f"{where} is a macvlan in {live.macvlan_mode} mode, expected bridge"
    if live.link_ifindex != ctx.node_index(link) or not nsid_ok:
        return f"{where} is a macvlan on another device than {link.parent}"
    return ""


@dataclass
class _Context:
    states: Mapping[NsKey, NsState]
    ns_of: Mapping[str | None, NsKey]  # netns path (None: current) → key
    group: int
    marking: bool = False  # the bypass marker goes on ends with properties or opted out

    def node_key(self, link: VxlanSpec | MacvlanSpec) -> NsKey:
        return self.ns_of[link.node_netns]

    def node_device(self, link: VxlanSpec | MacvlanSpec) -> LiveInterface | None:
        name = link.underlay if isinstance(link, VxlanSpec) else link.parent
        return self.states[self.node_key(link)].links.get(name)

    def node_index(self, link: VxlanSpec | MacvlanSpec) -> int:
        dev = self.node_device(link)
        return dev.ifindex if dev is not None else -1


def plan_apply(
    links: Sequence[LinkSpec],
    *,
    states: Mapping[NsKey, NsState],
    ns_of: Mapping[str | None, NsKey],
    group: int,
    prune: Iterable[NsKey] = (),
    marking: bool = False,
) -> ApplyPlan:
    """Per-link verdicts and work; ``prune`` namespaces lose our interfaces not in links.
    ``marking``: the bypass marker program is loaded (``kubedtn.dataplane.bpfmark``)."""
    ctx = _Context(states, ns_of, group, marking)
    alloc = IndexAllocator(states)
    plans = [_plan_link(link, ctx, alloc) for link in links]
    wanted = {(ns_of[ep.netns], ep.name) for link in links for ep in link.endpoints}
    doomed = {(d.ns, d.ifindex) for p in plans for d in p.deletes}
    pruned: list[Deletion] = []
    for key in sorted(set(prune)):
        st = states[key]
        for live in sorted(st.links.values(), key=lambda i: i.ifindex):
            if live.group == group and (key, live.name) not in wanted and (key, live.ifindex) not in doomed:
                pruned.append(Deletion(key, live.ifindex, live.name))
    return ApplyPlan(links=tuple(plans), prune=tuple(pruned))


def _plan_link(link: LinkSpec, ctx: _Context, alloc: IndexAllocator) -> LinkPlan:
    eps = link.endpoints
    states = [ctx.states[ctx.ns_of[ep.netns]] for ep in eps]
    lives = [st.links.get(ep.name) for ep, st in zip(eps, states, strict=True)]
    for live, st in zip(lives, states, strict=True):
        if live is not None and live.group != ctx.group:
            return LinkPlan(
                link,
                "refuse",
                f"{st.label}/{live.name} exists and is a {live.kind or 'device'} not created by kubedtn "
                f"(group {live.group}); it is left alone — remove or rename it",
                foreign=True,
            )
    node: NsKey | None = None
    node_index = 0
    if isinstance(link, VxlanSpec | MacvlanSpec):
        node = ctx.node_key(link)
        dev = ctx.node_device(link)
        what = "underlay device" if isinstance(link, VxlanSpec) else "parent interface"
        name = link.underlay if isinstance(link, VxlanSpec) else link.parent
        if dev is None:
            return LinkPlan(
                link, "refuse", f"{what} {name} does not exist in node namespace {ctx.states[node].label}"
            )
        node_index = dev.ifindex
    reason = ""
    if all(live is not None for live in lives):
        present = [live for live in lives if live is not None]
        reason = _mismatch(link, present, states, ctx)
        if not reason:
            ends = tuple(
                _end_fixes(ep, live, st, uid=link.uid, marking=ctx.marking)
                for ep, live, st in zip(eps, present, states, strict=True)
            )
            verdict: Verdict = "update" if any(e.changes() for e in ends) else "keep"
            return LinkPlan(link, verdict, ends=ends, node=node, node_ifindex=node_index)
    elif any(live is not None for live in lives):
        wrong = [
            f"{st.label}/{live.name} exists and is a {live.kind or 'device'}, expected a {link.kind}"
            for live, st in zip(lives, states, strict=True)
            if live is not None and live.kind != link.kind
        ]
        missing = [
            f"{st.label}/{ep.name}" for ep, live, st in zip(eps, lives, states, strict=True) if live is None
        ]
        reason = "; ".join(wrong) or f"{', '.join(missing)} is missing (the other end exists)"
    deletes = tuple(
        Deletion(st.key, live.ifindex, live.name)
        for live, st in zip(lives, states, strict=True)
        if live is not None
    )
    avoid: AbstractSet[int] = ctx.states[node].used_indexes() if node is not None else frozenset()
    ends = tuple(
        _new_end(ep, st.key, alloc.take(st.key, avoid=avoid), uid=link.uid, marking=ctx.marking)
        for ep, st in zip(eps, states, strict=True)
    )
    return LinkPlan(
        link,
        "replace" if deletes else "create",
        reason,
        deletes=deletes,
        ends=ends,
        node=node,
        node_ifindex=node_index,
    )
