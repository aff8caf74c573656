"""A pod started through a real runtime: CRI RunPodSandbox on containerd, kubedtn installed by
its DaemonSet's pod (tests/support/crinode.py: the node image under podman, the API double).

``runpod``: RunPodSandbox of a topology pod with 5 links (its 5 peers already up, so the daemon
really makes 5 veth pairs with addresses and a tbf each) against RunPodSandbox of a pod in no
topology (Debian's bridge, then kubedtn passing it through), interleaved in the same run;
each sandbox is stopped and removed between rounds (not timed). Goal: <= 1.5x.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid

from bench import Context, Result, Skip, benchmark, timing

PEERS = 5
RATE = "100Mbit"


@benchmark("runpod")
def runpod(ctx: Context) -> list[Result]:
    """RunPodSandbox (containerd, CRI) of a topology pod with 5 links vs a pod in no topology."""
    if os.geteuid() != 0:
        raise Skip("needs root (containerd, namespaces)")
    for tool in ("containerd", "ctr", "podman", "gcc", "runc"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} is not installed (make deps)")
    ctx.require_executable()
    from tests.support.crinode import cri_node, interfaces, node_image, topology
    from tests.support.kubeapi.fixture import kubectl_binary
    from tests.support.topologies import link

    kubectl = kubectl_binary()
    if kubectl is None:
        raise Skip("kubectl is not installed (pip install -r requirements-dev.txt)")
    peers = [f"p{i}" for i in range(1, PEERS + 1)]
    hub_links = [
        link(i, p, f"eth{i}", "eth1", ip=f"10.9.{i}.1/24", peer_ip=f"10.9.{i}.2/24", rate=RATE)
        for i, p in enumerate(peers, 1)
    ]
    with cri_node(node_image(), kubectl) as node:
        ns = node.namespace()
        node.apply(
            topology("hub", hub_links, ns),
            *(
                topology(
                    p, [link(i, "hub", "eth1", f"eth{i}", ip=f"10.9.{i}.2/24", peer_ip=f"10.9.{i}.1/24")], ns
                )
                for i, p in enumerate(peers, 1)
            ),
        )
        node.wait_listed(f"{ns}/hub", *(f"{ns}/{p}" for p in peers))
        up = [node.run_pod(p, ns) for p in peers]
        try:
            # Once, checked: the hub gets its 5 links, the plain pod only eth0.
            hub = node.run_pod("hub", ns)
            made = set(interfaces(node.netns(hub))) - {"lo", "eth0"}
            node.remove_pod(hub)
            if made != {f"eth{i}" for i in range(1, PEERS + 1)}:
                raise RuntimeError(f"hub had {sorted(made)}, expected eth1..eth{PEERS}")

            def sample(name: str) -> float:
                start = time.perf_counter()
                sandbox = node.run_pod(name, ns)
                elapsed = time.perf_counter() - start
                node.remove_pod(sandbox)
                return elapsed

            runs = max(3, min(ctx.runs, 15))
            times = timing.interleaved(
                {"topology": lambda: sample("hub"), "plain": lambda: sample(f"plain-{uuid.uuid4().hex[:6]}")},
                runs=runs,
                warmup=2,
            )
        finally:
            for sandbox in up:
                node.remove_pod(sandbox)
    ms = {name: timing.median_ms(values) for name, values in times.items()}
    return [
        Result(
            f"RunPodSandbox p50 (ms), topology pod with {PEERS} links",
            ms["topology"],
            ms["plain"],
            "RunPodSandbox of a pod in no topology (same node, same run)",
            goal=1.5,
            details={
                "runs": runs,
                "topology_p90_ms": timing.percentile_ms(times["topology"], 90),
                "plain_p90_ms": timing.percentile_ms(times["plain"], 90),
                "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
            },
        )
    ]
