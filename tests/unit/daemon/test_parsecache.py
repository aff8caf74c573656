"""The daemon's parse cache: a version is parsed once; a status-only change re-checks only the status."""

from __future__ import annotations

import copy
from typing import Any

from kubedtn.daemon.parsecache import TopologyCache
from kubedtn.model.objects import parse_topology


def stored(rv: str, *, status: dict[str, Any] | None = None, mtu: int = 1400) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "kubedtn.io/v1",
        "kind": "Topology",
        "metadata": {"name": "r1", "namespace": "lab", "resourceVersion": rv, "generation": 1},
        "spec": {
            "links": [
                {"uid": 1, "peer_pod": "r2", "local_intf": "eth1", "peer_intf": "eth1", "mtu": mtu},
                {"uid": 2, "peer_pod": "r3", "local_intf": "eth2", "peer_intf": "eth1"},
            ]
        },
    }
    if status is not None:
        obj["status"] = status
    return obj


ALIVE = {"src_ip": "10.0.0.1", "net_ns": "/run/netns/r1"}


def test_the_same_version_is_parsed_once() -> None:
    cache = TopologyCache()
    first = cache.parse(stored("5"), namespace="lab")
    assert cache.parse(stored("5"), namespace="lab") is first
    assert (cache.hits, cache.misses) == (1, 1)


def test_a_status_only_change_reuses_the_spec_and_equals_a_full_parse() -> None:
    cache = TopologyCache()
    before = cache.parse(stored("5"), namespace="lab")
    newer = stored("6", status={**ALIVE, "links": [copy.deepcopy(stored("0")["spec"]["links"][0])]})
    after = cache.parse(newer, namespace="lab")
    assert after == parse_topology(newer, default_namespace="lab")
    assert after.topology is not None and before.topology is not None
    assert after.topology.links is before.topology.links  # the spec was not checked again
    assert after.topology.status.net_ns == "/run/netns/r1"
    assert after.topology.resource_version == "6"
    assert (cache.status_only, cache.misses) == (1, 1)


def test_a_spec_change_is_parsed_in_full() -> None:
    cache = TopologyCache()
    cache.parse(stored("5"), namespace="lab")
    after = cache.parse(stored("6", mtu=9000), namespace="lab")
    assert after.topology is not None and after.topology.links[0].mtu == 9000
    assert (cache.status_only, cache.misses) == (0, 2)


def test_a_metadata_change_is_parsed_in_full() -> None:
    cache = TopologyCache()
    cache.parse(stored("5"), namespace="lab")
    newer = stored("6")
    newer["metadata"]["labels"] = {"kubedtn.io/lab": "x"}
    after = cache.parse(newer, namespace="lab")
    assert after.topology is not None and after.topology.labels == {"kubedtn.io/lab": "x"}
    assert cache.misses == 2


def test_a_bad_status_reports_what_a_full_parse_reports() -> None:
    cache = TopologyCache()
    cache.parse(stored("5"), namespace="lab")
    newer = stored("6", status={"src_ip": 7, "links": [{"uid": "x"}]})
    after = cache.parse(newer, namespace="lab")
    assert after.problems  # the bad fields are named
    assert after == parse_topology(newer, default_namespace="lab")


def test_a_status_write_seeds_the_version_it_made() -> None:
    cache = TopologyCache()
    base = cache.parse(stored("5"), namespace="lab")
    assert base.topology is not None
    status = parse_topology(stored("0", status=ALIVE)).topology
    assert status is not None
    cache.remember_status(base.topology, status.status, resource_version="6", base=base)
    again = cache.parse(stored("6", status=ALIVE), namespace="lab")
    assert again.topology is not None and again.topology.status.src_ip == "10.0.0.1"
    assert (cache.hits, cache.misses, cache.status_only) == (1, 1, 0)
