"""CheckPod: whether every link a pod should have now exists in the kernel as planned."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from kubedtn.daemon.plan import (
    CrossNode,
    Impossible,
    Localhost,
    Mismatch,
    NodeInfo,
    Physical,
    Plumb,
    SameNode,
    is_alive,
    plan_pod,
)
from kubedtn.daemon.records import PodRecords
from kubedtn.daemon.types import CheckResult
from kubedtn.model.podref import PodRef


def check_pod(pod: PodRef, *, records: PodRecords, node: NodeInfo, netns: str = "") -> CheckResult:
    """Every problem of the pod's planned links (their peers up) as the kernel has them."""
    parsed = records.current(pod.namespace, pod.name)
    if parsed is None:
        return CheckResult(in_topology=False)
    topo = parsed.topology
    if topo is None:
        return CheckResult(True, (f"{pod.key}: the stored Topology cannot be read",))
    if not is_alive(topo):
        return CheckResult(True, (f"{pod.key}: not set up on any node (no SetupPod recorded)",))
    if netns and topo.status.net_ns != netns:
        return CheckResult(True, (f"{pod.key}: set up in {topo.status.net_ns}, not in {netns}",))
    if topo.status.src_ip != node.ip:
        return CheckResult(True, (f"{pod.key}: runs on node {topo.status.src_ip}, not on this one",))
    if not records.dataplane.namespace_exists(topo.status.net_ns):
        return CheckResult(True, (f"{pod.key}: network namespace {topo.status.net_ns} is gone",))
    peers = records.view(f"{topo.namespace}/{link.peer_pod}" for link in topo.links)
    decisions = plan_pod(topo, peers=peers, node=node)
    known = [d.spec.b.netns for d in decisions if isinstance(d, SameNode)]
    live = {i.name: i for i in records.dataplane.read(topo.status.net_ns, known=known)}
    problems: list[str] = []
    for d in decisions:
        if isinstance(d, SameNode | CrossNode | Physical | Localhost):
            problems += end_problems(pod.key, d, live)
        elif isinstance(d, Mismatch):
            problems += d.problems
        elif isinstance(d, Impossible):
            problems.append(d.reason)
    return CheckResult(True, tuple(problems))


def end_problems(pod: str, decision: Plumb, live: Mapping[str, Any]) -> list[str]:
    """Problems of the local end of a planned link, as read from the kernel."""
    link = decision.link
    ep = decision.spec.endpoints[0]
    where = f"{pod}: link {link.uid} ({decision.kind} {ep.name})"
    iface = live.get(ep.name)
    if iface is None:
        return [f"{where}: interface {ep.name} is missing in {ep.netns}"]
    problems: list[str] = []
    if iface.kind != decision.kind:
        problems.append(f"{where}: {ep.name} is a {iface.kind or 'device'}, not a {decision.kind}")
    if iface.uid != link.uid:
        problems.append(f"{where}: {ep.name} belongs to link {iface.uid}, not {link.uid}")
    if not iface.up:
        problems.append(f"{where}: {ep.name} is down")
    missing = sorted(set(_canonical(ep.addresses)) - set(_canonical(iface.addresses)))
    if missing:
        problems.append(f"{where}: {ep.name} lacks address {', '.join(missing)}")
    if isinstance(decision, SameNode) and iface.peer_netns not in (None, decision.spec.b.netns):
        problems.append(f"{where}: {ep.name}'s peer is in {iface.peer_netns}, not in {decision.spec.b.netns}")
    return problems


def _canonical(cidrs: Iterable[str]) -> list[str]:
    return [str(ipaddress.ip_interface(c)) for c in cidrs]
