"""The daemon's link manager against the dataplane alone doing the same plumbing.

    python -m bench daemon-setup-pods
    python bench/daemon.py            # the same, without the harness

200 pods / 1000 links (the layout of the dataplane's benchmarks), brought up
with one ``LinkManager.setup_pods`` call (store reads, liveness and status writes,
planning, one ``Dataplane.apply``) against ``Dataplane.apply`` of the same 1000 veth
specs, and torn down with ``destroy_pods`` against ``Dataplane.remove_owned``. Both
sides get fresh namespaces made before the clock starts; every round checks the links.
The process runs as the daemon does (``kubedtn.daemon.run``): its store checkpoints in
the background, its garbage collector is set as the daemon sets it.
The goal: the manager costs at most 10% over the dataplane.
"""

from __future__ import annotations

import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `kubedtn` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bench import Context, Result, Skip, benchmark
from bench.dataplane import _check_created, namespaces, settle
from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.plan import NodeInfo, SameNode, plan_pod
from kubedtn.daemon.run import tune_garbage_collector
from kubedtn.daemon.types import SetupRequest
from kubedtn.dataplane import NetlinkDataplane, VethSpec
from kubedtn.lab.generate import mesh
from kubedtn.model.objects import topology_from_dict
from kubedtn.model.podref import PodRef
from kubedtn.store import SqliteStore
from kubedtn.store.checkpoint import checkpointer_for

PODS = 200
LINKS = 1000
PER_POD = 2 * LINKS // PODS  # interfaces in each pod's namespace
ROUNDS = 5
NODE = NodeInfo(ip="203.0.113.7")


def topologies(pods: int = PODS, links: int = LINKS) -> list[dict[str, Any]]:
    """The layout of the dataplane's and ip -batch's benchmarks (``kubedtn.lab.generate.mesh``)."""
    return mesh(pods, links)


def veth_specs(objects: Sequence[dict[str, Any]], names: Sequence[str]) -> list[VethSpec]:
    """The exact specs the manager plans (every pod up), for the dataplane-only side."""
    from dataclasses import replace

    topos = [topology_from_dict(o) for o in objects]
    alive = {
        t.key: replace(t, status=replace(t.status, src_ip=NODE.ip, net_ns=f"/run/netns/{n}"))
        for t, n in zip(topos, names, strict=True)
    }
    specs: dict[int, VethSpec] = {}
    for topo in alive.values():
        for d in plan_pod(topo, peers=alive, node=NODE):
            assert isinstance(d, SameNode)
            specs.setdefault(d.link.uid, d.spec)
    return list(specs.values())


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _dataplane_round(
    dp: NetlinkDataplane, objects: Sequence[dict[str, Any]], names: list[str]
) -> tuple[float, float]:
    specs = veth_specs(objects, names)
    paths = [f"/run/netns/{n}" for n in names]
    setup = _timed(lambda: dp.apply(specs))
    _check_created(names, PER_POD, "dataplane")
    teardown = _timed(lambda: dp.remove_owned(paths))
    _check_created(names, 0, "dataplane teardown")
    return setup, teardown


def _manager_round(
    dp: NetlinkDataplane, objects: Sequence[dict[str, Any]], names: list[str], store_dir: Path
) -> tuple[float, float]:
    # Opened as the daemon opens its store (kubedtn.daemon.run): WAL checkpoints in the
    # background, off the request path.
    path = store_dir / "store.db"
    with SqliteStore(path, background_checkpoints=True) as store:
        manager = LinkManager(store=store, dataplane=dp, node=NODE)
        for obj in objects:
            # A daemon's pod-list watch hands each new Topology to the manager as it is
            # written (kubedtn.daemon.run: on_object=manager.prime), before any SetupPods.
            manager.prime(store.create(obj))
        # The creations' checkpoint is theirs (a CLI process's, in real use), not setup_pods'.
        checkpointer_for(str(path)).wait(timeout=30)
        requests = [SetupRequest(f"p{i}", "default", f"/run/netns/{n}") for i, n in enumerate(names)]
        start = time.perf_counter()
        outcomes = manager.setup_pods(requests)
        setup = time.perf_counter() - start
        failed = [o for o in outcomes if not o.ok]
        if failed:
            raise RuntimeError(f"setup_pods failed for {len(failed)} pods: {failed[0].error}")
        _check_created(names, PER_POD, "manager")
        refs = [PodRef(namespace="default", name=f"p{i}") for i in range(len(names))]
        teardown = _timed(lambda: manager.destroy_pods(refs))
        _check_created(names, 0, "manager teardown")
        checkpointer_for(str(path)).wait(timeout=30)  # done before its directory goes
    return setup, teardown


@contextmanager
def daemon_gc() -> Iterator[None]:
    """The daemon's garbage-collector settings (``kubedtn.daemon.run``: start-up frozen out of
    collections, rarer ones) for the block, then the process's own again."""
    thresholds = gc.get_threshold()
    gc.collect()
    tune_garbage_collector()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def measure(rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Setup and teardown times of both sides, alternating which goes first, in a process
    whose garbage collector is set as the daemon's."""
    objects = topologies()
    times: dict[str, list[float]] = {"manager": [], "dataplane": [], "manager_del": [], "dataplane_del": []}
    dp = NetlinkDataplane()
    with daemon_gc():
        _rounds(rounds, dp, objects, times)
    return times


def _rounds(
    rounds: int, dp: NetlinkDataplane, objects: Sequence[dict[str, Any]], times: dict[str, list[float]]
) -> None:
    for r in range(rounds):
        for side in ("manager", "dataplane") if r % 2 == 0 else ("dataplane", "manager"):
            settle()
            with namespaces(PODS, tag="d") as names, tempfile.TemporaryDirectory() as tmp:
                if side == "dataplane":
                    setup, teardown = _dataplane_round(dp, objects, names)
                else:
                    setup, teardown = _manager_round(dp, objects, names, Path(tmp))
            times[side].append(setup)
            times[f"{side}_del"].append(teardown)


@benchmark("daemon-setup-pods")
def daemon_setup_pods(ctx: Context) -> list[Result]:
    """200 pods / 1000 links: LinkManager.setup_pods/destroy_pods vs the dataplane alone."""
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces)")
    times = measure()
    m, d = statistics.median(times["manager"]), statistics.median(times["dataplane"])
    md, dd = statistics.median(times["manager_del"]), statistics.median(times["dataplane_del"])
    links = LINKS
    details: dict[str, float | str] = {"pods": PODS, "links": links, "rounds": len(times["manager"])}
    return [
        Result(
            "setup (s)",
            m,
            d,
            "Dataplane.apply of the same specs",
            goal=1.1,
            details={
                **details,
                "manager_links_per_s": round(links / m),
                "dataplane_links_per_s": round(links / d),
            },
        ),
        Result("teardown (s)", md, dd, "Dataplane.remove_owned", goal=1.1, details=details),
    ]


if __name__ == "__main__":
    for result in daemon_setup_pods(Context(repo=Path("."), executable=Path("dist/kubedtn"), runs=1)):
        print(result)
