"""The Kubernetes backend of the store on built-in resources, against the API server double:
core-group paths (``/api/v1``: Pods, Nodes, Events), another group's (``coordination.k8s.io``
Leases), cluster-scoped kinds (Nodes: no namespace in the path), field selectors, watches,
and the watch-fed cache (an informer of Pods and Nodes)."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from kubedtn.store import EventType, KubeObject
from kubedtn.store.errors import AlreadyExistsError, ConflictError, NotFoundError, StoreUnavailableError
from kubedtn.store.kube import KubeStore, api_client
from kubedtn.store.kubecache import CachedKubeStore
from kubedtn.store.kuberest import resource_path
from kubedtn.store.resource import EVENT, LEASE, NODE, POD, TOPOLOGY
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import kubeapi
from tests.unit.store.helpers import wait_until

__all__ = ["kubeapi"]  # a fixture


def pod(name: str, node: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "dtn"}},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
    }


@pytest.fixture
def client(kubeapi: KubeApiServer, tmp_path: Path) -> Iterator[k8s.ApiClient]:
    c = api_client(kubeconfig=str(tmp_path / "kubeconfig"))
    try:
        yield c
    finally:
        c.close()


def test_paths_follow_the_api_conventions() -> None:
    # API Conventions, "Resources": /api/v1 holds the core group, /apis/GROUP/VERSION the
    # others; namespaced kinds live under namespaces/NS, cluster-scoped ones never do.
    assert resource_path(POD, "default", "p1", "status") == "/api/v1/namespaces/default/pods/p1/status"
    assert resource_path(POD, None) == "/api/v1/pods"
    assert resource_path(NODE, "default", "n1") == "/api/v1/nodes/n1"
    assert resource_path(LEASE, "kubedtn-system", "l") == (
        "/apis/coordination.k8s.io/v1/namespaces/kubedtn-system/leases/l"
    )
    assert resource_path(TOPOLOGY, "lab", "r1") == "/apis/kubedtn.io/v1/namespaces/lab/topologies/r1"


def test_pods_live_in_the_core_group_with_a_status_subresource(
    client: k8s.ApiClient, kubeapi: KubeApiServer
) -> None:
    pods = KubeStore(client, resource=POD)
    created = pods.create(pod("p1", "n1"))
    assert created["apiVersion"] == "v1" and created["kind"] == "Pod"
    assert ("POST", "/api/v1/namespaces/default/pods") in kubeapi.requests
    with pytest.raises(AlreadyExistsError):
        pods.create(pod("p1", "n1"))

    rv = pods.write_status("default", "p1", resource_version=created["metadata"]["resourceVersion"],
                           status={"phase": "Running", "podIP": "10.0.0.5"})  # fmt: skip
    got = pods.get(None, "p1")
    assert got["status"]["podIP"] == "10.0.0.5" and got["metadata"]["resourceVersion"] == rv
    with pytest.raises(ConflictError):
        pods.update(created)  # its resourceVersion is older than the status write's

    pods.create(pod("p2", "n2"))
    on_n1, version = pods.list(field_selector="spec.nodeName=n1")
    assert [p["metadata"]["name"] for p in on_n1] == ["p1"] and version.isdigit()
    assert all(p["kind"] == "Pod" for p in on_n1)
    assert pods.delete("default", "p1") is None
    with pytest.raises(NotFoundError, match="pod default/p1"):
        pods.get("default", "p1")


def test_nodes_are_cluster_scoped(client: k8s.ApiClient, kubeapi: KubeApiServer) -> None:
    nodes = KubeStore(client, resource=NODE)
    created = nodes.create({"metadata": {"name": "n1", "namespace": "ignored"}})
    assert "namespace" not in created["metadata"]
    assert ("POST", "/api/v1/nodes") in kubeapi.requests
    assert nodes.get(None, "n1")["metadata"]["uid"] == created["metadata"]["uid"]
    assert nodes.get("default", "n1")["metadata"]["name"] == "n1"  # a namespace means nothing here
    assert nodes.get_changed([(None, "n1", "")]).keys() == {("", "n1")}

    ready = {"conditions": [{"type": "Ready", "status": "True"}]}
    nodes.write_status(None, "n1", resource_version=created["metadata"]["resourceVersion"], status=ready)
    assert nodes.get(None, "n1")["status"] == ready
    assert [n["metadata"]["name"] for n in nodes.list("default")[0]] == ["n1"]
    nodes.delete(None, "n1")
    with pytest.raises(NotFoundError, match="get node n1:"):
        nodes.get(None, "n1")


def test_leases_and_events_in_their_groups(client: k8s.ApiClient, kubeapi: KubeApiServer) -> None:
    kubeapi.create("", "v1", "namespaces", {"metadata": {"name": "kubedtn-system"}})
    leases = KubeStore(client, resource=LEASE)
    lease = leases.create(
        {"metadata": {"name": "l", "namespace": "kubedtn-system"}, "spec": {"holderIdentity": "a"}}
    )
    assert lease["apiVersion"] == "coordination.k8s.io/v1"
    lease["spec"]["holderIdentity"] = "b"
    assert leases.update(lease)["spec"]["holderIdentity"] == "b"
    with pytest.raises(ConflictError):
        leases.update(lease)  # API Conventions, "Concurrency Control": a stale version is 409

    events = KubeStore(client, resource=EVENT)
    events.create(
        {"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p1"}, "reason": "A"}
    )
    events.create(
        {"metadata": {"name": "e2"}, "involvedObject": {"kind": "Pod", "name": "p2"}, "reason": "B"}
    )
    chosen, _ = events.list("default", field_selector="involvedObject.name=p2")
    assert [e["reason"] for e in chosen] == ["B"]


def test_a_watch_of_pods_narrowed_to_a_node(client: k8s.ApiClient, kubeapi: KubeApiServer) -> None:
    pods = KubeStore(client, resource=POD)
    _, version = pods.list()
    watch = pods.watch(resource_version=version, field_selector="spec.nodeName=n1", timeout=10)
    try:
        pods.create(pod("elsewhere", "n2"))
        pods.create(pod("here", "n1"))
        pods.delete("default", "here")
        first, second = next(watch), next(watch)
    finally:
        watch.stop()
    assert (first.type, first.object["metadata"]["name"]) == (EventType.ADDED, "here")
    assert first.object["kind"] == "Pod" and second.type is EventType.DELETED


def test_an_informer_of_nodes_and_pods_follows_the_api(client: k8s.ApiClient, kubeapi: KubeApiServer) -> None:
    writer = KubeStore(client, resource=POD)
    writer.create(pod("before", "n1"))
    heard: queue.Queue[tuple[EventType, str]] = queue.Queue()

    def hear(kind: EventType, obj: KubeObject) -> None:
        heard.put((kind, obj["metadata"]["name"]))

    nodes = CachedKubeStore(client, resource=NODE, backoff=(0.05,), handlers=[hear])
    pods = CachedKubeStore(
        client, resource=POD, backoff=(0.05,), field_selector="spec.nodeName=n1", handlers=[hear]
    )
    try:
        assert nodes.cache.wait_synced(10) and pods.cache.wait_synced(10)
        assert heard.get(timeout=10) == (EventType.ADDED, "before")  # the first list's objects

        nodes.create({"metadata": {"name": "n1"}})
        assert nodes.get(None, "n1")["metadata"]["name"] == "n1"  # its own write, at once
        KubeStore(client, resource=NODE).create({"metadata": {"name": "n2"}})
        wait_until(lambda: ("", "n2") in nodes.get_changed([("", "n2", "")]), what="n2 in the cache")
        writer.create(pod("other-node", "n2"))
        writer.create(pod("after", "n1"))
        wait_until(lambda: ("default", "after") in pods.get_changed([("default", "after", "")]), what="pod")
        assert [p["metadata"]["name"] for p in pods.list()[0]] == ["after", "before"]
        assert pods.list(field_selector="metadata.name=after")[0][0]["metadata"]["name"] == "after"

        # Changes made while the watch is down arrive with the list after it, as handler calls.
        kubeapi.faults.drop_watches()
        writer.delete("default", "before")
        kubeapi.store.compact()  # the watch cannot resume: the cache must list again
        wanted = {(EventType.ADDED, "n1"), (EventType.ADDED, "n2"), (EventType.ADDED, "after"),
                  (EventType.DELETED, "before")}  # fmt: skip
        seen: set[tuple[EventType, str]] = set()
        while not wanted <= seen:
            seen.add(heard.get(timeout=10))
        assert all(name != "other-node" for _, name in seen)
        assert [p["metadata"]["name"] for p in pods.list()[0]] == ["after"]
    finally:
        nodes.close()
        pods.close()


def test_a_request_timeout_is_one_attempt_with_the_same_errors(
    client: k8s.ApiClient, kubeapi: KubeApiServer
) -> None:
    leases = KubeStore(client, resource=LEASE, request_timeout=0.5)
    with pytest.raises(NotFoundError, match="get lease default/l"):
        leases.get("default", "l")
    lease = leases.create({"metadata": {"name": "l"}, "spec": {"holderIdentity": "a"}})
    with pytest.raises(AlreadyExistsError):
        leases.create({"metadata": {"name": "l"}})
    leases.update(dict(lease, spec={"holderIdentity": "b"}))
    with pytest.raises(ConflictError):
        leases.update(lease)  # its resourceVersion is stale now

    # A silent server: one attempt, not the pool's default of four (urllib3's retries).
    path = "/apis/coordination.k8s.io/v1/namespaces/default/leases/l"
    before = kubeapi.requests.count(("GET", path))
    with kubeapi.faults.active(kubeapi.faults.hang(resource="leases")), pytest.raises(StoreUnavailableError):
        leases.get("default", "l")
    assert kubeapi.requests.count(("GET", path)) == before + 1
