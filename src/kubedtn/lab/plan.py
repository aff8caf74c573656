"""What ``lab up`` will do, decided before anything is touched (pure).

Input: the checked Topologies of the files, the lab's previous record, which namespaces
exist and who owns the store objects of the same names. Output: a ``LabPlan`` — or a
ValidationError naming every reason not to start (a namespace or store object that
is someone else's), so a refused ``lab up`` has created nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from kubedtn.errors import ValidationError
from kubedtn.lab.names import LAB_LABEL, NETNS_NAME_MAX, lab_name_problem, netns_name, pod_key
from kubedtn.lab.state import LabState, PodRecord
from kubedtn.model import PeerKind, Topology


@dataclass(frozen=True)
class PodPlan:
    topology: Topology
    netns: str  # name in /run/netns

    @property
    def key(self) -> str:
        return self.topology.key

    @property
    def record(self) -> PodRecord:
        return PodRecord(name=self.topology.name, kube_ns=self.topology.namespace, netns=self.netns)


@dataclass(frozen=True)
class LabPlan:
    lab: str
    pods: tuple[PodPlan, ...]
    create_netns: tuple[str, ...]  # namespaces to make
    remove: tuple[PodRecord, ...]  # pods of the previous `up` that the files no longer have
    warnings: tuple[str, ...]  # links that will stay down, and why

    @property
    def records(self) -> tuple[PodRecord, ...]:
        return tuple(p.record for p in self.pods)


# Who holds a store object: absent = free, None = an object without a lab label, else the lab.
StoreOwners = Mapping[str, str | None]


def plan_up(
    *,
    lab: str,
    topologies: Sequence[Topology],
    previous: LabState | None,
    existing_netns: Collection[str],
    store_owners: StoreOwners,
) -> LabPlan:
    """The plan of ``lab up``; ValidationError with every reason it must not start."""
    problems: list[str] = []
    why = lab_name_problem(lab)
    if why:
        raise ValidationError(f"--name: {lab!r} {why}")
    owned = {p.netns for p in previous.pods} if previous else set()
    pods: list[PodPlan] = []
    create: list[str] = []
    for topo in sorted(topologies, key=lambda t: (t.namespace, t.name)):
        ns = netns_name(lab, topo.namespace, topo.name)
        if len(ns) > NETNS_NAME_MAX:
            problems.append(
                f"{topo.key}: its network namespace name {ns!r} is longer than {NETNS_NAME_MAX} characters"
            )
            continue
        if ns in existing_netns and ns not in owned:
            problems.append(
                f"{topo.key}: network namespace {ns} exists and is not lab {lab}'s "
                f"(remove it with `ip netns del {ns}` or choose another --name)"
            )
        if topo.key in store_owners and store_owners[topo.key] != lab:
            owner = store_owners[topo.key]
            holder = f"lab {owner}" if owner else f"no lab (no {LAB_LABEL} label)"
            problems.append(
                f"{topo.key}: a Topology of that name is already in the store and belongs to {holder}; "
                "take that lab down first or use another --store"
            )
        if ns not in existing_netns:
            create.append(ns)
        pods.append(PodPlan(topo, ns))
    if problems:
        raise ValidationError(problems)
    wanted = {p.key for p in pods}
    remove = tuple(p for p in (previous.pods if previous else ()) if p.key not in wanted)
    return LabPlan(
        lab=lab,
        pods=tuple(pods),
        create_netns=tuple(create),
        remove=remove,
        warnings=tuple(link_warnings(topologies)),
    )


def link_warnings(topologies: Sequence[Topology]) -> list[str]:
    """Links of the set that a lab on one host cannot bring up, one line each."""
    keys = {t.key for t in topologies}
    out: list[str] = []
    for topo in topologies:
        for link in topo.links:
            end = f"{topo.key}/{link.local_intf} (link {link.uid})"
            if link.peer_kind is PeerKind.POD:
                if pod_key(topo.namespace, link.peer_pod) not in keys:
                    out.append(f"{end}: peer pod {link.peer_pod} is not in the lab; the link stays down")
            else:
                out.append(f"{end}: peer {link.peer_pod} is outside the lab (a host, not a pod)")
    return out
