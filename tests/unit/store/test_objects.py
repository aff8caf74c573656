"""The API-server rules of create/update/update_status/delete, as pure functions."""

from __future__ import annotations

import pytest

from kubedtn.errors import ConflictError, ValidationError
from kubedtn.store import objects
from kubedtn.store.resource import TOPOLOGY, Resource

NODE = Resource(group="", version="v1", plural="nodes", kind="Node", namespaced=False)
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def created(**extra: object) -> objects.KubeObject:
    body = objects.normalise_body(
        TOPOLOGY, {"metadata": {"name": "r1", "labels": {"a": "b"}}, "spec": {"links": [1]}, **extra}
    )
    return objects.prepare_create(TOPOLOGY, body, rv=7, uid="u-1", now=NOW)


def test_resource_names() -> None:
    assert TOPOLOGY.api_version == "kubedtn.io/v1"
    assert TOPOLOGY.key == "topologies.kubedtn.io"
    assert TOPOLOGY.singular == "topology"
    assert NODE.api_version == "v1"
    assert NODE.key == "nodes"


def test_create_sets_server_fields_and_drops_status() -> None:
    obj = created(status={"skipped": []})
    assert obj == {
        "apiVersion": "kubedtn.io/v1",
        "kind": "Topology",
        "metadata": {
            "name": "r1",
            "namespace": "default",
            "labels": {"a": "b"},
            "uid": "u-1",
            "resourceVersion": "7",
            "generation": 1,
            "creationTimestamp": "2023-11-14T22:13:20Z",
        },
        "spec": {"links": [1]},
    }
    assert list(obj) == ["apiVersion", "kind", "metadata", "spec"]


def test_create_ignores_client_server_fields_but_rejects_a_resource_version() -> None:
    body = objects.normalise_body(
        TOPOLOGY,
        {"metadata": {"name": "r1", "uid": "mine", "generation": 9, "deletionTimestamp": "x", "labels": {}}},
    )
    obj = objects.prepare_create(TOPOLOGY, body, rv=1, uid="u-1", now=NOW)
    assert obj["metadata"]["uid"] == "u-1"
    assert obj["metadata"]["generation"] == 1
    assert "deletionTimestamp" not in obj["metadata"]
    assert "labels" not in obj["metadata"], "empty labels are omitted, as Kubernetes does"
    with_rv = objects.normalise_body(TOPOLOGY, {"metadata": {"name": "r1", "resourceVersion": "3"}})
    with pytest.raises(
        ValidationError, match=r"topology default/r1: metadata.resourceVersion must not be set"
    ):
        objects.prepare_create(TOPOLOGY, with_rv, rv=1, uid="u", now=NOW)


def test_normalise_lists_every_problem_naming_object_and_field() -> None:
    with pytest.raises(ValidationError) as caught:
        objects.normalise_body(
            TOPOLOGY,
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": "R1",
                    "namespace": "Bad_NS",
                    "labels": {"a": 1},
                    "annotations": ["x"],
                    "finalizers": "f",
                },
            },
        )
    problems = caught.value.problems
    assert len(problems) == 7
    assert all(p.startswith("topology Bad_NS/R1: ") for p in problems)
    assert any("apiVersion must be 'kubedtn.io/v1' in this store, got 'v1'" in p for p in problems)
    assert any("kind must be 'Topology' in this store, got 'Pod'" in p for p in problems)
    assert any("metadata.name 'R1' is not a valid name; accepted: lower-case" in p for p in problems)
    assert any("metadata.namespace 'Bad_NS' is not a valid namespace" in p for p in problems)
    assert any("metadata.labels must map strings to strings, got {'a': 1}" in p for p in problems)
    assert any("metadata.annotations must map strings to strings" in p for p in problems)
    assert any("metadata.finalizers must be a list of non-empty strings, got 'f'" in p for p in problems)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([1], "topology: an object must be a mapping, got list"),
        ({"metadata": []}, "topology: metadata must be a mapping"),
        ({"metadata": {}}, "topology (no metadata.name): metadata.name None is not a valid name"),
        (
            {"metadata": {"name": "r1"}, "spec": {1, 2}},
            "topology default/r1: the object is not JSON-serialisable",
        ),
    ],
)
def test_normalise_rejects_shapes(obj: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        objects.normalise_body(TOPOLOGY, obj)
    assert message in str(caught.value)


def test_normalise_does_not_touch_the_callers_object() -> None:
    original = {"metadata": {"name": "r1"}, "spec": {"links": []}}
    body = objects.normalise_body(TOPOLOGY, original)
    body["spec"]["links"].append(1)
    assert original == {"metadata": {"name": "r1"}, "spec": {"links": []}}


def test_cluster_scoped_kinds_have_no_namespace() -> None:
    body = objects.normalise_body(NODE, {"metadata": {"name": "n1"}})
    assert "namespace" not in body["metadata"]
    assert objects.object_key(NODE, body) == ("", "n1")
    assert objects.describe(NODE, "", "n1") == "node n1"
    with pytest.raises(ValidationError, match=r"Node is cluster-scoped; metadata\.namespace must be empty"):
        objects.normalise_body(NODE, {"metadata": {"name": "n1", "namespace": "default"}})
    assert objects.scope_namespace(NODE, None, name="n1") == ""
    with pytest.raises(ValidationError, match="node n1: Node is cluster-scoped; namespace must be empty"):
        objects.scope_namespace(NODE, "default", name="n1")
    with pytest.raises(ValidationError, match="topology r1: a namespace is required, got None"):
        objects.scope_namespace(TOPOLOGY, None, name="r1")


def update(
    stored: objects.KubeObject, change: dict[str, object], *, rv: int = 8
) -> objects.KubeObject | None:
    body = objects.normalise_body(TOPOLOGY, {**stored, **change})
    return objects.prepare_update(TOPOLOGY, stored, body, rv=rv)


def test_update_of_spec_bumps_generation_and_resource_version() -> None:
    stored = created()
    new = update(stored, {"spec": {"links": [2]}})
    assert new is not None
    assert new["spec"] == {"links": [2]}
    assert new["metadata"]["generation"] == 2
    assert new["metadata"]["resourceVersion"] == "8"


def test_update_of_metadata_only_keeps_generation() -> None:
    stored = created()
    meta = {**stored["metadata"], "labels": {"a": "c"}, "annotations": {"note": "x"}}
    new = update(stored, {"metadata": meta})
    assert new is not None
    assert new["metadata"]["generation"] == 1
    assert new["metadata"]["labels"] == {"a": "c"}
    assert new["metadata"]["annotations"] == {"note": "x"}


def test_update_that_changes_nothing_returns_none() -> None:
    stored = created()
    assert update(stored, {}) is None
    # Status and server-owned metadata in the body are ignored, so they are no change either.
    meta = {
        **stored["metadata"],
        "uid": stored["metadata"]["uid"],
        "generation": 42,
        "creationTimestamp": "x",
    }
    assert update(stored, {"metadata": meta, "status": {"new": True}}) is None


def test_update_ignores_status_and_server_metadata() -> None:
    stored = {**created(), "status": {"phase": "old"}}
    meta = {**stored["metadata"], "generation": 42, "deletionTimestamp": "2020-01-01T00:00:00Z"}
    new = update(stored, {"metadata": meta, "status": {"phase": "new"}, "spec": {"links": []}})
    assert new is not None
    assert new["status"] == {"phase": "old"}
    assert new["metadata"]["generation"] == 2
    assert "deletionTimestamp" not in new["metadata"]


def test_update_with_stale_resource_version_names_both_versions() -> None:
    stored = created()
    meta = {**stored["metadata"], "resourceVersion": "5"}
    with pytest.raises(
        ConflictError, match=r"^topology default/r1: resourceVersion 5 is stale, current is 7"
    ):
        update(stored, {"metadata": meta, "spec": {}})


def test_update_needs_a_resource_version() -> None:
    stored = created()
    meta = {k: v for k, v in stored["metadata"].items() if k != "resourceVersion"}
    with pytest.raises(
        ValidationError, match=r"metadata.resourceVersion must be set for update .*current is 7"
    ):
        update(stored, {"metadata": meta})
    with pytest.raises(ValidationError, match=r"resourceVersion must be a string of digits like '42', got 7"):
        update(stored, {"metadata": {**stored["metadata"], "resourceVersion": 7}})


def test_update_with_another_uid_is_a_conflict() -> None:
    stored = created()
    with pytest.raises(ConflictError, match="uid other does not match the stored object's uid u-1"):
        update(stored, {"metadata": {**stored["metadata"], "uid": "other"}})


def test_finalizers_cannot_be_added_while_deleting_but_can_be_removed() -> None:
    stored = created()
    stored["metadata"]["finalizers"] = ["kubedtn.io/links"]
    deleting = objects.mark_deleting(stored, rv=8, now=NOW)
    assert deleting["metadata"]["deletionTimestamp"] == "2023-11-14T22:13:20Z"
    assert deleting["metadata"]["resourceVersion"] == "8"
    assert not objects.is_finalized(deleting)
    added = {**deleting["metadata"], "finalizers": ["kubedtn.io/links", "other"]}
    with pytest.raises(ValidationError, match=r"no finalizer may be added .* got new \['other'\]"):
        update(deleting, {"metadata": added}, rv=9)
    removed = update(deleting, {"metadata": {**deleting["metadata"], "finalizers": []}}, rv=9)
    assert removed is not None
    assert objects.is_finalized(removed)
    assert "finalizers" not in removed["metadata"]


def test_status_update_takes_only_status() -> None:
    stored = created()
    body = objects.normalise_body(
        TOPOLOGY,
        {
            **stored,
            "spec": {"links": ["ignored"]},
            "status": {"links": [1]},
            "metadata": {**stored["metadata"]},
        },
    )
    new = objects.prepare_status_update(TOPOLOGY, stored, body, rv=8)
    assert new is not None
    assert new["status"] == {"links": [1]}
    assert new["spec"] == stored["spec"]
    assert new["metadata"] == {**stored["metadata"], "resourceVersion": "8"}
    # The same status again is no change; a body without status clears it.
    again = objects.normalise_body(TOPOLOGY, new)
    assert objects.prepare_status_update(TOPOLOGY, new, again, rv=9) is None
    cleared_body = objects.normalise_body(TOPOLOGY, {k: v for k, v in new.items() if k != "status"})
    cleared = objects.prepare_status_update(TOPOLOGY, new, cleared_body, rv=9)
    assert cleared is not None
    assert "status" not in cleared


def test_status_update_checks_the_resource_version() -> None:
    stored = created()
    body = objects.normalise_body(
        TOPOLOGY, {**stored, "metadata": {**stored["metadata"], "resourceVersion": "6"}}
    )
    with pytest.raises(ConflictError, match="resourceVersion 6 is stale, current is 7"):
        objects.prepare_status_update(TOPOLOGY, stored, body, rv=8)


def test_with_resource_version_copies() -> None:
    stored = created()
    stamped = objects.with_resource_version(stored, 99)
    assert stamped["metadata"]["resourceVersion"] == "99"
    assert stored["metadata"]["resourceVersion"] == "7"
