"""Simulated nodes of a lab (``lab up --nodes N``): which nodes, which pod runs where (pure).

A simulated node is a network namespace ``LAB+n-NODE`` with one interface ``eth0`` on
the lab's underlay (a bridge in the namespace ``LAB+fabric``), holding the node's IP
from the underlay subnet (node i of the list gets the subnet's host i+1). Its own
``kubedtn daemon`` runs inside it. ``+`` is in no Kubernetes name, so these namespaces
never meet a pod's ``LAB-...``.

Placement, decided once per pod and kept by later ``lab up`` runs (and changed only by
``lab move``):

* a Pod object of the files with ``spec.nodeName`` puts that pod on that node, and the
  nodes are then the names the files use;
* otherwise, with ``--nodes N``, the nodes are ``node1`` .. ``nodeN`` and the pods are dealt
  round-robin in pod order (sorted by namespace, then name): the first to ``node1``,
  the second to ``node2``, ...
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from kubedtn.cni.rules import POD_LIST_NAME
from kubedtn.errors import ValidationError
from kubedtn.lab.names import DEFAULT_UNDERLAY, LabPaths
from kubedtn.lab.state import LabState, NodeRecord

NODES_MAX: Final = 64
NODE_NAME_MAX: Final = 40
_NODE_NAME = re.compile(r"^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$")
NODE_NAME_ACCEPTS: Final = (
    f"a node name: 1-{NODE_NAME_MAX} lower-case letters, digits, '-' and '.', starting and ending "
    "with a letter or digit"
)
FABRIC_BRIDGE: Final = "br0"
NODE_UNDERLAY: Final = "eth0"  # the node's interface on the fabric (its daemon's underlay)


def fabric_netns(lab: str) -> str:
    return f"{lab}+fabric"


def node_netns(lab: str, node: str) -> str:
    return f"{lab}+n-{node}"


def fabric_port(index: int) -> str:
    """The fabric end of node index's underlay veth."""
    return f"n{index}"


@dataclass(frozen=True)
class NodePaths:
    """A node daemon's files, beside the lab's (short names: a unix socket path has at most
    107 bytes)."""

    lab: LabPaths
    node: str

    @property
    def socket(self) -> Path:
        return self.lab.run_dir / f"node-{self.node}.sock"

    @property
    def pidfile(self) -> Path:
        return self.lab.run_dir / f"node-{self.node}.pid"

    @property
    def daemon_state_dir(self) -> Path:
        return self.lab.state_dir / "nodes" / self.node

    @property
    def pod_list(self) -> Path:
        return self.daemon_state_dir / POD_LIST_NAME

    @property
    def tls_dir(self) -> Path:
        """The node's certificate, key and the lab's CA certificate (kubedtn.daemon.certs)."""
        return self.daemon_state_dir / "tls"

    @property
    def daemon_log(self) -> Path:
        return self.lab.state_dir / "nodes" / f"{self.node}.log"


def node_name_problem(name: str) -> str | None:
    if len(name) > NODE_NAME_MAX or not _NODE_NAME.fullmatch(name):
        return f"is not {NODE_NAME_ACCEPTS}"
    return None


def check_underlay(subnet: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(subnet, strict=True)
    except ValueError as e:
        raise ValidationError(
            f"--underlay: {subnet!r} is not a subnet ({e}); e.g. {DEFAULT_UNDERLAY}"
        ) from None
    if not isinstance(net, ipaddress.IPv4Network) or net.num_addresses < 4:
        raise ValidationError(
            f"--underlay: {subnet!r} is not an IPv4 subnet with room for nodes (a prefix of /30 or shorter)"
        )
    return net


@dataclass(frozen=True)
class NodePlan:
    nodes: tuple[NodeRecord, ...]
    placement: Mapping[str, str]  # pod key -> node name
    subnet: str


def plan_nodes(
    *,
    lab: str,
    count: int | None,
    pods: Sequence[str],
    file_nodes: Mapping[str, str],
    previous: LabState | None,
    subnet: str = DEFAULT_UNDERLAY,
) -> NodePlan | None:
    """The nodes of a lab and every pod's node; None for a lab without simulated nodes.

    ``pods``: pod keys in pod order; ``file_nodes``: pod key -> spec.nodeName of the files.
    ValidationError naming the bad value and what is accepted.
    """
    file_nodes = {k: v for k, v in file_nodes.items() if k in set(pods)}
    before = previous.nodes if previous else ()
    if count is None and not file_nodes and not before:
        return None
    if count is not None and not 1 <= count <= NODES_MAX:
        raise ValidationError(f"--nodes: {count} is not a number of nodes (an integer 1..{NODES_MAX})")
    problems = [
        f"{key}: spec.nodeName {node!r} {why}"
        for key, node in sorted(file_nodes.items())
        if (why := node_name_problem(node))
    ]
    if problems:
        raise ValidationError(problems)
    names = _node_names(count, file_nodes, before)
    if previous is not None and previous.pods and not before:
        raise ValidationError(
            f"--nodes: lab {lab} runs with one daemon, not on simulated nodes; "
            f"take it down first (kubedtn lab down --name {lab})"
        )
    if before and [n.name for n in before] != names:
        raise ValidationError(
            f"--nodes: lab {lab} runs on the nodes {', '.join(n.name for n in before)}, "
            f"not {', '.join(names)}; take it down first (kubedtn lab down --name {lab})"
        )
    if before and previous is not None:
        subnet = previous.underlay or subnet
    net = check_underlay(subnet)
    hosts = list(_first_hosts(net, len(names)))
    if len(hosts) < len(names):
        raise ValidationError(f"--underlay: {subnet} has room for {len(hosts)} nodes, not {len(names)}")
    nodes = tuple(
        NodeRecord(name=n, netns=node_netns(lab, n), ip=str(ip), index=i)
        for i, (n, ip) in enumerate(zip(names, hosts, strict=True))
    )
    return NodePlan(nodes, place(pods, names, file_nodes, previous), str(net))


def _node_names(count: int | None, file_nodes: Mapping[str, str], before: Sequence[NodeRecord]) -> list[str]:
    if file_nodes:
        named = sorted(set(file_nodes.values()))
        if count is not None and count != len(named):
            raise ValidationError(
                f"--nodes: {count}, but the files place pods on {len(named)} nodes by spec.nodeName "
                f"({', '.join(named)}); leave --nodes out or give --nodes {len(named)}"
            )
        return named
    if count is None:
        return [n.name for n in before]
    return [f"node{i + 1}" for i in range(count)]


def _first_hosts(net: ipaddress.IPv4Network, count: int) -> list[ipaddress.IPv4Address]:
    out: list[ipaddress.IPv4Address] = []
    for ip in net.hosts():
        if len(out) == count:
            break
        out.append(ip)
    return out


def place(
    pods: Sequence[str], names: Sequence[str], file_nodes: Mapping[str, str], previous: LabState | None
) -> dict[str, str]:
    """Each pod's node: the files' spec.nodeName, else where it already runs, else round-robin."""
    kept = {p.key: p.node for p in previous.pods if p.node in names} if previous else {}
    out: dict[str, str] = {}
    for i, key in enumerate(pods):
        out[key] = file_nodes.get(key) or kept.get(key) or names[i % len(names)]
    return out


def node_of(current: LabState, name: str) -> NodeRecord:
    """The lab's node of that name; ValidationError naming the nodes there are."""
    node = current.node(name)
    if node is None:
        have = ", ".join(n.name for n in current.nodes) or "none: the lab runs without --nodes"
        raise ValidationError(f"--node: {name!r} is not a node of lab {current.name} (its nodes: {have})")
    return node
