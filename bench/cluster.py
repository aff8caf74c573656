"""The cluster path through the API server double (tests/support/kubeapi).

``topo-apply``: ``dist/kubedtn topo apply -f mesh.yaml`` of 200 pods / 1000 links into the
API, then what the node does for the pods (their namespaces made, as the runtime makes
them; one SetupPods for all of them on the daemon's socket, what their CNI ADDs ask),
until every Topology in the API says Ready: against ``dist/kubedtn lab up`` of the same
file with its daemon running, in the same run (goal: at least 0.7 of lab up's links/s).
The daemon is the built executable on ``--backend kubernetes``, running before the clock
starts, as it runs on a node before anyone applies a topology.

``cr-edit``: a link's rate edited in its Topology (a PUT to the API, as ``kubectl edit``
or ``kubectl patch`` makes) until the kernel's tbf qdisc on that link has the new rate,
100 edits, p50 and p99 (goal: p50 <= 100 ms, p99 <= 500 ms). The daemon is the built
executable on ``--backend kubernetes``; the edit travels API → watch → the daemon's cache
→ its follower → UpdateLinks → netlink. The baseline is the same change asked of the same
daemon directly (``UpdateLinks`` on its unix socket), timed the same way. (The baseline
waits for its RPC's answer, which comes after the daemon has also written the status; the
API path is seen in the kernel as soon as the qdisc changes, before that write.)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import Context, Result, Skip, benchmark
from bench.dataplane import settle
from bench.lab import LINKS, PODS, _Ours
from kubedtn.dataplane import NetlinkDataplane, create_namespaces, delete_namespaces
from kubedtn.lab.client import LabDaemonClient
from kubedtn.lab.generate import mesh
from kubedtn.model.documents import dump_yaml
from kubedtn.model.objects import link_from_dict
from kubedtn.store import retry_on_conflict
from kubedtn.store.kube import KubeStore, api_client
from kubedtn.store.resource import TOPOLOGY

EDITS = 100
POLL_S = 0.0005
TIMEOUT_S = 10.0


def _topology(name: str, peer: str, ip: str, peer_ip: str) -> dict[str, Any]:
    link = {
        "uid": 1,
        "peer_pod": peer,
        "local_intf": "eth1",
        "peer_intf": "eth1",
        "local_ip": ip,
        "peer_ip": peer_ip,
        "properties": {"rate": "100Mbit"},
    }
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"links": [link]}}


def _rate_bps(dataplane: NetlinkDataplane, netns: str) -> int | None:
    for iface in dataplane.read(netns, owned_only=True):
        if iface.name == "eth1" and iface.properties is not None:
            return iface.properties.rate_bps
    return None


def _time_until(change: Callable[[], None], done: Callable[[], bool]) -> float:
    """Seconds from the start of ``change()`` until ``done()`` holds (polled)."""
    start = time.perf_counter()
    change()
    deadline = start + TIMEOUT_S
    while not done():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the change was not seen in the kernel within {TIMEOUT_S:.0f} s")
        time.sleep(POLL_S)
    return time.perf_counter() - start


@contextmanager
def _cluster(ctx: Context) -> Iterator[tuple[KubeStore, LabDaemonClient, list[str]]]:
    """The API double, the built daemon on it, and two pods r1/r2 linked on its node."""
    try:
        from tests.support.daemon import running_daemon
        from tests.support.kubeapi import KubeApiServer
        from tests.support.kubeapi.fixture import TOPOLOGY_CRD
    except ImportError as e:
        raise Skip(f"the API server double is not importable from here: {e}") from e
    exe = ctx.require_executable()
    tag = uuid.uuid4().hex[:6]
    pods = [f"kb-{tag}-r1", f"kb-{tag}-r2"]
    with tempfile.TemporaryDirectory(prefix="kdtn-bench-") as tmp, KubeApiServer(event_window=5000) as server:
        server.register_crd(TOPOLOGY_CRD)
        kubeconfig = server.write_kubeconfig(Path(tmp) / "kubeconfig")
        api = KubeStore(api_client(kubeconfig=str(kubeconfig)), resource=TOPOLOGY)
        create_namespaces(pods)
        try:
            api.create(_topology("r1", "r2", "10.0.1.1/24", "10.0.1.2/24"))
            api.create(_topology("r2", "r1", "10.0.1.2/24", "10.0.1.1/24"))
            extra = ("--backend", "kubernetes", "--kubeconfig", str(kubeconfig))
            with (
                running_daemon(extra_args=extra, program=(str(exe),)) as daemon,
                LabDaemonClient(str(daemon.socket_path)) as client,
            ):
                results = client.setup_pods(
                    [
                        ("r1", "default", f"/run/netns/{pods[0]}"),
                        ("r2", "default", f"/run/netns/{pods[1]}"),
                    ]
                )
                failed = [r for r in results if not r.ok]
                if failed:
                    raise RuntimeError(f"pods not set up: {failed}")
                yield api, client, [f"/run/netns/{p}" for p in pods]
        finally:
            api.close()
            delete_namespaces(pods)


@benchmark("cr-edit")
def cr_edit(ctx: Context) -> list[Result]:
    """A link's rate edited in its Topology → the tbf changed: p50/p99 over 100 edits."""
    if os.geteuid() != 0:
        raise Skip("needs root")
    dataplane = NetlinkDataplane()
    with _cluster(ctx) as (api, client, netns):
        ours: list[float] = []
        direct: list[float] = []
        for i in range(EDITS):
            mbit = 20 + i  # a new value each time
            for via_api in (True, False):  # interleaved: drift hits both sides alike
                mbit += 200 if not via_api else 0
                want = mbit * 1_000_000

                def edit(mbit: int = mbit) -> None:
                    def write() -> None:
                        obj = api.get("default", "r1")
                        obj["spec"]["links"][0]["properties"] = {"rate": f"{mbit}Mbit"}
                        api.update(obj)

                    retry_on_conflict(write, attempts=50)

                def update(mbit: int = mbit) -> None:
                    raw = {
                        **api.get("default", "r1")["spec"]["links"][0],
                        "properties": {"rate": f"{mbit}Mbit"},
                    }
                    client.update_links(pod="r1", kube_ns="default", links=[link_from_dict(raw)])

                def applied(want: int = want) -> bool:
                    return _rate_bps(dataplane, netns[0]) == want

                seen = _time_until(edit if via_api else update, applied)
                (ours if via_api else direct).append(seen * 1000)
        ours.sort()
        direct.sort()
        p50, p99 = statistics.median(ours), ours[int(0.99 * (len(ours) - 1))]
        b50, b99 = statistics.median(direct), direct[int(0.99 * (len(direct) - 1))]
        goal = "met" if p50 <= 100 and p99 <= 500 else "NOT met"
        details: dict[str, float | str] = {
            "edits": EDITS,
            "p99_ms": round(p99, 2),
            "baseline_p99_ms": round(b99, 2),
            "max_ms": round(ours[-1], 2),
            "goal": f"p50 <= 100 ms and p99 <= 500 ms: {goal}",
        }
        print(f"bench cr-edit: p50 {p50:.1f} ms, p99 {p99:.1f} ms over {EDITS} edits ({details['goal']})")
        return [
            Result(
                "edit→qdisc p50 (ms)",
                ours=p50,
                baseline=b50,
                baseline_name="UpdateLinks on the socket",
                details=details,
            ),
            Result("edit→qdisc p99 (ms)", ours=p99, baseline=b99, baseline_name="UpdateLinks on the socket"),
        ]


def _double() -> tuple[Any, Any, Any]:
    try:
        from tests.support.daemon import running_daemon
        from tests.support.kubeapi import KubeApiServer
        from tests.support.kubeapi.fixture import TOPOLOGY_CRD
    except ImportError as e:
        raise Skip(f"the API server double is not importable from here: {e}") from e
    return running_daemon, KubeApiServer, TOPOLOGY_CRD


def _apply_until_ready(exe: Path, kubeconfig: Path, topology: Path, socket: str) -> float:
    """One timed round on the cluster path (module docstring); everything it made is removed."""
    tag = uuid.uuid4().hex[:6]
    netns = [f"kc-{tag}-{i}" for i in range(PODS)]
    api = KubeStore(api_client(kubeconfig=str(kubeconfig)), resource=TOPOLOGY)
    try:
        settle()
        start = time.perf_counter()
        subprocess.run(
            [str(exe), "topo", "apply", "--kubeconfig", str(kubeconfig), "-f", str(topology)],
            check=True,
            capture_output=True,
        )
        create_namespaces(netns)
        with LabDaemonClient(socket, timeout_s=600) as client:
            results = client.setup_pods([(f"p{i}", "default", f"/run/netns/{netns[i]}") for i in range(PODS)])
        items, _ = api.list("default")
        elapsed = time.perf_counter() - start
        failed = [r for r in results if not r.ok]
        ready = [
            o
            for o in items
            if any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (o.get("status") or {}).get("conditions") or []
            )
        ]
        if failed or len(ready) != PODS:
            raise RuntimeError(f"topo apply: {len(ready)} of {PODS} Topologies Ready; failed: {failed[:3]}")
        plumbed = {link["uid"] for o in items for link in (o.get("status") or {}).get("links") or []}
        if len(plumbed) != LINKS:
            raise RuntimeError(f"topo apply: {len(plumbed)} of {LINKS} links recorded plumbed")
        with LabDaemonClient(socket, timeout_s=600) as client:
            client.destroy_pods([(f"p{i}", "default") for i in range(PODS)])
        for obj in items:
            api.delete("default", obj["metadata"]["name"])
        return elapsed
    finally:
        api.close()
        delete_namespaces(netns)


@benchmark("topo-apply")
def topo_apply(ctx: Context) -> list[Result]:
    """topo apply of 200 pods / 1000 links through the API until all Ready, vs lab up of the same file."""
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces)")
    running_daemon, server_class, crd = _double()
    exe = ctx.require_executable()
    rounds = max(1, min(ctx.runs, 3))
    cluster: list[float] = []
    lab: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="kdtn-bench-topo-") as tmp,
        server_class(event_window=20000) as server,
    ):
        work = Path(tmp)
        topology = work / "mesh.yaml"
        topology.write_text(dump_yaml(mesh(PODS, LINKS)))
        server.register_crd(crd)
        kubeconfig = server.write_kubeconfig(work / "kubeconfig")
        extra = ("--backend", "kubernetes", "--kubeconfig", str(kubeconfig))
        ours = _Ours(exe, work, topology)
        ours.up_down(warm=True)  # untimed: the first start of the executable may unpack it
        with running_daemon(extra_args=extra, program=(str(exe),)) as daemon:
            for r in range(rounds):
                for side in ("cluster", "lab") if r % 2 == 0 else ("lab", "cluster"):
                    if side == "lab":
                        lab.append(ours.up_down(warm=True)[0])
                    else:
                        cluster.append(_apply_until_ready(exe, kubeconfig, topology, str(daemon.socket_path)))
    med_cluster, med_lab = statistics.median(cluster), statistics.median(lab)
    details: dict[str, float | str] = {
        "pods": PODS,
        "links": LINKS,
        "rounds": rounds,
        "topo_apply_until_ready_s": round(med_cluster, 3),
        "lab_up_s": round(med_lab, 3),
    }
    return [
        Result("topo apply until Ready (links/s)", LINKS / med_cluster, LINKS / med_lab,
               "lab up, daemon running", goal=0.7, lower_is_better=False, details=details),
    ]  # fmt: skip
