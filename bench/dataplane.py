"""The dataplane against iproute2 doing the same work: links, teardown, namespaces, properties.

    python -m bench dataplane-veth dataplane-vxlan dataplane-netns dataplane-properties
    python bench/dataplane.py            # the same, without the harness

The baselines are ``ip -batch`` command files written by ``bench/ip_batch.py`` (run
``python -m bench.ip_batch`` to see them). Both sides get the same namespaces, made before
the clock starts; every round checks that the links really are there before counting it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and `kubedtn` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from bench import Context, Result, Skip, benchmark, ip_batch
from kubedtn.dataplane import (
    Endpoint,
    InterfaceRef,
    NetlinkDataplane,
    VethSpec,
    VxlanSpec,
    create_namespaces,
    delete_namespaces,
)
from kubedtn.model import LinkProperties

NAMESPACES = 200
LINKS = 1000
ROUNDS_MAX = 3  # creation rounds per side (the median counts); each costs a few seconds
PROPERTY_LINKS = 200


def _require_root() -> None:
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces)")


def _net_namespaces_alive() -> int:
    """Network namespaces the kernel still holds (dead ones are torn down in the background)."""
    with open("/proc/slabinfo") as f:
        for line in f:
            if line.startswith("net_namespace "):
                return int(line.split()[1])
    return 0


def settle(timeout_s: float = 60.0) -> None:
    """Waits until the kernel has finished tearing down deleted namespaces (it does so in
    the background and it costs CPU, which would land on whichever side runs next)."""
    deadline = time.monotonic() + timeout_s
    last, steady = _net_namespaces_alive(), 0
    while steady < 4 and time.monotonic() < deadline:
        time.sleep(0.25)
        now = _net_namespaces_alive()
        steady = steady + 1 if now >= last else 0
        last = now


@contextmanager
def namespaces(count: int, *, tag: str) -> Iterator[list[str]]:
    names = [f"kdtnb-{tag}-{uuid.uuid4().hex[:6]}-{i}" for i in range(count)]
    create_namespaces(names)
    try:
        yield names
    finally:
        delete_namespaces(names)


def _run(argv: Sequence[str]) -> None:
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()[-400:]}")


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _links_in(name: str) -> int:
    out = subprocess.run(
        ["ip", "-n", name, "-o", "link", "show", "up"], capture_output=True, text=True, check=True
    )
    return len([line for line in out.stdout.splitlines() if "LOWER_UP" in line or "UNKNOWN" in line])


def _check_created(names: Sequence[str], per_ns: int, side: str) -> None:
    for name in (names[0], names[len(names) // 2], names[-1]):
        found = _links_in(name)
        if found != per_ns:
            raise RuntimeError(f"{side}: {name} has {found} interfaces up, expected {per_ns}")


def _spawn_overhead(names: Sequence[str], workdir: Path) -> float:
    """What starting one `ip -n NS -batch` per namespace costs with nothing to do."""
    empty = workdir / "empty.batch"
    empty.write_text("")
    return _timed(lambda: [_run(["ip", "-n", n, "-batch", str(empty)]) for n in names])


# ---- veth ---------------------------------------------------------------------------------


def _endpoint(netns: str, name: str, ip: str, mac: str) -> Endpoint:
    return Endpoint(netns=f"/run/netns/{netns}", name=name, addresses=(ip,), mac=mac, mtu=ip_batch.MTU)


def veth_specs(names: Sequence[str]) -> list[VethSpec]:
    return [
        VethSpec(
            uid=link.uid,
            a=_endpoint(names[link.a], link.a_name, link.a_ip, link.a_mac),
            b=_endpoint(names[link.b], link.b_name, link.b_ip, link.b_mac),
        )
        for link in ip_batch.veth_layout(len(names), LINKS)
    ]


def _ours_vs_ip(
    *,
    make_specs: Callable[[list[str]], Sequence[VethSpec | VxlanSpec]],
    write_batches: Callable[[list[str], Path], ip_batch.Batches],
    names: list[str],
    per_ns: int,
    rounds: int,
    workdir: Path,
) -> dict[str, list[float]]:
    """Creation and teardown by both sides over the same namespaces, in alternating order."""
    dp = NetlinkDataplane()
    specs = make_specs(names)
    batches = write_batches(names, workdir)
    paths = [f"/run/netns/{n}" for n in names]
    times: dict[str, list[float]] = {"ours": [], "ip": [], "ours_del": [], "ip_del": [], "ip_create": []}

    def ours() -> None:
        settle()
        times["ours"].append(_timed(lambda: dp.apply(specs)))
        _check_created(names, per_ns, "ours")
        times["ours_del"].append(_timed(lambda: dp.remove_owned(paths)))
        _check_created(names, 0, "ours teardown")

    def ip(teardown_per_link: bool) -> None:
        settle()
        create = _timed(lambda: _run(["ip", *batches.create_prefix, "-batch", str(batches.create)]))
        configure = _timed(lambda: [_run(["ip", "-n", n, "-batch", str(f)]) for n, f in batches.configure])
        times["ip"].append(create + configure)
        times["ip_create"].append(create)
        _check_created(names, per_ns, "ip -batch")
        if teardown_per_link:
            times["ip_del"].append(
                _timed(lambda: [_run(["ip", "-n", n, "-batch", str(f)]) for n, f in batches.delete])
            )
        else:
            dp.remove_owned(paths)  # untimed: ip gave its links kubedtn's group too
        _check_created(names, 0, "ip teardown")

    for r in range(rounds):
        # the per-link teardown baseline takes ~25 s: measured in the first round only
        if r % 2 == 0:
            ours()
            ip(teardown_per_link=r == 0)
        else:
            ip(teardown_per_link=False)
            ours()
    return times


def _results(times: dict[str, list[float]], *, overhead_s: float, what: str) -> list[Result]:
    ours_s, ip_s = statistics.median(times["ours"]), statistics.median(times["ip"])
    details: dict[str, float | str] = {
        "links": LINKS,
        "namespaces": NAMESPACES,
        "rounds": len(times["ours"]),
        "ours_s": round(ours_s, 3),
        "ip_batch_s": round(ip_s, 3),
        "ip_batch_create_s": round(statistics.median(times["ip_create"]), 3),
        "ip_spawn_overhead_s": round(overhead_s, 3),
        "ratio_without_ip_spawn_overhead": round((ip_s - overhead_s) / ours_s, 2),
    }
    out = [
        Result(
            f"{what} create (links/s)",
            LINKS / ours_s,
            LINKS / ip_s,
            "ip -batch (+ ip -n NS -batch per namespace)",
            goal=1.2,
            lower_is_better=False,
            details=details,
        )
    ]
    if times["ip_del"]:
        ours_del, ip_del = statistics.median(times["ours_del"]), statistics.median(times["ip_del"])
        out.append(
            Result(
                f"{what} teardown (links/s)",
                LINKS / ours_del,
                LINKS / ip_del,
                "ip link del per link (ip -n NS -batch)",
                goal=4.0,
                lower_is_better=False,
                details={"ours_s": round(ours_del, 3), "ip_s": round(ip_del, 3), "by": "interface group"},
            )
        )
    return out


@benchmark("dataplane-veth")
def veth_links(ctx: Context) -> list[Result]:
    """1000 veth links over 200 namespaces (addresses, MAC, MTU, up) and their teardown vs ip -batch."""
    _require_root()
    rounds = max(1, min(ctx.runs, ROUNDS_MAX))
    with tempfile.TemporaryDirectory(prefix="kdtn-bench-") as tmp, namespaces(NAMESPACES, tag="v") as names:
        work = Path(tmp)
        times = _ours_vs_ip(
            make_specs=veth_specs,
            write_batches=lambda n, w: ip_batch.write_veth(n, w, links=LINKS),
            names=names,
            per_ns=2 * LINKS // NAMESPACES,
            rounds=rounds,
            workdir=work,
        )
        overhead = _spawn_overhead(names, work)
    return _results(times, overhead_s=overhead, what="veth")


# ---- vxlan --------------------------------------------------------------------------------


def vxlan_specs(node: str, pods: Sequence[str]) -> list[VxlanSpec]:
    return [
        VxlanSpec(
            uid=link.uid,
            endpoint=_endpoint(pods[link.pod], link.name, link.ip, link.mac),
            vni=link.vni,
            remote=ip_batch.VXLAN_REMOTE,
            local=ip_batch.VXLAN_LOCAL,
            underlay=ip_batch.VXLAN_UNDERLAY,
            node_netns=f"/run/netns/{node}",
        )
        for link in ip_batch.vxlan_layout(len(pods), LINKS)
    ]


@benchmark("dataplane-vxlan")
def vxlan_links(ctx: Context) -> list[Result]:
    """1000 VXLAN links from a node namespace into 200 pod namespaces, and their teardown, vs ip -batch."""
    _require_root()
    rounds = max(1, min(ctx.runs, ROUNDS_MAX))
    with (
        tempfile.TemporaryDirectory(prefix="kdtn-bench-") as tmp,
        namespaces(1, tag="n") as (node,),
        namespaces(NAMESPACES, tag="x") as pods,
    ):
        work = Path(tmp)
        u = ip_batch.VXLAN_UNDERLAY
        _run(["ip", "-n", node, "link", "add", u, "type", "veth", "peer", "name", f"{u}p"])
        _run(["ip", "-n", node, "addr", "add", f"{ip_batch.VXLAN_LOCAL}/24", "dev", u])
        _run(["ip", "-n", node, "link", "set", u, "up"])
        _run(["ip", "-n", node, "link", "set", f"{u}p", "up"])
        times = _ours_vs_ip(
            make_specs=lambda p: vxlan_specs(node, p),
            write_batches=lambda p, w: ip_batch.write_vxlan(node, p, w, links=LINKS),
            names=pods,
            per_ns=LINKS // NAMESPACES,
            rounds=rounds,
            workdir=work,
        )
        overhead = _spawn_overhead(pods, work)
    return _results(times, overhead_s=overhead, what="vxlan")


# ---- namespaces ---------------------------------------------------------------------------


@benchmark("dataplane-netns")
def netns_bulk(ctx: Context) -> list[Result]:
    """Creating and deleting 200 namespaces: create_/delete_namespaces vs ip -batch netns add/del."""
    _require_root()
    rounds = max(1, min(ctx.runs, 5))
    times: dict[str, list[float]] = {"ours": [], "ip": [], "ours_del": [], "ip_del": []}
    with tempfile.TemporaryDirectory(prefix="kdtn-bench-") as tmp:
        for r in range(rounds):
            for side in ("ours", "ip") if r % 2 == 0 else ("ip", "ours"):
                names = [f"kdtnb-ns-{uuid.uuid4().hex[:6]}-{i}" for i in range(NAMESPACES)]
                settle()
                try:
                    if side == "ours":
                        times["ours"].append(_timed(lambda: create_namespaces(names)))  # noqa: B023
                        times["ours_del"].append(_timed(lambda: delete_namespaces(names)))  # noqa: B023
                    else:
                        add, delete = ip_batch.write_netns(names, Path(tmp))
                        times["ip"].append(_timed(lambda: _run(["ip", "-batch", str(add)])))  # noqa: B023
                        times["ip_del"].append(_timed(lambda: _run(["ip", "-batch", str(delete)])))  # noqa: B023
                finally:
                    delete_namespaces(names)
    med = {k: statistics.median(v) for k, v in times.items()}
    return [
        Result(
            "namespaces create (ns/s)",
            NAMESPACES / med["ours"],
            NAMESPACES / med["ip"],
            "ip -batch netns add",
            goal=1.0,
            lower_is_better=False,
            details={"rounds": rounds, "threads": os.cpu_count() or 1},
        ),
        Result(
            "namespaces delete (ns/s)",
            NAMESPACES / med["ours_del"],
            NAMESPACES / med["ip_del"],
            "ip -batch netns del",
            goal=1.0,
            lower_is_better=False,
        ),
    ]


# ---- properties ---------------------------------------------------------------------------


@benchmark("dataplane-properties")
def property_update(ctx: Context) -> list[Result]:
    """Changing one link's properties (tbf rate) in place: Dataplane.set_properties vs tc qdisc change."""
    _require_root()
    count = PROPERTY_LINKS
    with namespaces(count, tag="p") as names:
        dp = NetlinkDataplane()
        specs = [
            VethSpec(
                uid=i,
                a=Endpoint(
                    netns=f"/run/netns/{n}", name="eth1", properties=LinkProperties(rate_bps=10_000_000)
                ),
                b=Endpoint(netns=f"/run/netns/{names[(i + 1) % count]}", name="eth2"),
            )
            for i, n in enumerate(names)
        ]
        dp.apply(specs)
        ours: list[float] = []
        tc: list[float] = []
        for i, name in enumerate(names):
            ref = InterfaceRef(f"/run/netns/{name}", "eth1")
            rate = (20 + i % 7) * 1_000_000
            ours.append(_timed(lambda: dp.set_properties({ref: LinkProperties(rate_bps=rate)})))  # noqa: B023
            argv = ip_batch.tc_tbf_change(name, "eth1", rate_bps=rate + 1_000_000)
            tc.append(_timed(lambda: _run(argv)))  # noqa: B023
        live = [i for i in dp.read(f"/run/netns/{names[-1]}") if i.name == "eth1"]
        if not live or live[0].properties != LinkProperties(rate_bps=(20 + (count - 1) % 7 + 1) * 1_000_000):
            raise RuntimeError(f"the last change did not land: {live}")
    p50, p90 = statistics.median(ours) * 1000, sorted(ours)[int(0.9 * (count - 1))] * 1000
    tc_p50 = statistics.median(tc) * 1000
    details: dict[str, float | str] = {"links": count, "p90_ms": round(p90, 3), "qdisc": "tbf (host kernel)"}
    return [
        Result(
            "property update p50 (ms)", p50, tc_p50, "tc qdisc change per link", goal=1.0, details=details
        ),
        Result("property update p50 (ms)", p50, 5.0, "budget of 5 ms per link", goal=1.0, details=details),
    ]


if __name__ == "__main__":
    from bench.__main__ import main

    sys.exit(
        main(sys.argv[1:] or ["dataplane-veth", "dataplane-vxlan", "dataplane-netns", "dataplane-properties"])
    )
