"""The Kubernetes backend of the store against the API server double (tests/support/kubeapi):
the ObjectStore contract, the API's answers as the store's errors, and the watch-fed cache
through watches dropped, 410 Gone and the API unavailable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedtn.store import EventType
from kubedtn.store.errors import (
    AlreadyExistsError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    StoreUnavailableError,
)
from kubedtn.store.kube import KubeStore, api_client
from kubedtn.store.kubecache import CachedKubeStore
from kubedtn.store.resource import TOPOLOGY
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD, kubeapi
from tests.support.netns import wait_until

__all__ = ["kubeapi"]  # a fixture


def topology(name: str, uid: int = 1, namespace: str = "default") -> dict[str, Any]:
    link = {"uid": uid, "peer_pod": "r2", "local_intf": "eth1", "peer_intf": "eth1"}
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"links": [link]}}


@pytest.fixture
def store(kubeapi: KubeApiServer, tmp_path: Path) -> Iterator[KubeStore]:
    kubeapi.register_crd(TOPOLOGY_CRD)
    s = KubeStore(api_client(kubeconfig=str(tmp_path / "kubeconfig")), resource=TOPOLOGY)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def cached(kubeapi: KubeApiServer, tmp_path: Path) -> Iterator[CachedKubeStore]:
    kubeapi.register_crd(TOPOLOGY_CRD)
    s = CachedKubeStore(
        api_client(kubeconfig=str(tmp_path / "kubeconfig")), resource=TOPOLOGY, backoff=(0.05, 0.1)
    )
    assert s.cache.wait_synced(10)
    try:
        yield s
    finally:
        s.close()


def test_create_get_update_and_status_follow_the_contract(store: KubeStore) -> None:
    created = store.create(topology("r1"))
    meta = created["metadata"]
    assert meta["resourceVersion"] and meta["uid"] and created["apiVersion"] == "kubedtn.io/v1"
    assert store.get("default", "r1")["spec"] == topology("r1")["spec"]

    with pytest.raises(AlreadyExistsError):
        store.create(topology("r1"))

    changed = dict(created, spec=topology("r1", uid=7)["spec"])
    updated = store.update(changed)
    assert updated["spec"]["links"][0]["uid"] == 7
    with pytest.raises(ConflictError):
        store.update(changed)  # the resourceVersion it carries is stale now

    rv = store.write_status("default", "r1", resource_version=updated["metadata"]["resourceVersion"],
                            status={"src_ip": "10.0.0.1"})  # fmt: skip
    got = store.get("default", "r1")
    assert got["status"] == {"src_ip": "10.0.0.1"} and got["metadata"]["resourceVersion"] == rv
    assert got["spec"]["links"][0]["uid"] == 7  # the status write left the spec alone
    assert store.get_if_changed("default", "r1", rv) is None
    assert store.write_statuses([("default", "r1", "1", {"src_ip": "x"}), ("default", "gone", rv, {})]) == [
        None,
        None,
    ]


def test_list_select_and_delete(store: KubeStore) -> None:
    store.create(topology("r2"))
    labelled = topology("r1")
    labelled["metadata"]["labels"] = {"lab": "a"}
    store.create(labelled)
    items, version = store.list()
    assert [o["metadata"]["name"] for o in items] == ["r1", "r2"] and version.isdigit()
    chosen, _ = store.list(label_selector="lab=a")
    assert [o["metadata"]["name"] for o in chosen] == ["r1"]
    assert store.delete("default", "r2") is None
    with pytest.raises(NotFoundError):
        store.get("default", "r2")
    assert store.get_changed([("default", "r1", ""), ("default", "r2", "")]).keys() == {("default", "r1")}


def test_a_watch_sees_changes_in_order_and_410_is_expired(store: KubeStore, kubeapi: KubeApiServer) -> None:
    _, version = store.list()
    watch = store.watch(resource_version=version, timeout=10)
    try:
        store.create(topology("r1"))
        store.delete("default", "r1")
        seen = [(next(watch).type, next(watch).type)]
    finally:
        watch.stop()
    assert seen == [(EventType.ADDED, EventType.DELETED)]

    for i in range(60):  # more than the double's event window (50): version 1 is compacted
        store.create(topology(f"p{i}"))
    with pytest.raises(ExpiredError):
        next(iter(store.watch(resource_version="1", timeout=5)))


def test_an_unreachable_api_is_a_temporary_error(store: KubeStore, kubeapi: KubeApiServer) -> None:
    with (
        kubeapi.faults.active(kubeapi.faults.fail(503, resource="topologies")),
        pytest.raises(StoreUnavailableError),
    ):
        store.get("default", "r1")


def test_the_cache_follows_the_api_through_dropped_watches_and_outages(
    cached: CachedKubeStore, kubeapi: KubeApiServer
) -> None:
    cached.create(topology("r1"))
    assert cached.get("default", "r1")["metadata"]["name"] == "r1"  # its own write, at once

    writer = KubeStore(cached._client, resource=TOPOLOGY)  # another client's writes
    writer.create(topology("r2"))
    wait_until(lambda: ("default", "r2") in cached.get_changed([("default", "r2", "")]), what="r2 cached")

    assert kubeapi.faults.drop_watches() >= 1
    writer.create(topology("r3"))
    wait_until(lambda: cached.list()[0] and len(cached.list()[0]) == 3, what="r3 after a dropped watch")

    # The API answers nothing useful for a while: reads go on from the cache; every change
    # made meanwhile arrives once it is back.
    outage = kubeapi.faults.fail(503, resource="topologies")
    assert cached.get("default", "r1")["metadata"]["name"] == "r1"
    kubeapi.faults.drop_watches()
    kubeapi.faults.clear(outage)
    for i in range(60):  # also past the event window: the cache must list again
        writer.create(topology(f"q{i}"))
    writer.delete("default", "r2")
    wait_until(lambda: len(cached.list()[0]) == 62, what="every change made meanwhile")
    assert ("default", "r2") not in cached.get_changed([("default", "r2", "")])


def test_a_latest_read_goes_past_a_cache_that_has_not_heard_of_a_change(
    cached: CachedKubeStore, kubeapi: KubeApiServer
) -> None:
    writer = KubeStore(cached._client, resource=TOPOLOGY)  # another client's writes
    writer.create(topology("r1"))
    wait_until(lambda: ("default", "r1") in cached.get_changed([("default", "r1", "")]), what="r1 cached")
    with kubeapi.faults.active(kubeapi.faults.hang(method="WATCH")):
        kubeapi.faults.drop_watches()
        assert kubeapi.faults.wait_for_held(1), "the cache to list again and wait on a held watch"
        writer.create(topology("r2"))
        assert cached.get_changed([("default", "r2", "")]) == {}  # the cache has not heard of it
        latest = cached.get_changed([("default", "r1", ""), ("default", "r2", "")], latest=True)
        assert latest.keys() == {("default", "r1"), ("default", "r2")}
        version = str(latest[("default", "r2")]["metadata"]["resourceVersion"])  # type: ignore[index]
        assert cached.get_changed([("default", "r2", version)], latest=True) == {("default", "r2"): None}


def test_the_cache_thread_ends_with_the_store(kubeapi: KubeApiServer, tmp_path: Path) -> None:
    kubeapi.register_crd(TOPOLOGY_CRD)
    s = CachedKubeStore(api_client(kubeconfig=str(tmp_path / "kubeconfig")), resource=TOPOLOGY)
    assert s.cache.wait_synced(10)
    assert any(t.name == "kubedtn-informer" for t in threading.enumerate())
    s.close()
    assert not any(t.name == "kubedtn-informer" for t in threading.enumerate())


def test_the_cache_outlives_an_answer_that_changes_later(kubeapi: KubeApiServer, tmp_path: Path) -> None:
    """A 404 (the CRD not installed yet) does not end the informer: it lists once it can."""
    s = CachedKubeStore(
        api_client(kubeconfig=str(tmp_path / "kubeconfig")), resource=TOPOLOGY, backoff=(0.05, 0.1)
    )
    try:
        assert not s.cache.wait_synced(0.3)
        kubeapi.register_crd(TOPOLOGY_CRD)
        assert s.cache.wait_synced(10)
    finally:
        s.close()
