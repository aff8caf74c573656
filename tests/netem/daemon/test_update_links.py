"""UpdateLinks with netem properties (latency, loss): changed in place, on the pod's own end."""

from __future__ import annotations

import pytest

from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.types import SetupRequest
from kubedtn.model.objects import link_from_dict
from kubedtn.model.podref import PodRef
from kubedtn.store import SqliteStore
from tests.integration.daemon.topologies import load, pair, read
from tests.support.netns import NamespacePool, links_by_name, path, qdiscs
from tests.support.topologies import link

pytestmark = [pytest.mark.root, pytest.mark.netem]


def netem_delay_us(ns: str, dev: str) -> int:
    (netem,) = [q for q in qdiscs(ns, dev) if q["kind"] == "netem"]
    delay = netem["options"]["delay"]
    return round(float(delay["delay"]) * 1_000_000)


def test_update_links_changes_latency_in_place_and_leaves_the_peers_end_alone(
    pool: NamespacePool, store: SqliteStore, manager: LinkManager
) -> None:
    objects = pair(rate=None)
    for obj in objects:
        obj["spec"]["links"][0]["properties"] = {"latency": "10ms"}
    load(store, objects)
    a, b = pool.make(2)
    for name, ns in (("r1", a), ("r2", b)):
        (outcome,) = manager.setup_pods([SetupRequest(name, "default", path(ns))])
        assert outcome.ok, outcome.error
    before = links_by_name(a)["eth1"]["ifindex"]
    assert netem_delay_us(a, "eth1") == 10_000 and netem_delay_us(b, "eth1") == 10_000

    raw = link(1, "r2", "eth1", "eth1", ip="10.0.1.1/24", peer_ip="10.0.1.2/24")
    raw["properties"] = {"latency": "25ms", "loss": "1"}
    assert manager.update_links(PodRef(namespace="default", name="r1"), [link_from_dict(raw)]) == 1

    assert links_by_name(a)["eth1"]["ifindex"] == before
    assert netem_delay_us(a, "eth1") == 25_000
    assert netem_delay_us(b, "eth1") == 10_000
    (entry,) = read(store, "r1").status.links
    assert (entry.properties.latency_us, entry.properties.loss) == (25_000, 1.0)
