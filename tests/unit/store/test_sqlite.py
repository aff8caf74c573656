"""Every semantic of the SQLite store, through its public interface, in one process."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from functools import partial
from pathlib import Path

import pytest

from kubedtn.errors import KubedtnError, TemporaryError, ValidationError
from kubedtn.store import (
    TOPOLOGY,
    AlreadyExistsError,
    ConflictError,
    EventType,
    ExpiredError,
    NotFoundError,
    Resource,
    SqliteStore,
    StoreError,
    StoreUnavailableError,
    default_store_path,
    open_store,
)
from kubedtn.store.testing import temp_store
from tests.unit.store.conftest import FakeClock
from tests.unit.store.helpers import consumed, next_event, wait_until

NODE = Resource(group="", version="v1", plural="nodes", kind="Node", namespaced=False)


def topology(name: str, namespace: str | None = None, **metadata: object) -> dict[str, object]:
    meta: dict[str, object] = {"name": name, **metadata}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "kubedtn.io/v1", "kind": "Topology", "metadata": meta, "spec": {"links": []}}


def events_of(store: SqliteStore, resource_version: str, **kwargs: object) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of every event after resource_version, stopping when quiet."""
    watch = store.watch(resource_version=resource_version, timeout=0.05, **kwargs)  # type: ignore[arg-type]
    return [
        (e.type.value, e.object["metadata"]["name"], e.object["metadata"]["resourceVersion"]) for e in watch
    ]


# ---- create / get / list --------------------------------------------------------------


def test_create_then_get(store: SqliteStore) -> None:
    created = store.create(topology("r1"))
    assert created["metadata"]["namespace"] == "default"
    assert created["metadata"]["resourceVersion"] == "1"
    assert created["metadata"]["generation"] == 1
    assert created["metadata"]["creationTimestamp"] == "2023-11-14T22:13:20Z"
    assert len(created["metadata"]["uid"]) == 36
    assert store.get("default", "r1") == created


def test_returned_objects_are_the_callers_own(store: SqliteStore) -> None:
    created = store.create(topology("r1"))
    created["spec"]["links"].append("mutated")
    fetched = store.get("default", "r1")
    fetched["spec"]["links"].append("mutated")
    assert store.get("default", "r1")["spec"] == {"links": []}


def test_create_of_a_taken_name_is_already_exists(store: SqliteStore) -> None:
    store.create(topology("r1"))
    with pytest.raises(AlreadyExistsError, match=r"^topology default/r1 already exists$") as caught:
        store.create(topology("r1"))
    assert isinstance(caught.value, ConflictError)
    store.create(topology("r1", "other"))  # the same name in another namespace is another object


def test_get_missing_names_the_object(store: SqliteStore) -> None:
    with pytest.raises(NotFoundError, match=r"^topology lab/r9 not found$"):
        store.get("lab", "r9")


def test_invalid_object_is_rejected_before_anything_is_written(store: SqliteStore) -> None:
    with pytest.raises(ValidationError, match=r"metadata\.name 'R1' is not a valid name"):
        store.create(topology("R1"))
    assert store.list() == ([], "0")


def test_get_if_changed_skips_only_the_version_the_reader_has(store: SqliteStore) -> None:
    first = store.create(topology("r1"))
    rv = first["metadata"]["resourceVersion"]
    assert store.get_if_changed("default", "r1", rv) is None
    first["status"] = {"net_ns": "/run/netns/a"}
    second = store.update_status(first)
    assert store.get_if_changed("default", "r1", rv) == second
    assert store.get_if_changed("default", "r1", second["metadata"]["resourceVersion"]) is None
    with pytest.raises(NotFoundError, match="r1"):
        store.get_if_changed("other", "r1", rv)


def test_get_changed_reads_many_like_get_if_changed(store: SqliteStore) -> None:
    made = [store.create(topology(f"r{i}")) for i in range(650)]  # three statements' worth
    old = {m["metadata"]["name"]: m["metadata"]["resourceVersion"] for m in made}
    changed = made[5]
    changed["status"] = {"net_ns": "/run/netns/a"}
    new = store.update_status(changed)

    got = store.get_changed(
        [("default", name, rv) for name, rv in old.items()]
        + [("default", "absent", "1"), ("other", "r1", old["r1"]), ("default", "r7", "")]
    )

    assert got[("default", "r5")] == new
    assert got[("default", "r7")] == made[7]  # no version known: returned
    assert {key for key, obj in got.items() if obj is None} == {
        ("default", n) for n in old if n not in ("r5", "r7")
    }
    assert ("default", "absent") not in got and ("other", "r1") not in got
    assert store.get_changed([]) == {}


def test_list_sorted_with_consistent_resource_version(store: SqliteStore) -> None:
    store.create(topology("r2", "b"))
    store.create(topology("r1", "b"))
    store.create(topology("r3", "a"))
    items, rv = store.list()
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in items] == [
        ("a", "r3"),
        ("b", "r1"),
        ("b", "r2"),
    ]
    assert rv == "3"
    items, rv = store.list(namespace="b")
    assert [o["metadata"]["name"] for o in items] == ["r1", "r2"]
    assert rv == "3"


def test_list_with_label_selector(store: SqliteStore) -> None:
    store.create(topology("r1", labels={"lab": "x", "role": "router"}))
    store.create(topology("r2", labels={"lab": "x", "role": "host"}))
    store.create(topology("r3", labels={"lab": "y"}))
    store.create(topology("r4"))

    def names(selector: object) -> list[str]:
        return [o["metadata"]["name"] for o in store.list(label_selector=selector)[0]]  # type: ignore[arg-type]

    assert names("lab=x") == ["r1", "r2"]
    assert names("lab=x,role!=host") == ["r1"]
    assert names("lab in (x,y),!role") == ["r3"]
    assert names("!lab") == ["r4"]
    assert names({"lab": "y"}) == ["r3"]
    with pytest.raises(ValidationError, match="label selector 'lab=x,'"):
        names("lab=x,")


# ---- update / update_status ------------------------------------------------------------


def test_update_bumps_generation_on_spec_change_only(store: SqliteStore) -> None:
    obj = store.create(topology("r1"))
    obj["spec"] = {"links": [{"uid": 1}]}
    obj = store.update(obj)
    assert (obj["metadata"]["generation"], obj["metadata"]["resourceVersion"]) == (2, "2")
    obj["metadata"]["labels"] = {"lab": "x"}
    obj = store.update(obj)
    assert (obj["metadata"]["generation"], obj["metadata"]["resourceVersion"]) == (2, "3")
    assert store.get("default", "r1") == obj


def test_update_with_stale_resource_version_is_a_conflict(store: SqliteStore) -> None:
    first = store.create(topology("r1"))
    second = store.get("default", "r1")
    first["spec"] = {"links": [1]}
    store.update(first)
    second["spec"] = {"links": [2]}
    with pytest.raises(
        ConflictError, match=r"^topology default/r1: resourceVersion 1 is stale, current is 2"
    ):
        store.update(second)
    assert store.get("default", "r1")["spec"] == {"links": [1]}


def test_update_of_missing_object_is_not_found(store: SqliteStore) -> None:
    with pytest.raises(NotFoundError, match="topology default/r1 not found"):
        store.update({**topology("r1"), "metadata": {"name": "r1", "resourceVersion": "1"}})


def test_update_ignores_status_and_a_no_op_writes_nothing(store: SqliteStore) -> None:
    obj = store.create(topology("r1"))
    obj["status"] = {"phase": "sneaky"}
    same = store.update(obj)
    assert same["metadata"]["resourceVersion"] == "1"
    assert "status" not in store.get("default", "r1")
    assert store.list()[1] == "1", "no new resourceVersion"
    assert events_of(store, "1") == []


def test_update_status_changes_only_status(store: SqliteStore) -> None:
    obj = store.create(topology("r1"))
    obj["spec"] = {"links": ["ignored"]}
    obj["status"] = {"links": [{"uid": 1}]}
    updated = store.update_status(obj)
    assert updated["status"] == {"links": [{"uid": 1}]}
    assert updated["spec"] == {"links": []}
    assert updated["metadata"]["generation"] == 1
    assert updated["metadata"]["resourceVersion"] == "2"
    with pytest.raises(ConflictError, match="resourceVersion 1 is stale, current is 2"):
        store.update_status(obj)


def test_write_status_is_update_status_returning_the_version(store: SqliteStore) -> None:
    obj = store.create(topology("r1"))
    rv = obj["metadata"]["resourceVersion"]
    status = {"net_ns": "/run/netns/ä", "links": [{"uid": 1, "peer_pod": "r2"}]}
    new_rv = store.write_status("default", "r1", resource_version=rv, status=status)
    stored = store.get("default", "r1")
    assert stored["status"] == status
    assert stored["metadata"]["resourceVersion"] == new_rv != rv
    assert {k: v for k, v in stored.items() if k != "status"} == {
        **obj,
        "metadata": {**obj["metadata"], "resourceVersion": new_rv},
    }
    assert events_of(store, rv) == [("MODIFIED", "r1", new_rv)]
    # The same status again writes nothing.
    assert store.write_status("default", "r1", resource_version=new_rv, status=dict(status)) == new_rv
    assert events_of(store, new_rv) == []


def test_write_status_errors_are_those_of_update_status(store: SqliteStore) -> None:
    obj = store.create(topology("r1"))
    rv = obj["metadata"]["resourceVersion"]
    store.write_status("default", "r1", resource_version=rv, status={"src_ip": "10.0.0.1"})
    with pytest.raises(ConflictError, match=f"resourceVersion {rv} is stale"):
        store.write_status("default", "r1", resource_version=rv, status={"src_ip": "10.0.0.2"})
    with pytest.raises(NotFoundError, match="r2"):
        store.write_status("default", "r2", resource_version=rv, status={})
    with pytest.raises(ValidationError, match="not JSON-serialisable"):
        store.write_status("default", "r1", resource_version="2", status={"bad": object()})
    assert store.get("default", "r1")["status"] == {"src_ip": "10.0.0.1"}


def test_write_statuses_writes_what_matches_and_leaves_the_rest(store: SqliteStore) -> None:
    r1, r2, r3 = (store.create(topology(n)) for n in ("r1", "r2", "r3"))
    v1, v2, v3 = (o["metadata"]["resourceVersion"] for o in (r1, r2, r3))
    store.write_status("default", "r3", resource_version=v3, status={"src_ip": "10.0.0.3"})
    r3_now = store.get("default", "r3")["metadata"]["resourceVersion"]

    got = store.write_statuses(
        [
            ("default", "r1", v1, {"src_ip": "10.0.0.1"}),
            ("default", "r2", v2, {"src_ip": "10.0.0.2"}),
            ("default", "r1", v1, {"src_ip": "10.0.0.9"}),  # r1 again, from the old version: stale
            ("default", "r3", v3, {"src_ip": "10.0.0.9"}),  # stale
            ("default", "r4", "1", {}),  # absent
            ("default", "r2", "5", {"bad": object()}),  # malformed
            ("default", "r3", r3_now, {"src_ip": "10.0.0.3"}),  # already so: nothing written
        ]
    )

    assert got == [str(int(r3_now) + 1), str(int(r3_now) + 2), None, None, None, None, r3_now]
    assert [store.get("default", n).get("status") for n in ("r1", "r2", "r3")] == [
        {"src_ip": "10.0.0.1"},
        {"src_ip": "10.0.0.2"},
        {"src_ip": "10.0.0.3"},
    ]
    assert events_of(store, r3_now) == [("MODIFIED", "r1", got[0]), ("MODIFIED", "r2", got[1])]
    assert store.list()[1] == got[1]
    assert store.write_statuses([]) == []


def test_write_statuses_compacts_when_it_passes_a_multiple(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db", max_events=2, compact_every=4) as store:
        versions = [store.create(topology(f"r{i}"))["metadata"]["resourceVersion"] for i in range(3)]
        writes = [("default", f"r{i}", rv, {"x": 1}) for i, rv in enumerate(versions)]  # rv 1..3
        assert store.write_statuses(writes) == ["4", "5", "6"]  # passes 4 without landing on it
        with pytest.raises(ExpiredError):
            store.watch(resource_version="1")


# ---- batch ---------------------------------------------------------------------------------


def test_batch_commits_its_writes_together_and_others_see_them_at_the_end(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store, SqliteStore(tmp_path / "s.db") as other:
        first = store.create(topology("r1"))
        with store.batch():
            first["status"] = {"net_ns": "/run/netns/a"}
            store.update_status(first)
            store.create(topology("r2"))
            # Reads inside the batch see its writes; another connection does not yet.
            assert [o["metadata"]["name"] for o in store.list()[0]] == ["r1", "r2"]
            assert store.get("default", "r1")["status"] == {"net_ns": "/run/netns/a"}
            assert [o["metadata"]["name"] for o in other.list()[0]] == ["r1"]
        assert other.get("default", "r1")["status"] == {"net_ns": "/run/netns/a"}
        assert [e[0] for e in events_of(other, "1")] == ["MODIFIED", "ADDED"]


def test_a_batch_takes_the_write_lock_at_its_first_write(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store, SqliteStore(tmp_path / "s.db", busy_timeout=0.05) as other:
        first = store.create(topology("r1"))
        with store.batch():
            assert store.get("default", "r1") == first
            other.create(topology("r2"))  # not locked out while the batch has only read
            first["status"] = {"net_ns": "/run/netns/a"}
            store.update_status(first)
            with pytest.raises(StoreUnavailableError, match="database is locked"):
                other.create(topology("r3"))  # the batch holds the lock from its first write
        other.create(topology("r3"))
        assert [o["metadata"]["name"] for o in other.list()[0]] == ["r1", "r2", "r3"]
        assert other.get("default", "r1")["status"] == {"net_ns": "/run/netns/a"}


def test_a_batch_that_only_reads_ends_cleanly(store: SqliteStore) -> None:
    store.create(topology("r1"))
    _, before = store.list()
    with store.batch():
        store.get("default", "r1")
    assert store.list()[1] == before


def test_a_failed_write_in_a_batch_is_undone_alone(store: SqliteStore) -> None:
    stale = store.create(topology("r1"))
    with store.batch():
        store.create(topology("r2"))
        with pytest.raises(AlreadyExistsError):
            store.create(topology("r2"))
        fresh = store.update_status({**stale, "status": {"src_ip": "10.0.0.1"}})
        with pytest.raises(ConflictError, match="stale"):
            store.update_status({**stale, "status": {"src_ip": "10.0.0.2"}})
    assert store.get("default", "r1")["status"] == {"src_ip": "10.0.0.1"}
    assert fresh["metadata"]["resourceVersion"] == "3"
    assert [o["metadata"]["name"] for o in store.list()[0]] == ["r1", "r2"]


def test_an_error_leaving_a_batch_undoes_all_of_it_and_nested_batches_join(store: SqliteStore) -> None:
    with pytest.raises(RuntimeError), store.batch():
        store.create(topology("r1"))
        with store.batch():
            store.create(topology("r2"))
        raise RuntimeError("stop")
    assert store.list()[0] == []
    store.create(topology("r3"))  # the store works normally afterwards
    assert [o["metadata"]["name"] for o in store.list()[0]] == ["r3"]


# ---- delete and finalizers ---------------------------------------------------------------


def test_delete_without_finalizers_is_immediate(store: SqliteStore) -> None:
    store.create(topology("r1"))
    assert store.delete("default", "r1") is None
    with pytest.raises(NotFoundError):
        store.get("default", "r1")
    assert events_of(store, "1") == [("DELETED", "r1", "2")]
    with pytest.raises(NotFoundError, match="topology default/r1 not found"):
        store.delete("default", "r1")


def test_delete_precondition(store: SqliteStore) -> None:
    store.create(topology("r1"))
    with pytest.raises(ConflictError, match="resourceVersion 0 is stale, current is 1"):
        store.delete("default", "r1", resource_version="0")
    assert store.delete("default", "r1", resource_version="1") is None


def test_delete_with_finalizers_waits_for_the_last_one(store: SqliteStore) -> None:
    store.create(topology("r1", finalizers=["kubedtn.io/links", "kubedtn.io/other"]))
    marked = store.delete("default", "r1")
    assert marked is not None
    assert marked["metadata"]["deletionTimestamp"] == "2023-11-14T22:13:20Z"
    assert store.get("default", "r1") == marked
    assert store.delete("default", "r1") == marked, "deleting again changes nothing"
    with pytest.raises(ValidationError, match="no finalizer may be added"):
        store.update(
            {
                **marked,
                "metadata": {**marked["metadata"], "finalizers": [*marked["metadata"]["finalizers"], "x"]},
            }
        )

    marked["metadata"]["finalizers"] = ["kubedtn.io/other"]
    still = store.update(marked)
    assert store.get("default", "r1") == still
    still["metadata"]["finalizers"] = []
    last = store.update(still)
    assert "finalizers" not in last["metadata"]
    with pytest.raises(NotFoundError):
        store.get("default", "r1")
    assert events_of(store, "1") == [("MODIFIED", "r1", "2"), ("MODIFIED", "r1", "3"), ("DELETED", "r1", "4")]


# ---- watch ----------------------------------------------------------------------------------


def test_watch_from_a_resource_version_sees_every_later_change_in_order(store: SqliteStore) -> None:
    obj = store.create(topology("r1"))
    _, rv = store.list()
    obj["spec"] = {"links": [1]}
    obj = store.update(obj)
    obj["status"] = {"ok": True}
    store.update_status(obj)
    store.create(topology("r2", "lab"))
    store.delete("default", "r1")
    assert events_of(store, rv) == [
        ("MODIFIED", "r1", "2"),
        ("MODIFIED", "r1", "3"),
        ("ADDED", "r2", "4"),
        ("DELETED", "r1", "5"),
    ]
    assert events_of(store, rv, namespace="lab") == [("ADDED", "r2", "4")]
    assert events_of(store, rv, types=(EventType.ADDED, EventType.DELETED)) == [
        ("ADDED", "r2", "4"),
        ("DELETED", "r1", "5"),
    ]


def test_a_watch_of_some_event_types_moves_past_the_others(store: SqliteStore) -> None:
    obj = store.create(topology("r1"))
    watch = store.watch(resource_version="1", timeout=0.05, types=(EventType.ADDED,))
    for i in range(3):
        obj["status"] = {"step": i}
        obj = store.update_status(obj)
    assert list(watch) == []  # three status writes, none of them wanted
    assert watch.position == 4 and watch.pending == 0  # where a new watch resumes: after them
    store.create(topology("r2"))
    assert events_of(store, str(watch.position), types=(EventType.ADDED,)) == [("ADDED", "r2", "5")]
    replayed = store.watch(resource_version="0", timeout=0, types=(EventType.DELETED,))
    assert list(replayed) == []  # the replay is ADDED events: not wanted


def test_watch_without_resource_version_replays_current_state_first(store: SqliteStore) -> None:
    store.create(topology("r1"))
    store.create(topology("r2"))
    store.delete("default", "r1")
    watch = store.watch(timeout=None)
    first = next(watch)
    assert (first.type, first.object["metadata"]["name"]) == (EventType.ADDED, "r2")
    store.create(topology("r3"))
    following = next(watch)
    assert (following.type, following.object["metadata"]["resourceVersion"]) == (EventType.ADDED, "4")
    watch.stop()
    assert list(watch) == []
    assert events_of(store, "0") == [("ADDED", "r2", "2"), ("ADDED", "r3", "4")]


def test_watch_ends_at_its_timeout_when_nothing_happens(store: SqliteStore) -> None:
    store.create(topology("r1"))
    assert list(store.watch(resource_version="1", timeout=0.01)) == []
    replayed = list(store.watch(resource_version="0", timeout=0))
    assert [e.object["metadata"]["name"] for e in replayed] == ["r1"], "the replay is delivered, then it ends"


def test_watch_blocks_until_a_write_of_another_thread_arrives(tmp_path: Path) -> None:
    # A poll interval of an hour: only the in-process wake-up can deliver the events in time.
    with (
        SqliteStore(tmp_path / "s.db", poll_min=3600, poll_max=3600) as store,
        consumed(store.watch(resource_version="0")) as received,
    ):
        store.create(topology("r1"))
        assert next_event(received).object["metadata"]["name"] == "r1"
        # Another store object on the same file (as another module would open) wakes it too.
        with SqliteStore(tmp_path / "s.db") as other:
            other.create(topology("r2"))
        assert next_event(received).object["metadata"]["name"] == "r2"
    # Leaving consumed() stopped the watch and checked that stop() woke the waiting watcher.


def test_watch_of_compacted_history_is_expired(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db", max_events=3, compact_every=1) as store:
        obj = store.create(topology("r1"))
        for i in range(5):
            obj["spec"] = {"links": [i]}
            obj = store.update(obj)
        # rv is 6 and the last 3 events (4, 5, 6) are kept: a watch must start at 3 or later.
        with pytest.raises(
            ExpiredError, match="from resourceVersion 2: too old, the events up to 3"
        ) as caught:
            store.watch(resource_version="2")
        assert (caught.value.resource_version, caught.value.oldest) == (2, 3)
        assert [rv for _, _, rv in events_of(store, "3")] == ["4", "5", "6"]

        # A watcher that falls behind the horizon while it runs expires too.
        watch = store.watch(resource_version="6")
        for i in range(4):
            obj["spec"] = {"links": [10 + i]}
            obj = store.update(obj)
        with pytest.raises(ExpiredError, match="from resourceVersion 6"):
            next(watch)


def test_quiet_watcher_keeps_up_while_other_resources_change(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db", max_events=3, compact_every=1) as store:
        nodes = store.for_resource(NODE)
        watch = store.watch(resource_version="0")

        def reached(rv: int) -> bool:
            return watch.position == rv

        with consumed(watch) as received:
            for i in range(6):
                nodes.create({"metadata": {"name": f"n{i}"}})
                rv = int(nodes.list()[1])
                wait_until(partial(reached, rv), what=f"the topology watcher to reach {rv}")
            # Node events up to 3 are compacted; the watcher moved past them, so it is not expired.
            store.create(topology("r1"))
            assert next_event(received).object["metadata"]["name"] == "r1"
        nodes.close()


def test_age_compaction(tmp_path: Path, clock: FakeClock) -> None:
    with SqliteStore(tmp_path / "s.db", max_event_age=60, clock=clock) as store:
        store.create(topology("r1"))
        store.create(topology("r2"))
        clock.now += 61
        store.create(topology("r3"))
        assert store.compact() == 2
        with pytest.raises(ExpiredError):
            store.watch(resource_version="1")
        assert events_of(store, "2") == [("ADDED", "r3", "3")]


def test_watch_from_a_future_resource_version_waits_for_it(store: SqliteStore) -> None:
    store.create(topology("r1"))
    watch = store.watch(resource_version="3", timeout=0.01)
    assert list(watch) == []
    assert watch.position == 3, "the position never goes back to the store's current 1"
    for name in ("r2", "r3", "r4"):
        store.create(topology(name))
    assert events_of(store, "3") == [("ADDED", "r4", "4")]


def test_watch_rejects_a_malformed_resource_version(store: SqliteStore) -> None:
    with pytest.raises(
        ValidationError, match="watch of topologies: resourceVersion must be a string of digits"
    ):
        store.watch(resource_version="abc")


# ---- several resources, cluster scope, files ------------------------------------------------


def test_resources_share_one_counter_but_not_objects(store: SqliteStore) -> None:
    nodes = store.for_resource(NODE)
    try:
        node = nodes.create({"metadata": {"name": "n1"}, "spec": {"ip": "10.0.0.1"}})
        assert node["apiVersion"] == "v1"
        assert node["kind"] == "Node"
        assert "namespace" not in node["metadata"]
        topo = store.create(topology("n1"))
        assert (node["metadata"]["resourceVersion"], topo["metadata"]["resourceVersion"]) == ("1", "2")
        assert [o["kind"] for o in nodes.list()[0]] == ["Node"]
        assert nodes.get(None, "n1") == node
        assert events_of(nodes, "0") == [("ADDED", "n1", "1")]
        assert nodes.delete(None, "n1") is None
        assert store.get("default", "n1") == topo
    finally:
        nodes.close()


def test_default_path_honours_the_environment() -> None:
    assert str(default_store_path({})) == "/var/lib/kubedtn/store.db"
    assert str(default_store_path({"KUBEDTN_STORE": "/tmp/x.db"})) == "/tmp/x.db"


def test_environment_chooses_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEDTN_STORE", str(tmp_path / "deep" / "dir" / "env.db"))
    with SqliteStore() as store:
        assert store.path == tmp_path / "deep" / "dir" / "env.db"
        store.create(topology("r1"))
    assert (tmp_path / "deep" / "dir" / "env.db").exists()


def test_data_survives_reopening(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        created = store.create(topology("r1"))
    with SqliteStore(tmp_path / "s.db") as store:
        assert store.get("default", "r1") == created
        assert store.create(topology("r2"))["metadata"]["resourceVersion"] == "2"


def test_unusable_path_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match=r"cannot create directory .*file.*; set KUBEDTN_STORE"):
        SqliteStore(tmp_path / "file" / "store.db")
    (tmp_path / "junk.db").write_text("this is not a database" * 100)
    with pytest.raises(StoreError, match=r"store .*junk.db: .* failed: file is not a database"):
        SqliteStore(tmp_path / "junk.db")


def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        store.list()


def test_store_errors_are_kubedtn_errors() -> None:
    for error in (AlreadyExistsError, ConflictError, ExpiredError, NotFoundError, StoreError):
        assert issubclass(error, KubedtnError)


def test_temp_store_helper_removes_its_file() -> None:
    with temp_store(max_events=5) as store:
        assert store.resource == TOPOLOGY
        store.create(topology("r1"))
        path = store.path
        assert path.exists()
    assert not path.exists()
    assert not path.parent.exists()


def test_threads_sharing_one_store_do_not_lose_updates(store: SqliteStore) -> None:
    from kubedtn.store import retry_on_conflict

    store.create({**topology("r1"), "spec": {"count": 0}})

    def increment() -> None:
        obj = store.get("default", "r1")
        obj["spec"]["count"] += 1
        store.update(obj)

    def worker() -> None:
        for _ in range(25):
            retry_on_conflict(increment, attempts=1000, delay=0.001)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = store.get("default", "r1")
    assert final["spec"]["count"] == 100
    assert final["metadata"]["generation"] == 101


def test_open_store_gives_the_interface(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    try:
        assert isinstance(store, SqliteStore)
        assert store.resource == TOPOLOGY
    finally:
        store.close()


def test_a_lock_held_past_the_busy_timeout_is_a_temporary_error(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db", busy_timeout=0.05) as store:
        holder = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(
                StoreUnavailableError, match=r"create: database is locked .* up to 0.05s"
            ) as caught:
                store.create(topology("r1"))
            assert isinstance(caught.value, TemporaryError)
            assert store.list() == ([], "0"), "readers are not blocked by a writer (WAL)"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        store.create(topology("r1"))


def test_stored_json_is_compared_by_text_then_by_value_when_it_may_be_equal() -> None:
    from kubedtn.store.sqlite import _same_json

    assert _same_json('{"a":[1,2]}', '{"a":[1,2]}')
    assert _same_json('{"a":1.0}', '{"a":1e0}')  # same length: compared by value
    assert not _same_json('{"a":1}', '{"a":2}')
    assert not _same_json(None, "{}")


@pytest.mark.parametrize("body", ["{not json", '{"metadata": ["a list"]}', "[]"])
def test_a_damaged_row_is_left_out_of_lists_and_named(store: SqliteStore, body: str) -> None:
    store.create(topology("r1"))
    store.create(topology("r2"))
    with closing(sqlite3.connect(store.path, isolation_level=None)) as db:
        db.execute("UPDATE objects SET body = ? WHERE name = 'r2'", (body,))
    items, _ = store.list()
    assert [o["metadata"]["name"] for o in items] == ["r1"]
    why = f"topology default/r2 in {store.path}: not an object with metadata; left out of lists"
    assert store.unreadable == {"topology default/r2": why}
    with closing(sqlite3.connect(store.path, isolation_level=None)) as db:
        db.execute("DELETE FROM objects WHERE name = 'r2'")
    store.list()
    assert store.unreadable == {}
