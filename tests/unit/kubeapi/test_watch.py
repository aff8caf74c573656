"""Watches: from a resourceVersion, 410 Gone when too old, bookmarks, selectors, timeouts."""

from __future__ import annotations

import itertools

from tests.support.kubeapi.client import call, watching
from tests.support.kubeapi.server import KubeApiServer
from tests.unit.kubeapi.helpers import PODS, TOPOS, pod, topology, with_topologies


def test_watch_from_a_list_misses_nothing_written_after_it(kubeapi: KubeApiServer) -> None:
    # "Concurrency Control and Consistency": a watch from the list's resourceVersion sees every
    # mutation after the list, in order, and none before it.
    api = with_topologies(kubeapi)
    call(api.url, "POST", TOPOS, topology("before"))
    rv = call(api.url, "GET", TOPOS).body["metadata"]["resourceVersion"]
    call(api.url, "POST", TOPOS, topology("r1"))
    call(
        api.url, "PATCH", f"{TOPOS}/r1", {"metadata": {"labels": {"x": "1"}}}, "application/merge-patch+json"
    )
    call(api.url, "DELETE", f"{TOPOS}/r1")
    with watching(api.url, f"{TOPOS}?watch=true&resourceVersion={rv}") as events:
        seen = [(e["type"], e["object"]["metadata"]["name"]) for e in itertools.islice(events, 3)]
    assert seen == [("ADDED", "r1"), ("MODIFIED", "r1"), ("DELETED", "r1")]


def test_watch_without_a_version_starts_with_the_current_objects(kubeapi: KubeApiServer) -> None:
    # "Verbs on Resources": GET ?watch=true streams changes; without a resourceVersion the stream
    # starts with the state (ADDED), then follows live changes.
    api = with_topologies(kubeapi)
    call(api.url, "POST", TOPOS, topology("r1"))
    with watching(api.url, f"{TOPOS}?watch=true") as events:
        first = next(events)
        call(api.url, "POST", TOPOS, topology("r2"))
        second = next(events)
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "r1")
    assert (second["type"], second["object"]["metadata"]["name"]) == ("ADDED", "r2")
    assert int(second["object"]["metadata"]["resourceVersion"]) > int(
        first["object"]["metadata"]["resourceVersion"]
    )


def test_watch_from_a_compacted_version_is_410_expired(kubeapi: KubeApiServer) -> None:
    # "HTTP Status codes": 410 StatusGone, the item is no longer available; here as the ERROR event
    # of the watch, carrying a Status (reason Expired), as the real server sends it.
    api = with_topologies(kubeapi)
    old = call(api.url, "POST", TOPOS, topology("r0")).body["metadata"]["resourceVersion"]
    for i in range(api.store.window + 1):  # the window is small in the fixture: push r0's event out
        call(
            api.url,
            "PATCH",
            f"{TOPOS}/r0",
            {"metadata": {"labels": {"i": str(i)}}},
            "application/merge-patch+json",
        )
    with watching(api.url, f"{TOPOS}?watch=true&resourceVersion={old}") as events:
        error = next(events)
        assert next(events, None) is None  # the stream ends after the error
    assert error["type"] == "ERROR"
    assert error["object"]["kind"] == "Status"
    assert (error["object"]["code"], error["object"]["reason"]) == (410, "Expired")
    current = call(api.url, "GET", TOPOS).body["metadata"]["resourceVersion"]
    with watching(api.url, f"{TOPOS}?watch=true&resourceVersion={current}&timeoutSeconds=0.01") as events:
        assert list(events) == []  # a fresh version is fine; the timeout ends it


def test_bookmarks_carry_the_current_version(kubeapi: KubeApiServer) -> None:
    # "Concurrency Control and Consistency": a watch resumes from a resourceVersion; a BOOKMARK gives
    # the client a newer one to resume from, even when nothing it selected changed.
    api = with_topologies(kubeapi)
    rv = call(api.url, "GET", TOPOS).body["metadata"]["resourceVersion"]
    call(api.url, "POST", PODS, pod("elsewhere"))  # a change of another resource
    path = f"{TOPOS}?watch=true&resourceVersion={rv}&allowWatchBookmarks=true"
    with watching(api.url, path) as events:
        bookmark = next(events)
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["kind"] == "Topology" and "spec" not in bookmark["object"]
    assert int(bookmark["object"]["metadata"]["resourceVersion"]) > int(rv)


def test_a_watch_with_a_selector_sees_objects_enter_and_leave_it(kubeapi: KubeApiServer) -> None:
    # "Label, selector, and annotation conventions": a relabelled object leaves the selection; the
    # watch reports it as DELETED (and ADDED when it comes back).
    api = with_topologies(kubeapi)
    rv = call(api.url, "POST", TOPOS, topology("r1", labels={"lab": "a"})).body["metadata"]["resourceVersion"]
    call(api.url, "POST", TOPOS, topology("r2", labels={"lab": "b"}))
    move = "application/merge-patch+json"
    call(api.url, "PATCH", f"{TOPOS}/r1", {"metadata": {"labels": {"lab": "b"}}}, move)
    call(api.url, "PATCH", f"{TOPOS}/r1", {"metadata": {"labels": {"lab": "a"}}}, move)
    with watching(api.url, f"{TOPOS}?watch=true&resourceVersion={rv}&labelSelector=lab%3Da") as events:
        seen = [(e["type"], e["object"]["metadata"]["name"]) for e in itertools.islice(events, 2)]
    assert seen == [("DELETED", "r1"), ("ADDED", "r1")]


def test_a_bad_selector_fails_before_the_stream(kubeapi: KubeApiServer) -> None:
    # "HTTP Status codes": 400 for a request that cannot succeed.
    reply = call(kubeapi.url, "GET", f"{PODS}?watch=true&fieldSelector=spec.image%3Dx")
    assert reply.code == 400 and reply.body["reason"] == "BadRequest"


def test_compaction_expires_every_older_version(kubeapi: KubeApiServer) -> None:
    # "Concurrency Control and Consistency": a watch resumes from a version only while the server
    # still has the changes after it; `store.compact()` drops them all at once (as etcd compaction).
    api = with_topologies(kubeapi)
    old = call(api.url, "POST", TOPOS, topology("r1")).body["metadata"]["resourceVersion"]
    now = call(api.url, "POST", TOPOS, topology("r2")).body["metadata"]["resourceVersion"]
    api.store.compact()
    with watching(api.url, f"{TOPOS}?watch=true&resourceVersion={old}") as events:
        assert [e["object"]["code"] for e in events] == [410]
    with watching(api.url, f"{TOPOS}?watch=true&resourceVersion={now}") as events:
        call(api.url, "DELETE", f"{TOPOS}/r2")
        assert next(events)["type"] == "DELETED"
