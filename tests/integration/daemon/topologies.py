"""Topology objects for the daemon's root tests (rate-only properties: the host has no netem)."""

from __future__ import annotations

from typing import Any

from kubedtn.model import Topology
from kubedtn.model.objects import topology_from_dict
from kubedtn.store import ObjectStore
from tests.support.topologies import link


def topology(name: str, links: list[dict[str, Any]], namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "kubedtn.io/v1",
        "kind": "Topology",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"links": links},
    }


def pair(a: str = "r1", b: str = "r2", *, uid: int = 1, rate: str | None = "100Mbit") -> list[dict[str, Any]]:
    """Two pods joined by one link: a/eth1 10.0.<uid>.1 <-> b/eth1 10.0.<uid>.2."""
    x, y = f"10.0.{uid}.1/24", f"10.0.{uid}.2/24"
    return [
        topology(a, [link(uid, b, "eth1", "eth1", ip=x, peer_ip=y, rate=rate)]),
        topology(b, [link(uid, a, "eth1", "eth1", ip=y, peer_ip=x, rate=rate)]),
    ]


def ring(n: int, *, prefix: str = "p", rate: str | None = None) -> list[dict[str, Any]]:
    """n pods in a ring: pod i's eth1 joins pod i+1's eth2 (uid i+1)."""
    links: dict[int, list[dict[str, Any]]] = {i: [] for i in range(n)}
    for i in range(n):
        j = (i + 1) % n
        uid = i + 1
        x, y = f"10.{uid // 250}.{uid % 250}.1/24", f"10.{uid // 250}.{uid % 250}.2/24"
        links[i].append(link(uid, f"{prefix}{j}", "eth1", "eth2", ip=x, peer_ip=y, rate=rate))
        links[j].append(link(uid, f"{prefix}{i}", "eth2", "eth1", ip=y, peer_ip=x, rate=rate))
    return [topology(f"{prefix}{i}", links[i]) for i in range(n)]


def load(store: ObjectStore, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        store.create(obj)


def read(store: ObjectStore, name: str, namespace: str = "default") -> Topology:
    return topology_from_dict(store.get(namespace, name))


def record_running(store: ObjectStore, name: str, *, src_ip: str, net_ns: str) -> None:
    """Write where pod ``name`` runs straight into the store, as another client may."""
    rv = store.get("default", name)["metadata"]["resourceVersion"]
    store.write_status("default", name, resource_version=rv, status={"src_ip": src_ip, "net_ns": net_ns})


def ready(store: ObjectStore, name: str) -> tuple[str, str]:
    (cond,) = [c for c in read(store, name).status.conditions if c.type == "Ready"]
    return cond.status, cond.reason
