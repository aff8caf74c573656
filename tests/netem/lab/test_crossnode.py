"""Netem properties on cross-node links (simulated nodes): both ends, as on veth."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.lab import LabEnv, kubedtn
from tests.support.simnodes import node_daemon_pids, vxlan_ends

pytestmark = [pytest.mark.root, pytest.mark.netem]

LATENCY = Path(__file__).resolve().parents[3] / "examples" / "kube-dtn" / "latency.yaml"


def netem_delays_ms(netns: str, dev: str) -> list[float]:
    out = subprocess.run(
        ["tc", "-j", "-n", netns, "qdisc", "show", "dev", dev], capture_output=True, text=True, check=True
    )
    return [
        round(float(q["options"]["delay"]["delay"]) * 1000, 3)
        for q in json.loads(out.stdout or "[]")
        if q["kind"] == "netem" and "delay" in q.get("options", {})
    ]


def test_latency_yaml_on_its_nodes_applies_netem_on_both_ends_of_the_cross_node_link(lab: LabEnv) -> None:
    # kube-dtn's latency.yaml: r1, r2 on node "ubuntu", r3 on "worker" (spec.nodeName);
    # link 3 (r2/eth2 <-> r3/eth2, 50ms each way) crosses nodes, link 1 (10ms) does not.
    up = kubedtn(lab, "lab", "up", "--name", lab.name, "--no-progress", str(LATENCY))
    node_daemon_pids(lab)
    assert up.returncode == 0, up.stderr
    assert "eth2" in vxlan_ends(lab.netns("r2")) and "eth2" in vxlan_ends(lab.netns("r3"))
    assert netem_delays_ms(lab.netns("r2"), "eth2") == [50.0]
    assert netem_delays_ms(lab.netns("r3"), "eth2") == [50.0]
    assert "eth1" not in vxlan_ends(lab.netns("r1"))  # same node: a veth pair
    assert netem_delays_ms(lab.netns("r1"), "eth1") == [10.0]
