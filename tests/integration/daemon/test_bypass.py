"""The daemon's TCP/IP bypass on the host kernel, in a cgroup and a pin directory made for
each test: attached at start, reused after a restart, removed when switched off; link
ends with properties (or opted out) marked and unmarked; its counters as metrics; a
bypass that cannot be loaded leaves the daemon serving.

bpftool is the independent reading of what is attached and pinned (tests.support.bpfcheck).
"""

from __future__ import annotations

import contextlib
import json
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedtn.ebpf.bypass import MARKER, SOCKOPS, Bypass
from kubedtn.ebpf.pins import PinLayout
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from tests.integration.daemon.topologies import load, pair, topology
from tests.support import bypasslab
from tests.support.bpfcheck import cgroup_programs, egress_programs, pinned_program_id, pins
from tests.support.daemon import DaemonHandle, running_daemon
from tests.support.netns import NamespacePool, path, sh, wait_until
from tests.support.topologies import link

pytestmark = pytest.mark.root


@pytest.fixture
def places() -> Iterator[tuple[Path, Path]]:
    """(cgroup, pin dir) of the test; whatever the daemon left attached or pinned there
    is removed after, also when the test failed."""
    with bypasslab.test_cgroup() as cgroup, bypasslab.test_pin_dir() as pin_dir:
        try:
            yield cgroup, pin_dir
        finally:
            leftover = Bypass(pin_dir=pin_dir, cgroup=cgroup)
            leftover.disable()
            leftover.close()


def bypass_args(places: tuple[Path, Path], *, on: bool = True) -> list[str]:
    cgroup, pin_dir = places
    switch = "--tcpip-bypass" if on else "--no-tcpip-bypass"
    return [switch, "--bypass-cgroup", str(cgroup), "--bypass-pin-dir", str(pin_dir)]


def bypass_job(d: DaemonHandle) -> pb.JobHealth | None:
    """The job "bypass" of the daemon's Status (None: not listed, the bypass is off)."""
    status = d.local().Status(pb.StatusQuery(), timeout=10)
    jobs: list[pb.JobHealth] = [j for j in status.jobs if j.name == "bypass"]
    assert len(jobs) <= 1
    return jobs[0] if jobs else None


def up(d: DaemonHandle, pool: NamespacePool, objects: list[dict[str, object]]) -> dict[str, str]:
    """The pods of objects stored and set up, each in a new namespace: pod -> namespace."""
    with d.store() as store:
        load(store, objects)
    names = [str(o["metadata"]["name"]) for o in objects]  # type: ignore[index]
    spaces = dict(zip(names, pool.make(len(names)), strict=True))
    for name, ns in spaces.items():
        reply = d.local().SetupPod(
            pb.SetupPodQuery(name=name, kube_ns="default", net_ns=path(ns)), timeout=30
        )
        assert reply.response is True, name
    return spaces


@contextlib.contextmanager
def traffic(cgroup: Path, a: str, b: str) -> Iterator[bypasslab.Pair]:
    """Processes in namespaces a and b, in the test's cgroup; stopped after."""
    flow = bypasslab.Pair(cgroup=cgroup, a=a, b=b)
    try:
        yield flow
    finally:
        flow.stop()


def tx_bytes(ns: str, dev: str) -> int:
    shown = json.loads(sh(ns, "ip", "-s", "-j", "link", "show", "dev", dev))
    return int(shown[0]["stats64"]["tx"]["bytes"])


def scrape(d: DaemonHandle, name: str) -> float:
    text = urllib.request.urlopen(d.metrics_url, timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the scrape")


def test_start_attaches_a_restart_reuses_the_pins_and_off_removes_everything(
    places: tuple[Path, Path], pool: NamespacePool
) -> None:
    cgroup, pin_dir = places
    layout = PinLayout(pin_dir)
    with running_daemon(extra_args=bypass_args(places)) as d:
        attached = cgroup_programs(cgroup)
        assert list(attached.values()) == [SOCKOPS]
        assert pinned_program_id(layout.program_path(SOCKOPS)) in attached
        marker = pinned_program_id(layout.program_path(MARKER))
        job = bypass_job(d)
        assert job is not None and job.state == "ok"
        assert scrape(d, "kubedtn_bypass_enabled") == 1
        spaces = up(d, pool, pair(rate="100Mbit"))
        assert list(egress_programs(spaces["r1"], "eth1")) == [marker]

        assert d.kill(signal.SIGTERM) == 0
        assert cgroup_programs(cgroup) == attached  # still attached without a daemon
        d.start()
        assert cgroup_programs(cgroup) == attached  # the same programs: the pins were reused
        assert pinned_program_id(layout.program_path(MARKER)) == marker
        assert list(egress_programs(spaces["r1"], "eth1")) == [marker]

        assert d.kill(signal.SIGTERM) == 0
        d.extra_args = tuple(bypass_args(places, on=False))
        d.start()
        assert cgroup_programs(cgroup) == {}
        assert pins(pin_dir) == []
        # the start-up reconcile took the marker off the link end that still has properties
        assert egress_programs(spaces["r1"], "eth1") == {}
        assert bypass_job(d) is None
        assert scrape(d, "kubedtn_bypass_enabled") == 0


def test_link_ends_are_marked_while_they_have_properties_or_opted_out(
    places: tuple[Path, Path], pool: NamespacePool
) -> None:
    _, pin_dir = places
    v4 = ("10.0.1.1/24", "10.0.1.2/24")
    objects = [
        topology(
            "r1",
            [
                link(1, "r2", "eth1", "eth1", ip=v4[0], peer_ip=v4[1], rate="50Mbit"),
                {**link(2, "r2", "eth2", "eth2", ip="10.0.2.1/24", peer_ip="10.0.2.2/24"), "bypass": False},
            ],
        ),
        topology(
            "r2",
            [
                link(1, "r1", "eth1", "eth1", ip=v4[1], peer_ip=v4[0]),
                {**link(2, "r1", "eth2", "eth2", ip="10.0.2.2/24", peer_ip="10.0.2.1/24"), "bypass": False},
            ],
        ),
    ]
    with running_daemon(extra_args=bypass_args(places)) as d:
        marker = pinned_program_id(PinLayout(pin_dir).program_path(MARKER))
        spaces = up(d, pool, objects)
        r1, r2 = spaces["r1"], spaces["r2"]
        assert list(egress_programs(r1, "eth1")) == [marker]  # rate on r1's end
        assert egress_programs(r2, "eth1") == {}  # r2's end of the same link has none
        assert list(egress_programs(r1, "eth2")) == [marker]  # bypass: false, both ends
        assert list(egress_programs(r2, "eth2")) == [marker]

        # Properties edited to none while TCP flows over the link: the marker goes, the
        # flow goes on.
        with traffic(places[0], r2, r1) as flow:
            server = flow.spawn(r1, ["iperf3", "-s", "-1", "-p", "5301"])
            flow.wait_listening(r1, 5301)
            client = flow.spawn(r2, ["iperf3", "-c", "10.0.1.1", "-p", "5301", "-t", "3", "-R", "--json"])
            wait_until(lambda: tx_bytes(r1, "eth1") > 1_000_000, what="traffic on r1/eth1")
            updated = pb.LinksBatchQuery(
                local_pod=pb.Pod(name="r1", kube_ns="default", net_ns=path(r1)),
                links=[
                    pb.Link(
                        uid=1,
                        peer_pod="r2",
                        local_intf="eth1",
                        peer_intf="eth1",
                        local_ip=v4[0],
                        peer_ip=v4[1],
                    )
                ],
            )
            assert d.local().UpdateLinks(updated, timeout=30).response is True
            assert egress_programs(r1, "eth1") == {}
            client.communicate(timeout=60)
            server.communicate(timeout=30)
            assert client.returncode == 0 and server.returncode == 0

        # An opted-out link keeps its marker without properties, through UpdateLinks too.
        updated = pb.LinksBatchQuery(
            local_pod=pb.Pod(name="r1", kube_ns="default", net_ns=path(r1)),
            links=[
                pb.Link(
                    uid=2,
                    peer_pod="r2",
                    local_intf="eth2",
                    peer_intf="eth2",
                    local_ip="10.0.2.1/24",
                    peer_ip="10.0.2.2/24",
                    no_bypass=True,
                )
            ],
        )
        assert d.local().UpdateLinks(updated, timeout=30).response is True
        assert list(egress_programs(r1, "eth2")) == [marker]


def test_the_counters_are_metrics_and_rise_when_traffic_is_redirected(
    places: tuple[Path, Path], pool: NamespacePool
) -> None:
    cgroup, _ = places
    with running_daemon(extra_args=bypass_args(places)) as d:
        spaces = up(d, pool, pair(rate=None))
        before = scrape(d, "kubedtn_bypass_redirected_total")
        with traffic(cgroup, spaces["r1"], spaces["r2"]) as flow:
            report = flow.iperf3("10.0.1.2", argv=["-n", str(20 * 2**20), "-l", str(64 * 2**10)])
        assert report["end"]["sum_sent"]["bytes"] >= 20 * 2**20
        # at least one redirect per write of 64 KiB
        assert scrape(d, "kubedtn_bypass_redirected_total") >= before + 20 * 2**20 // (64 * 2**10)
        assert scrape(d, "kubedtn_bypass_passed_total") >= 0
        assert scrape(d, "kubedtn_bypass_marked_total") == 0  # no link with properties


def test_a_bypass_that_cannot_be_loaded_leaves_the_daemon_serving(
    tmp_path: Path, pool: NamespacePool
) -> None:
    missing = tmp_path / "no-such-cgroup"
    pin_dir = bypasslab.BPFFS / bypasslab.unique()
    args = ["--tcpip-bypass", "--bypass-cgroup", str(missing), "--bypass-pin-dir", str(pin_dir)]
    try:
        with running_daemon(extra_args=args) as d:
            job = bypass_job(d)
            assert job is not None and job.state == "failing" and job.failures == 1
            # the loader's words name the cgroup and what it needs
            assert job.last_error.startswith(
                f"cannot load the TCP/IP bypass (pin_dir {pin_dir}, cgroup {missing}): "
            )
            assert f"cgroup {missing} " in job.last_error.split("): ", 1)[1] and "cgroup v2" in job.last_error
            assert "TCP/IP bypass cannot be loaded; continuing without it" in d.log()
            assert scrape(d, "kubedtn_bypass_enabled") == 0
            up(d, pool, pair())  # pods come up as without the bypass
    finally:
        Bypass(pin_dir=pin_dir, cgroup=missing).disable()
