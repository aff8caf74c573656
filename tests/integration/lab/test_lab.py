"""`kubedtn lab` as a user runs it (``python -m kubedtn``), on real namespaces with a real daemon.

Every test has its own lab (see conftest.py) and checks that `lab down` leaves nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubedtn.dataplane import NetlinkDataplane, namespace_exists
from kubedtn.lab import daemonproc, state
from kubedtn.lab.generate import mesh
from kubedtn.model.documents import dump_yaml
from kubedtn.store import open_store
from tests.support.lab import LabEnv, ifindexes, kubedtn, veth_aliases
from tests.support.netns import qdiscs, udp_echo
from tests.support.topologies import link

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parents[3]
KUBE_DTN_3NODE = REPO / "examples" / "kube-dtn" / "3node.yml"
THREE_NODE = REPO / "examples" / "3node.yaml"

# kube-dtn's 3node.yml, link by link: (pod, ip) of each end.
KUBE_DTN_LINKS = [
    (("r1", "12.12.12.1"), ("r2", "12.12.12.2")),
    (("r1", "13.13.13.1"), ("r3", "13.13.13.3")),
    (("r2", "23.23.23.2"), ("r3", "23.23.23.3")),
]


def _traffic_on_every_link(lab: LabEnv) -> None:
    for (a, a_ip), (b, b_ip) in KUBE_DTN_LINKS:
        got = udp_echo(client_ns=lab.netns(a), client_ip=a_ip, server_ns=lab.netns(b), server_ip=b_ip)
        assert got == 3, f"{a} {a_ip} -> {b} {b_ip}: {got} of 3 echoes"


def _link_state(table: str, uid: int) -> str:
    """The STATE column of a link in the links table (UID ENDS(3 words) STATE ...)."""
    row = next(line.split() for line in table.splitlines() if line.split()[:1] == [str(uid)])
    return row[4]


def _store_rows(lab: LabEnv) -> list[dict[str, object]]:
    with open_store(lab.paths.store) as store:  # type: ignore[attr-defined]
        items, _ = store.list()
    rows: list[dict[str, object]] = items
    return rows


def test_kube_dtn_3node_unchanged_carries_traffic_on_every_link(lab: LabEnv) -> None:
    up = kubedtn(lab, "lab", "up", "--name", lab.name, str(KUBE_DTN_3NODE), check=True)
    assert lab.namespaces() == [lab.netns("r1"), lab.netns("r2"), lab.netns("r3")]
    lab.note_daemon()
    lines = up.stdout.splitlines()
    assert lines[0].split() == ["POD", "NETNS", "NODE", "ALIVE", "LINKS"]
    assert lines[1].split() == ["r1", lab.netns("r1"), "127.0.0.1", "yes", "2"]
    assert [_link_state(up.stdout, uid) for uid in (1, 2, 3)] == ["up"] * 3
    _traffic_on_every_link(lab)
    # lo is up in every pod, as a runtime leaves it: a pod reaches its own addresses
    assert (
        udp_echo(
            client_ns=lab.netns("r1"),
            client_ip="12.12.12.1",
            server_ns=lab.netns("r1"),
            server_ip="13.13.13.1",
        )
        == 3
    )

    status = kubedtn(lab, "lab", "status", "--name", lab.name, check=True)
    assert "started by the lab" in status.stdout
    assert [_link_state(status.stdout, uid) for uid in (1, 2, 3)] == ["up"] * 3


def test_up_twice_converges_to_the_same_interfaces(lab: LabEnv) -> None:
    kubedtn(lab, "lab", "up", "--name", lab.name, "--no-progress", str(KUBE_DTN_3NODE), check=True)
    before = {pod: ifindexes(lab.netns(pod)) for pod in ("r1", "r2", "r3")}
    pid = lab.note_daemon()
    rows = {r["metadata"]["name"]: r["metadata"]["resourceVersion"] for r in _store_rows(lab)}  # type: ignore[index]

    again = kubedtn(lab, "lab", "up", "--name", lab.name, str(KUBE_DTN_3NODE), check=True)
    # not a terminal: the progress comes as plain lines
    assert f"lab {lab.name}: namespaces — created 0, kept 3" in again.stderr
    assert f"lab {lab.name}: store — created 0, updated 0, unchanged 3" in again.stderr
    assert f"lab {lab.name}: daemon — running, pid {pid}" in again.stderr
    assert {pod: ifindexes(lab.netns(pod)) for pod in ("r1", "r2", "r3")} == before
    assert lab.note_daemon() == pid  # the same daemon, not a second one
    after = {r["metadata"]["name"]: r["metadata"]["resourceVersion"] for r in _store_rows(lab)}  # type: ignore[index]
    assert set(after) == set(rows) == {"r1", "r2", "r3"}
    _traffic_on_every_link(lab)


def test_link_set_changes_the_rate_in_place(lab: LabEnv) -> None:
    kubedtn(lab, "lab", "up", "--name", lab.name, "--no-progress", str(THREE_NODE))
    r1 = lab.netns("r1")
    index = ifindexes(r1)["eth2"]
    (root,) = [q for q in qdiscs(r1, "eth2") if q.get("root")]
    assert root["kind"] == "tbf"

    out = kubedtn(lab, "link", "set", "r1", "eth2", "--rate", "50mbit", check=True)
    assert out.stdout.strip() == "r1/eth2 (link 2): rate 100Mbit/s -> rate 50Mbit/s"
    (root,) = [q for q in qdiscs(r1, "eth2") if q.get("root")]
    assert root["kind"] == "tbf" and root["options"]["rate"] == 50_000_000 // 8
    assert ifindexes(r1)["eth2"] == index  # changed in place
    with open_store(lab.paths.store) as store:  # type: ignore[attr-defined]
        spec = store.get("default", "r1")["spec"]["links"][1]
        far = store.get("default", "r3")["spec"]["links"][0]
    assert spec["properties"] == {"rate": "50Mbit"}
    assert far["properties"] == {"rate": "100Mbit"}  # the other end's egress is its own

    both = kubedtn(lab, "link", "set", "--both", "r1", "eth2", "--rate", "20mbit", check=True)
    assert both.stdout.splitlines()[1] == "r3/eth1 (link 2): rate 100Mbit/s -> rate 20Mbit/s"
    (far_root,) = [q for q in qdiscs(lab.netns("r3"), "eth1") if q.get("root")]
    assert far_root["options"]["rate"] == 20_000_000 // 8

    bad = kubedtn(lab, "link", "set", "r1", "eth2", "--rate", "fast", "--loss", "200")
    assert bad.returncode == 1
    assert 'default/r1: spec.links[1].properties.rate: "fast" is not a rate' in bad.stderr
    assert 'default/r1: spec.links[1].properties.loss: "200" is not a percentage' in bad.stderr
    about_link = [line for line in bad.stderr.splitlines() if "spec.links[1]" in line]
    assert len(about_link) == 2 and all(line.endswith(" (uid 2)") for line in about_link)
    with open_store(lab.paths.store) as store:  # type: ignore[attr-defined]
        assert store.get("default", "r1")["spec"]["links"][1]["properties"] == {"rate": "20Mbit"}
    unknown = kubedtn(lab, "link", "set", "r1", "eth9", "--rate", "1mbit")
    assert unknown.returncode == 1 and "has no link on interface eth9" in unknown.stderr


def test_bad_input_is_refused_and_nothing_is_created(lab: LabEnv, tmp_path: Path) -> None:
    objects = mesh(3, 3)
    objects[1]["spec"]["links"][0]["local_ip"] = "10.0.0.300/30"
    objects[2]["spec"]["links"][0]["properties"] = {"latency": "soon"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(dump_yaml(objects))
    out = kubedtn(lab, "lab", "up", "--name", lab.name, str(bad))
    assert out.returncode == 1
    assert 'default/p1: spec.links[0].local_ip: "10.0.0.300/30"' in out.stderr
    assert 'default/p2: spec.links[0].properties.latency: "soon" is not a duration' in out.stderr
    assert "nothing was created" in out.stderr
    assert lab.leftovers() == []


def test_a_namespace_that_is_not_ours_is_refused(lab: LabEnv) -> None:
    foreign = lab.netns("r2")
    subprocess.run(["ip", "netns", "add", foreign], check=True)
    try:
        out = kubedtn(lab, "lab", "up", "--name", lab.name, str(KUBE_DTN_3NODE))
        assert out.returncode == 1
        assert f"default/r2: network namespace {foreign} exists and is not lab {lab.name}'s" in out.stderr
        assert lab.namespaces() == [foreign]
        assert not lab.paths.state_dir.exists()
    finally:
        subprocess.run(["ip", "netns", "del", foreign], check=True)


def test_down_leaves_nothing_behind_and_is_idempotent(lab: LabEnv) -> None:
    kubedtn(lab, "lab", "up", "--name", lab.name, "--no-progress", str(KUBE_DTN_3NODE), check=True)
    pid = lab.note_daemon()
    assert pid is not None and daemonproc.process_alive(pid)
    down = kubedtn(lab, "lab", "down", "--name", lab.name, check=True)
    assert "removed 3 pods, 3 store objects" in down.stdout and "the daemon" in down.stdout
    assert lab.leftovers() == []  # namespaces, daemon, store and record (in the lab dir), bridge
    again = kubedtn(lab, "lab", "down", "--name", lab.name, check=True)
    assert "not up; nothing to do" in again.stdout


def test_via_cni_gives_eth0_from_the_bridge_and_the_links(lab: LabEnv) -> None:
    up = kubedtn(
        lab, "lab", "up", "--via-cni", "--subnet", "10.251.0.0/24", "--name", lab.name, str(KUBE_DTN_3NODE)
    )
    assert up.returncode == 0, up.stderr
    lab.note_daemon()
    record = state.load(lab.paths)
    assert record is not None and record.cni is not None and record.cni.bridge == f"kdtn-{lab.name}"
    eth0 = {}
    for pod in ("r1", "r2", "r3"):
        out = subprocess.run(
            ["ip", "-j", "-n", lab.netns(pod), "-4", "addr", "show", "dev", "eth0"],
            capture_output=True,
            text=True,
            check=True,
        )
        (info,) = json.loads(out.stdout)
        eth0[pod] = info["addr_info"][0]["local"]
        assert eth0[pod].startswith("10.251.0.")
    assert (
        udp_echo(
            client_ns=lab.netns("r1"), client_ip=eth0["r1"], server_ns=lab.netns("r3"), server_ip=eth0["r3"]
        )
        == 3
    )
    _traffic_on_every_link(lab)
    # the kubedtn plugin ran as a CNI plugin: its log is in the lab's CNI directory
    assert (lab.paths.cni_dir / "results").is_dir()


def test_sigkill_of_the_daemon_halfway_through_50_pods(lab: LabEnv, tmp_path: Path) -> None:
    pods, links = 50, 100
    topology = tmp_path / "mesh.yaml"
    topology.write_text(dump_yaml(mesh(pods, links)))
    env_argv = ["lab", "up", "--name", lab.name, "--no-progress", str(topology)]
    first = subprocess.Popen(
        [sys.executable, "-m", "kubedtn", *env_argv],
        env={**os.environ, **lab.env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = None
    # The daemon is killed as soon as the first link appears in the kernel: it is then in
    # the middle of its one apply (creating the links, or configuring them).
    dataplane = NetlinkDataplane()
    watched = [f"/run/netns/{lab.netns(f'p{i}')}" for i in range(pods)]
    try:
        deadline = time.monotonic() + 120
        while killed is None and first.poll() is None and time.monotonic() < deadline:
            pid = daemonproc.running_pid(lab.paths)
            if pid is not None and any(
                namespace_exists(ns) and any(i.name != "lo" for i in dataplane.read(ns)) for ns in watched
            ):
                os.kill(pid, signal.SIGKILL)
                killed = pid
                lab.daemon_pids.add(pid)
        first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert killed is not None, "the daemon finished before any link was seen; nothing was killed"
    assert first.returncode != 0  # it lost its daemon mid-way and says so
    plumbed = sum(len(veth_aliases(lab.netns(f"p{i}"))) for i in range(pods))
    assert plumbed < 2 * links, "the kill came after every link was plumbed: not half-way"

    again = kubedtn(lab, *env_argv)
    assert again.returncode == 0, again.stderr
    lab.note_daemon()
    seen: dict[str, int] = {}
    for i in range(pods):
        aliases = veth_aliases(lab.netns(f"p{i}"))
        assert len(aliases) == 2 * links // pods, f"p{i}: {aliases}"
        for alias in aliases:
            seen[alias] = seen.get(alias, 0) + 1
    assert len(seen) == links and set(seen.values()) == {2}  # every link once, both of its ends


def _topology(name: str, namespace: str, *links: dict[str, object]) -> dict[str, object]:
    return {
        "apiVersion": "kubedtn.io/v1",
        "kind": "Topology",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"links": list(links)},
    }


def test_a_bare_pod_name_finds_its_kubernetes_namespace(lab: LabEnv, tmp_path: Path) -> None:
    # team/r1 - team/r2 (uid 1) and default/r1 - default/r3 (uid 2): r2 is only in team, r1 in both
    a, b = "10.1.0.1/24", "10.1.0.2/24"
    c, d = "10.2.0.1/24", "10.2.0.3/24"
    objects = [
        _topology("r1", "team", link(1, "r2", ip=a, peer_ip=b)),
        _topology("r2", "team", link(1, "r1", ip=b, peer_ip=a)),
        _topology("r1", "default", link(2, "r3", ip=c, peer_ip=d)),
        _topology("r3", "default", link(2, "r1", ip=d, peer_ip=c)),
    ]
    path = tmp_path / "two-namespaces.yaml"
    path.write_text(dump_yaml(objects))
    kubedtn(lab, "lab", "up", "--name", lab.name, "--no-progress", str(path), check=True)

    shown = kubedtn(lab, "lab", "exec", "r2", "--", "ip", "-o", "addr", "show", "dev", "eth1", check=True)
    assert "10.1.0.2/24" in shown.stdout  # team/r2's namespace, without saying "team/"
    out = kubedtn(lab, "link", "set", "r2", "eth1", "--rate", "10mbit", check=True)
    assert out.stdout.startswith("team/r2/eth1 (link 1): ")
    (root,) = [q for q in qdiscs(f"{lab.name}-team_r2", "eth1") if q.get("root")]
    assert root["kind"] == "tbf" and root["options"]["rate"] == 10_000_000 // 8

    both = kubedtn(lab, "lab", "exec", "r1", "--", "true")
    assert both.returncode == 1
    assert (
        f"pod r1 is ambiguous (lab {lab.name} has default/r1 and team/r1): give NAMESPACE/r1" in both.stderr
    )
    team = kubedtn(lab, "lab", "exec", "team/r1", "--", "ip", "-o", "addr", "show", "dev", "eth1", check=True)
    assert "10.1.0.1/24" in team.stdout


def test_down_with_the_file_takes_down_the_lab_brought_up_from_it(lab: LabEnv) -> None:
    kubedtn(lab, "lab", "up", "--name", lab.name, "--no-progress", str(KUBE_DTN_3NODE), check=True)
    lab.note_daemon()
    down = kubedtn(lab, "lab", "down", "--no-progress", str(KUBE_DTN_3NODE), check=True)
    assert f"lab {lab.name}: removed 3 pods, 3 store objects" in down.stdout
    assert lab.leftovers() == []
    again = kubedtn(lab, "lab", "down", str(KUBE_DTN_3NODE), check=True)
    assert again.stdout.strip() == f"{KUBE_DTN_3NODE}: no lab is up from it; nothing to do"
