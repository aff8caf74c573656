"""The underlay of simulated nodes: node namespaces wired to a bridge in a fabric namespace.

::

    LAB+fabric:  br0 ── n0 ─┐  n1 ─┐  ...
    LAB+n-node1:  eth0 ─────┘ (172.30.0.1/24)
    LAB+n-node2:  eth0 ───────────┘ (172.30.0.2/24)

Built with ``ip -batch`` (bridges are no part of the dataplane, which only makes links
of pods): one process in the host namespace creates the veths straight into their
namespaces, one in the fabric enslaves them, one per node sets its address. Only what
is missing is made, so ``lab up`` can run again; removing the namespaces removes all.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from collections.abc import Sequence

from kubedtn.dataplane import create_namespaces, delete_namespaces
from kubedtn.errors import KubedtnError
from kubedtn.lab.loopback import loopback_up
from kubedtn.lab.names import RUN_NETNS
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


def build(fabric: str, nodes: Sequence[NodeRecord], subnet: str) -> list[NodeRecord]:
    """Makes the fabric and the nodes that do not exist yet; the nodes it made."""
    prefix = ipaddress.ip_network(subnet).prefixlen
    have = set(os.listdir(RUN_NETNS)) if os.path.isdir(RUN_NETNS) else set()
    new_fabric = fabric not in have
    new = [n for n in nodes if n.netns not in have]
    made = [fabric] if new_fabric else []
    made += [n.netns for n in new]
    loopback_up(create_namespaces(made))
    _ip_batch(
        ([f"link add {FABRIC_BRIDGE} netns {fabric} type bridge"] if new_fabric else [])
        + [
            f"link add {fabric_port(n.index)} netns {fabric} type veth "
            f"peer name {NODE_UNDERLAY} netns {n.netns}"
            for n in new
        ]
    )
    _ip_batch(
        ([f"link set {FABRIC_BRIDGE} up"] if new_fabric else [])
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
