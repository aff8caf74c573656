"""1000 cross-node links between two simulated nodes: the node daemons against ``ip -batch``.

    python -m bench crossnode
    python bench/crossnode.py         # the same, without the harness

Two simulated nodes (``kubedtn.lab.fabric``: node namespaces on a fabric bridge, a
``kubedtn daemon --netns`` in each, one store), 100 pods on each, 1000 links, every one
joining a pod of node1 to a pod of node2 (10 per pod; link u joins a[u % 100] and
b[(u % 100 + u // 100) % 100], interfaces ``e<u>``, addresses 10.<u/256>.<u%256>.1-2/30).

Ours: ``SetupPods`` of each node's pods on its daemon, both nodes at once (as ``lab up
--nodes``): each daemon makes its pods' VXLAN ends and the peer's daemon makes the far
ends (``Remote.Update``). Baseline: for each node, one ``ip -n NODE -batch`` creating its
pods' VXLAN ends straight into the pods (``type vxlan id .. remote .. local .. dev eth0
dstport 4789 nolearning``), then one ``ip -n POD -batch`` per pod for address and up; the
two nodes in parallel. Both sides get fresh pod namespaces made before the clock starts,
and every round checks that the links exist and are up. Reported: links/s (higher is
better), goal >= 1.2x ip -batch.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `kubedtn` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bench import Context, Result, Skip, benchmark
from bench.dataplane import _check_created, namespaces, settle
from kubedtn.lab import fabric, nodedaemons
from kubedtn.lab.names import LabPaths
from kubedtn.lab.nodes import NODE_UNDERLAY, fabric_netns, plan_nodes
from kubedtn.lab.state import NodeRecord, PodRecord
from kubedtn.model.names import vni_for_link
from kubedtn.store import open_store

PER_NODE = 100
LINKS = 1000
PER_POD = 2 * LINKS // (2 * PER_NODE)  # interfaces up in each pod (lo stays down)
ROUNDS = 5  # this 2-CPU VM varies by 10-20% from run to run: the median of five is steadier


def layout(links: int = LINKS, per_node: int = PER_NODE) -> list[tuple[int, int, int]]:
    """(uid, pod index on node1, pod index on node2) of every link; no pair twice."""
    return [(u + 1, u % per_node, (u % per_node + u // per_node) % per_node) for u in range(links)]


def _addr(uid: int, side: int) -> str:
    hi, lo = divmod(uid, 256)
    return f"10.{hi}.{lo}.{side}/30"


def topologies(a: Sequence[str], b: Sequence[str]) -> list[dict[str, Any]]:
    """Topology objects of pods ``a`` (node1) and ``b`` (node2) with the layout's links."""
    ends: dict[str, list[dict[str, Any]]] = {n: [] for n in (*a, *b)}
    for uid, i, j in layout(per_node=len(a)):
        for me, peer, ip, peer_ip in ((a[i], b[j], 1, 2), (b[j], a[i], 2, 1)):
            ends[me].append(
                {
                    "uid": uid,
                    "peer_pod": peer,
                    "local_intf": f"e{uid}",
                    "peer_intf": f"e{uid}",
                    "local_ip": _addr(uid, ip),
                    "peer_ip": _addr(uid, peer_ip),
                }
            )
    return [
        {"apiVersion": "kubedtn.io/v1", "kind": "Topology", "metadata": {"name": n}, "spec": {"links": e}}
        for n, e in ends.items()
    ]


def ip_batches(a: Sequence[str], b: Sequence[str], n1: NodeRecord, n2: NodeRecord) -> dict[str, list[str]]:
    """The baseline's batches: namespace -> lines (the two nodes', then every pod's)."""
    batches: dict[str, list[str]] = {n1.netns: [], n2.netns: [], **{p: [] for p in (*a, *b)}}
    for uid, i, j in layout(per_node=len(a)):
        for node, peer, pod, side in ((n1, n2, a[i], 1), (n2, n1, b[j], 2)):
            batches[node.netns].append(
                f"link add e{uid} netns {pod} type vxlan id {vni_for_link('default', uid)} remote {peer.ip} "
                f"local {node.ip} dev {NODE_UNDERLAY} dstport 4789 nolearning"
            )
            batches[pod] += [f"addr add {_addr(uid, side)} dev e{uid}", f"link set e{uid} up"]
    return batches


def _ip_batch(netns: str, lines: Sequence[str]) -> None:
    proc = subprocess.run(
        ["ip", "-n", netns, "-batch", "-"],
        input="".join(f"{x}\n" for x in lines),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ip -n {netns} -batch: {proc.stderr.strip()[-400:]}")


def _baseline_round(a: list[str], b: list[str], n1: NodeRecord, n2: NodeRecord) -> float:
    batches = ip_batches(a, b, n1, n2)

    def node_side(node: NodeRecord, pods: Sequence[str]) -> None:
        _ip_batch(node.netns, batches[node.netns])
        for pod in pods:
            _ip_batch(pod, batches[pod])

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(node_side, (n1, n2), (a, b)))
    return time.perf_counter() - start


def _ours_round(
    paths: LabPaths, store: str, a: list[str], b: list[str], nodes: Sequence[NodeRecord]
) -> float:
    n1, n2 = nodes
    objects = topologies(a, b)
    with closing(open_store(store)) as s:
        for obj in objects:
            s.create(obj)
    records = [PodRecord(n, "default", n, n1.name) for n in a] + [
        PodRecord(n, "default", n, n2.name) for n in b
    ]
    # As `lab up --nodes` does between writing the objects and SetupPods (and as a cluster is,
    # where Topologies are applied before their pods start): each daemon answers Status once
    # it has read the new objects, so their checking is not timed as link making.
    for node in nodes:
        with nodedaemons.client(paths, node.name) as client:
            client.status()
    start = time.perf_counter()
    failed = nodedaemons.setup_pods(paths, records)
    elapsed = time.perf_counter() - start
    if failed:
        raise RuntimeError(f"SetupPods failed for {len(failed)} pods: {failed[0].error}")
    _check_created(b, PER_POD, "daemons")
    _check_created(a, PER_POD, "daemons")
    alive = {n1.name: True, n2.name: True}
    nodedaemons.destroy_pods(paths, records, alive)
    with closing(open_store(store)) as s:
        for obj in objects:
            s.delete("default", obj["metadata"]["name"])
    return elapsed


def measure(rounds: int = ROUNDS) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"daemons": [], "ip": []}
    tag = uuid.uuid4().hex[:5]
    name = f"bx{tag}"
    plan = plan_nodes(lab=name, count=2, pods=[], file_nodes={}, previous=None)
    assert plan is not None
    n1, n2 = plan.nodes
    with tempfile.TemporaryDirectory(prefix="kdtn-crossnode-") as tmp:
        paths = LabPaths(lab=name, state_dir=Path(tmp) / "state", run_dir=Path(tmp) / "run")
        store = str(Path(tmp) / "store.db")
        paths.state_dir.mkdir(parents=True)
        try:
            fabric.build(fabric_netns(name), plan.nodes, plan.subnet)
            nodedaemons.start_all(paths, plan.nodes, store=store)
            for r in range(rounds):
                for side in ("daemons", "ip") if r % 2 == 0 else ("ip", "daemons"):
                    settle()
                    with namespaces(2 * PER_NODE, tag=f"x{r}{side[0]}") as names:
                        a, b = names[:PER_NODE], names[PER_NODE:]
                        if side == "ip":
                            times[side].append(_baseline_round(a, b, n1, n2))
                            _check_created(a, PER_POD, "ip -batch")
                            _check_created(b, PER_POD, "ip -batch")
                        else:
                            times[side].append(_ours_round(paths, store, a, b, plan.nodes))
        finally:
            for node in plan.nodes:
                nodedaemons.stop(paths, node)
            fabric.remove(fabric_netns(name), plan.nodes)
    return times


@benchmark("crossnode")
def crossnode(ctx: Context) -> list[Result]:
    """1000 cross-node VXLAN links between two simulated nodes: node daemons vs ip -batch (links/s)."""
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces)")
    times = measure(max(1, min(ctx.runs, ROUNDS)))
    ours, ip = statistics.median(times["daemons"]), statistics.median(times["ip"])
    return [
        Result(
            "links/s",
            LINKS / ours,
            LINKS / ip,
            "ip -batch per node + per pod (2 nodes in parallel)",
            goal=1.2,
            lower_is_better=False,
            details={
                "links": LINKS,
                "pods": 2 * PER_NODE,
                "rounds": len(times["ip"]),
                "daemons_s": round(ours, 3),
                "ip_s": round(ip, 3),
            },
        )
    ]


if __name__ == "__main__":
    for result in crossnode(Context(repo=Path("."), executable=Path("dist/kubedtn"), runs=ROUNDS)):
        print(result)
