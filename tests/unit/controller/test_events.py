"""Kubernetes Events in the API server double: fields, repeats aggregated, failures swallowed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kubedtn.controller.events import EventRecorder
from kubedtn.store.kube import KubeStore
from kubedtn.store.resource import EVENT
from tests.support.kubeapi import KubeApiServer
from tests.unit.controller.conftest import ClientFactory

TOPO = {
    "apiVersion": "kubedtn.io/v1",
    "kind": "Topology",
    "metadata": {"name": "r1", "namespace": "lab", "uid": "u-1", "resourceVersion": "7"},
}


@pytest.fixture
def events(clients: ClientFactory, kubeapi: KubeApiServer) -> KubeStore:
    kubeapi.create("", "v1", "namespaces", {"metadata": {"name": "lab"}})
    return KubeStore(clients("controller"), resource=EVENT)


@pytest.fixture
def recorder(events: KubeStore) -> Iterator[EventRecorder]:
    r = EventRecorder(events, host="controller-0")
    try:
        yield r
    finally:
        r.close()


def about(events: KubeStore, name: str) -> list[dict[str, Any]]:
    return events.list("lab", field_selector=f"involvedObject.name={name}")[0]


def test_an_event_names_the_object_and_the_component(events: KubeStore, recorder: EventRecorder) -> None:
    recorder.warning(TOPO, "Degraded", "link 1: peer r2 disagrees on spec.links[0].peer_intf")
    assert recorder.flush(10)
    [event] = about(events, "r1")
    assert event["involvedObject"] == {"apiVersion": "kubedtn.io/v1", "kind": "Topology", "name": "r1",
                                       "namespace": "lab", "uid": "u-1", "resourceVersion": "7"}  # fmt: skip
    assert (event["type"], event["reason"], event["count"]) == ("Warning", "Degraded", 1)
    assert event["source"] == {"component": "kubedtn-controller", "host": "controller-0"}
    assert event["firstTimestamp"] == event["lastTimestamp"] and event["metadata"]["namespace"] == "lab"


def test_repeats_bump_the_count_of_one_event(events: KubeStore, recorder: EventRecorder) -> None:
    for _ in range(3):
        recorder.normal(TOPO, "Reconciled", "2 links plumbed")
    recorder.normal(TOPO, "Reconciled", "3 links plumbed")  # another message: another Event
    assert recorder.flush(10)
    counts = sorted((e["message"], e["count"]) for e in about(events, "r1"))
    assert counts == [("2 links plumbed", 3), ("3 links plumbed", 1)]

    [bumped] = [e for e in about(events, "r1") if e["count"] == 3]
    events.delete("lab", bumped["metadata"]["name"])  # gone meanwhile (TTL): a new one is made
    recorder.normal(TOPO, "Reconciled", "2 links plumbed")
    assert recorder.flush(10)
    assert sorted(e["count"] for e in about(events, "r1")) == [1, 1]
    assert recorder.written == 5 and recorder.dropped == 0


def test_an_event_the_api_refuses_is_dropped_not_raised(
    events: KubeStore, recorder: EventRecorder, kubeapi: KubeApiServer
) -> None:
    with kubeapi.faults.active(kubeapi.faults.fail(503, resource="events")):
        recorder.warning(TOPO, "Failed", "the API is down")  # returns; no exception
        assert recorder.flush(10)
    assert recorder.dropped == 1
    recorder.warning(TOPO, "Failed", "the API is back")
    assert recorder.flush(10)
    assert [e["message"] for e in about(events, "r1")] == ["the API is back"]


def test_cluster_scoped_objects_get_their_events_in_default(
    events: KubeStore, recorder: EventRecorder
) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u-n1"}}
    recorder.warning(node, "NodeGone", "far ends towards n1 removed")
    assert recorder.flush(10)
    [event] = events.list("default", field_selector="involvedObject.name=n1")[0]
    assert event["involvedObject"]["kind"] == "Node" and "namespace" not in event["involvedObject"]
