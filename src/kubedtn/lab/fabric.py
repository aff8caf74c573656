"""The underlay of simulated nodes: node namespaces wired to a bridge in a fabric namespace.

::

    LAB+fabric:  br0 ── n0 ─┐  n1 ─┐  ...
    LAB+n-node1:  eth0 ─────┘ (172.30.0.1/24)
    LAB+n-node2:  eth0 ───────────┘ (172.30.0.2/24)

Built with ``ip -batch`` (bridges are no part of the dataplane, which only makes links
of pods): one process in the host namespace creates the veths straight into their
namespaces, one in the fabric enslaves them, one per node sets its address. Only what
is missing is made (read back with the dataplane), so ``lab up`` can run again and
completes one that stopped half-way; removing the namespaces removes all.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from collections.abc import Sequence

from kubedtn.dataplane import create_namespaces, delete_namespaces, namespace_exists
from kubedtn.errors import KubedtnError
from kubedtn.lab.names import RUN_NETNS, netns_path
from kubedtn.lab.nodes import FABRIC_BRIDGE, NODE_UNDERLAY, fabric_port
from kubedtn.lab.state import NodeRecord


class FabricError(KubedtnError):
    """The underlay of the simulated nodes could not be built."""


def _ip_batch(lines: Sequence[str], *, netns: str | None = None) -> None:
    if not lines:
        return
    argv = ["ip", *(["-n", netns] if netns else []), "-batch", "-"]
    result = subprocess.run(
        argv, input="".join(f"{line}\n" for line in lines), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        where = f"in namespace {netns}" if netns else "in the host namespace"
        raise FabricError(f"building the nodes' underlay {where}: {result.stderr.strip()}")


def _names(netns: str) -> set[str]:
    """Interface names in a lab namespace (empty when it does not exist)."""
    from kubedtn.dataplane import NetlinkDataplane  # only with simulated nodes: plain labs skip the engine

    path = netns_path(netns)
    return {i.name for i in NetlinkDataplane().read(path)} if namespace_exists(path) else set()


def build(fabric: str, nodes: Sequence[NodeRecord], subnet: str) -> list[NodeRecord]:
    """Makes what is missing of the fabric and the nodes (a ``lab up`` stopped half-way is
    completed); the nodes it wired."""
    prefix = ipaddress.ip_network(subnet).prefixlen
    have = set(os.listdir(RUN_NETNS)) if os.path.isdir(RUN_NETNS) else set()
    made = [ns for ns in (fabric, *(n.netns for n in nodes)) if ns not in have]
    create_namespaces(made, loopback_up=True)
    ports = _names(fabric)
    new_bridge = FABRIC_BRIDGE not in ports
    # A node without its underlay interface is (re)wired (a stray fabric port of the same
    # name is removed first).
    new = [n for n in nodes if NODE_UNDERLAY not in _names(n.netns)]
    stray = [fabric_port(n.index) for n in new if fabric_port(n.index) in ports]
    _ip_batch([f"link del {port}" for port in stray], netns=fabric)
    _ip_batch(
        ([f"link add {FABRIC_BRIDGE} netns {fabric} type bridge"] if new_bridge else [])
        + [
            f"link add {fabric_port(n.index)} netns {fabric} type veth "
            f"peer name {NODE_UNDERLAY} netns {n.netns}"
            for n in new
        ]
    )
    _ip_batch(
        ([f"link set {FABRIC_BRIDGE} up"] if new_bridge else [])
        + [f"link set {fabric_port(n.index)} master {FABRIC_BRIDGE} up" for n in new],
        netns=fabric,
    )
    for n in new:
        _ip_batch(
            [f"addr add {n.ip}/{prefix} dev {NODE_UNDERLAY}", f"link set {NODE_UNDERLAY} up"], netns=n.netns
        )
    return new


def remove(fabric: str, nodes: Sequence[NodeRecord]) -> None:
    """Deletes the node namespaces and the fabric (their interfaces go with them)."""
    delete_namespaces([n.netns for n in nodes] + ([fabric] if fabric else []))
