"""A lab with the TCP/IP bypass: programs started with ``lab exec`` run in the lab's cgroup;
TCP between two lab pods over a link without properties skips the stack, over a link
with a rate it does not and the rate holds. ``lab down`` leaves no cgroup or pin (the
lab fixture checks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubedtn.ebpf.bypass import Bypass
from kubedtn.lab import bypass as labbypass
from kubedtn.lab import state
from kubedtn.model.documents import dump_yaml
from tests.integration.daemon.topologies import topology
from tests.support import bpfcheck
from tests.support.lab import LabEnv, kubedtn
from tests.support.netns import sh, wait_until
from tests.support.topologies import link

pytestmark = pytest.mark.root

RATE_BPS = 50_000_000
VOLUME = 50 * 2**20
WRITE = 64 * 2**10
# A transfer through the stack sends ~36,000 segments for VOLUME; the handshakes, iperf3's
# control connection and the FINs are a few dozen.
FLAT = 500


def two_links(tmp_path: Path) -> Path:
    """r1 and r2 joined twice: eth1 without properties, eth2 with a rate on r1's end."""
    objects = [
        topology(
            "r1",
            [
                link(1, "r2", "eth1", "eth1", ip="10.61.1.1/24", peer_ip="10.61.1.2/24"),
                link(2, "r2", "eth2", "eth2", ip="10.61.2.1/24", peer_ip="10.61.2.2/24", rate="50Mbit"),
            ],
        ),
        topology(
            "r2",
            [
                link(1, "r1", "eth1", "eth1", ip="10.61.1.2/24", peer_ip="10.61.1.1/24"),
                link(2, "r1", "eth2", "eth2", ip="10.61.2.2/24", peer_ip="10.61.2.1/24"),
            ],
        ),
    ]
    path = tmp_path / "two-links.yaml"
    path.write_text(dump_yaml(objects))
    return path


def exec_in(lab: LabEnv, pod: str, *argv: str) -> subprocess.Popen[str]:
    """``kubedtn lab exec POD -- ARGV`` in the background (it joins the lab's cgroup)."""
    return subprocess.Popen(
        [sys.executable, "-m", "kubedtn", "lab", "exec", "--name", lab.name, pod, "--", *argv],
        env={**os.environ, **lab.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def link_stats(ns: str, dev: str) -> tuple[int, int]:
    """(packets sent + received, bytes sent) of an interface."""
    stats = json.loads(sh(ns, "ip", "-s", "-j", "link", "show", "dev", dev))[0]["stats64"]
    return int(stats["tx"]["packets"]) + int(stats["rx"]["packets"]), int(stats["tx"]["bytes"])


def listening(ns: str, port: int) -> bool:
    return f":{port} " in sh(None, "ip", "netns", "exec", ns, "ss", "-Hltn")


def test_a_link_without_properties_is_bypassed_and_one_with_a_rate_is_not(
    lab: LabEnv, tmp_path: Path
) -> None:
    up = kubedtn(
        lab, "lab", "up", "--name", lab.name, "--no-progress", "--tcpip-bypass", str(two_links(tmp_path))
    )
    assert up.returncode == 0, up.stderr
    record = state.load(lab.paths)
    assert record is not None and record.bypass == labbypass.places(lab.name)
    cgroup, pin_dir = Path(record.bypass.cgroup), Path(record.bypass.pin_dir)
    assert list(bpfcheck.cgroup_programs(cgroup).values()) == ["kubedtn_sockops"]
    shown = kubedtn(lab, "lab", "status", "--name", lab.name, check=True).stdout
    assert f"TCP/IP bypass: for programs run with lab exec (cgroup {cgroup}, pins {pin_dir})" in shown
    r1, r2 = lab.netns("r1"), lab.netns("r2")
    assert bpfcheck.egress_programs(r1, "eth2") and not bpfcheck.egress_programs(r1, "eth1")

    counters = Bypass(pin_dir=pin_dir, cgroup=cgroup)
    try:
        # eth1: no properties. The bytes reach r2 while the veth and TCP counters stay flat.
        before, _ = link_stats(r1, "eth1")
        redirected = counters.counters()["redirected"]
        server = exec_in(lab, "r2", "iperf3", "-s", "-1", "-p", "5401")
        wait_until(lambda: listening(r2, 5401), what="iperf3 listening in r2")
        client = exec_in(
            lab,
            "r1",
            "iperf3",
            "-c",
            "10.61.1.2",
            "-p",
            "5401",
            "-n",
            str(VOLUME),
            "-l",
            str(WRITE),
            "--json",
        )
        out, err = client.communicate(timeout=120)
        server.communicate(timeout=30)
        assert client.returncode == 0, err
        assert json.loads(out)["end"]["sum_sent"]["bytes"] >= VOLUME
        after, _ = link_stats(r1, "eth1")
        assert after - before < FLAT
        assert counters.counters()["redirected"] - redirected >= VOLUME // WRITE

        # eth2: a rate of 50 Mbit/s on r1's end. Never redirected, and tbf paces it.
        redirected = counters.counters()["redirected"]
        marked = counters.counters()["marked"]
        server = exec_in(lab, "r2", "iperf3", "-s", "-1", "-p", "5402")
        wait_until(lambda: listening(r2, 5402), what="iperf3 listening in r2")
        client = exec_in(lab, "r1", "iperf3", "-c", "10.61.2.2", "-p", "5402", "-t", "6", "--json")
        # Once 2 MiB went, tbf's bucket (a hundredth of a second's worth) is long spent: the
        # rate on the wire (frames as tbf counts them) over a window inside the transfer.
        wait_until(lambda: link_stats(r1, "eth2")[1] > 2 * 2**20, what="traffic on r1/eth2")
        t0, (_, b0) = time.monotonic(), link_stats(r1, "eth2")
        time.sleep(3.0)  # (the measurement window, not a wait for something)
        t1, (_, b1) = time.monotonic(), link_stats(r1, "eth2")
        out, err = client.communicate(timeout=60)
        server.communicate(timeout=30)
        assert client.returncode == 0, err
        rate = (b1 - b0) * 8 / (t1 - t0)
        assert abs(rate - RATE_BPS) <= 0.05 * RATE_BPS, f"{rate / 1e6:.1f} Mbit/s on a 50 Mbit/s link"
        assert counters.counters()["redirected"] == redirected
        assert counters.counters()["marked"] > marked
    finally:
        counters.close()

    down = kubedtn(lab, "lab", "down", "--name", lab.name)
    assert down.returncode == 0, down.stderr
    assert bpfcheck.cgroup_programs(cgroup) == {} and not cgroup.exists()
    assert bpfcheck.pins(pin_dir) == []
