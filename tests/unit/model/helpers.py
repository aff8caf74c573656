"""Small builders of raw Topology objects for the model tests."""

from __future__ import annotations

import copy
from typing import Any

from tests.support.topologies import link


def topology(
    name: str = "r1", *links: dict[str, Any], api: str = "kubedtn.io/v1", **meta: Any
) -> dict[str, Any]:
    return {
        "apiVersion": api,
        "kind": "Topology",
        "metadata": {"name": name, **meta},
        "spec": {"links": [copy.deepcopy(item) for item in links]},
    }


def ring() -> list[dict[str, Any]]:
    """r1-r2 (uid 1), r1-r3 (uid 2), r2-r3 (uid 3), addresses on every end."""
    return [
        topology(
            "r1",
            link(1, "r2", "eth1", "eth1", ip="10.0.12.1/24", peer_ip="10.0.12.2/24"),
            link(2, "r3", "eth2", "eth1", ip="10.0.13.1/24", peer_ip="10.0.13.3/24"),
        ),
        topology(
            "r2",
            link(1, "r1", "eth1", "eth1", ip="10.0.12.2/24", peer_ip="10.0.12.1/24"),
            link(3, "r3", "eth2", "eth2", ip="10.0.23.2/24", peer_ip="10.0.23.3/24"),
        ),
        topology(
            "r3",
            link(2, "r1", "eth1", "eth2", ip="10.0.13.3/24", peer_ip="10.0.13.1/24"),
            link(3, "r2", "eth2", "eth2", ip="10.0.23.3/24", peer_ip="10.0.23.2/24"),
        ),
    ]
