"""Custom resources against their CRD's structural schema: pruning, then 422 with one cause per field.

Kubernetes documentation, "Extend the Kubernetes API with CustomResourceDefinitions",
sections "Specifying a structural schema" and "Field pruning"; API Conventions, "Response
Status Kind" (422 Invalid lists its causes in details.causes).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.support.kubeapi.client import call
from tests.support.kubeapi.errors import ApiError
from tests.support.kubeapi.fixture import Kubectl
from tests.support.kubeapi.schema import admit
from tests.support.kubeapi.server import KubeApiServer
from tests.unit.kubeapi.helpers import TOPOS, YOUNG_CRD, topology, with_topologies

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "port": {
                    "x-kubernetes-int-or-string": True,
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                },
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"id": {"type": "integer"}}},
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["id"],
                },
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        }
    },
}


def _causes(obj: dict[str, Any]) -> list[tuple[str, str, str]]:
    with pytest.raises(ApiError) as caught:
        admit(obj, SCHEMA, kind="Thing", group="example.com")
    assert caught.value.code == 422 and caught.value.reason == "Invalid"
    return [(c["reason"], c["field"], c["message"]) for c in caught.value.details["causes"]]


def test_unknown_fields_are_pruned_where_the_schema_does_not_keep_them() -> None:
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "t", "labels": {"a": "b"}},
        "spec": {"size": 2, "extra": 1, "items": [{"id": 1, "x": 2}], "free": {"any": {"thing": 1}}},
        "other": True,
    }
    assert admit(copy.deepcopy(obj), SCHEMA, kind="Thing", group="example.com") == {
        "apiVersion": "example.com/v1",
        "kind": "Thing",
        "metadata": {"name": "t", "labels": {"a": "b"}},  # never pruned
        "spec": {"size": 2, "items": [{"id": 1}], "free": {"any": {"thing": 1}}},
    }


def test_every_cause_is_reported_with_its_field_and_reason() -> None:
    spec = {"size": 11, "name": "ABCDEFG", "mode": "c", "port": 1.5, "items": [{"id": 1}, {"id": 1}]}
    assert _causes({"metadata": {"name": "t"}, "spec": spec}) == [
        (
            "FieldValueInvalid",
            "spec.size",
            "Invalid value: 11: spec.size in body should be less than or equal to 10",
        ),
        ("FieldValueTooLong", "spec.name", "Too long: may not be more than 5 bytes"),
        (
            "FieldValueInvalid",
            "spec.name",
            "Invalid value: \"ABCDEFG\": spec.name in body should match '^[a-z]+$'",
        ),
        ("FieldValueNotSupported", "spec.mode", 'Unsupported value: "c": supported values: "a", "b"'),
        (
            "FieldValueTypeInvalid",
            "spec.port",
            'Invalid value: "number": spec.port in body must be of type integer or string: "number"',
        ),
        ("FieldValueDuplicate", "spec.items[1]", 'Duplicate value: map[string]interface {}{"id":1}'),
    ]
    assert _causes({"metadata": {"name": "t"}, "spec": {"size": "2"}}) == [
        (
            "FieldValueTypeInvalid",
            "spec.size",
            'Invalid value: "string": spec.size in body must be of type integer: "string"',
        )
    ]
    assert _causes({"metadata": {"name": "t"}, "spec": {"size": 0}})[0][2].endswith(
        "should be greater than or equal to 1"
    )
    assert _causes({"metadata": {"name": "t"}, "spec": {}}) == [
        ("FieldValueRequired", "spec.size", "Required value")
    ]


def test_the_api_answers_422_with_the_causes_and_stores_nothing(kubeapi: KubeApiServer) -> None:
    with_topologies(kubeapi)
    bad = topology("r1")
    bad["spec"]["links"][0] |= {"mtu": 70000, "local_intf": "lo"}
    reply = call(kubeapi.url, "POST", TOPOS, bad)
    assert reply.code == 422 and reply.body["reason"] == "Invalid"
    assert [(c["field"], c["reason"]) for c in reply.body["details"]["causes"]] == [
        ("spec.links[0].local_intf", "FieldValueInvalid"),
        ("spec.links[0].mtu", "FieldValueInvalid"),
    ]
    assert reply.body["message"].startswith(
        'Topology.kubedtn.io "r1" is invalid: [spec.links[0].local_intf: '
    )
    assert call(kubeapi.url, "GET", f"{TOPOS}/r1").code == 404


def test_the_api_prunes_unknown_fields_of_a_topology(kubeapi: KubeApiServer) -> None:
    with_topologies(kubeapi)
    obj = topology("r1")
    obj["spec"]["links"][0]["colour"] = "blue"
    obj["spec"]["extra"] = 1
    assert call(kubeapi.url, "POST", TOPOS, obj).code == 201
    stored = call(kubeapi.url, "GET", f"{TOPOS}/r1").body
    assert stored["spec"] == {
        "links": [{"uid": 1, "peer_pod": "r2", "local_intf": "eth1", "peer_intf": "eth1"}]
    }
    # an update is checked as a create is: a merge patch that breaks a field is refused whole
    patch = {"spec": {"links": [{"uid": -1, "peer_pod": "r2", "local_intf": "eth1", "peer_intf": "eth1"}]}}
    reply = call(kubeapi.url, "PATCH", f"{TOPOS}/r1", patch, "application/merge-patch+json")
    assert reply.code == 422
    assert reply.body["details"]["causes"][0]["field"] == "spec.links[0].uid"
    assert call(kubeapi.url, "GET", f"{TOPOS}/r1").body["spec"]["links"][0]["uid"] == 1


def test_a_schema_that_preserves_unknown_fields_keeps_them(kubeapi: KubeApiServer) -> None:
    kubeapi.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", copy.deepcopy(YOUNG_CRD))
    obj = topology("r1") | {"apiVersion": "y-young.github.io/v1"}
    obj["spec"]["links"][0]["colour"] = "blue"
    path = "/apis/y-young.github.io/v1/namespaces/default/topologies"
    assert call(kubeapi.url, "POST", path, obj).code == 201
    assert call(kubeapi.url, "GET", f"{path}/r1").body["spec"]["links"][0]["colour"] == "blue"


def _r1_file(tmp_path: Path, in_spec: str, in_link: str) -> Path:
    """A file with Topology r1 and one link, with ``in_spec`` and ``in_link`` written into them."""
    path = tmp_path / "r1.yaml"
    path.write_text(
        "apiVersion: kubedtn.io/v1\nkind: Topology\nmetadata: {name: r1}\n"
        f"spec: {{{in_spec}links: [{{uid: 1, peer_pod: r2, local_intf: eth1, peer_intf: eth1{in_link}}}]}}\n"
    )
    return path


def test_kubectl_apply_of_a_bad_topology_shows_the_field_error(
    kubeapi: KubeApiServer, kubectl: Kubectl, tmp_path: Path
) -> None:
    with_topologies(kubeapi)
    bad = _r1_file(tmp_path, "", ", mtu: 70000")
    proc = kubectl.run("apply", "-f", str(bad), check=False)
    assert proc.returncode == 1
    # kubectl words the error from details (kind, name) and causes (field, message)
    assert proc.stderr == (
        'The Topology "r1" is invalid: spec.links[0].mtu: Invalid value: 70000: '
        "spec.links[0].mtu in body should be less than or equal to 65535\n"
    )
    assert call(kubeapi.url, "GET", f"{TOPOS}/r1").code == 404


def test_field_validation_strict_refuses_unknown_fields(
    kubeapi: KubeApiServer, kubectl: Kubectl, tmp_path: Path
) -> None:
    with_topologies(kubeapi)
    obj = topology("r1")
    obj["spec"]["colour"] = "blue"
    obj["spec"]["links"][0]["speed"] = 1
    reply = call(kubeapi.url, "POST", f"{TOPOS}?fieldValidation=Strict", obj)
    assert (reply.code, reply.body["reason"]) == (400, "BadRequest")
    assert reply.body["message"] == (
        'Topology in version "v1" cannot be handled as a Topology: strict decoding error: '
        'unknown field "spec.links[0].speed", unknown field "spec.colour"'
    )
    # kubectl apply asks for Strict (its --validate=strict) and shows the server's answer
    extra = _r1_file(tmp_path, "colour: blue, ", "")
    proc = kubectl.run("apply", "-f", str(extra), check=False)
    assert proc.returncode == 1
    assert 'strict decoding error: unknown field "spec.colour"' in proc.stderr
    assert kubectl.run("apply", "-f", str(extra), "--validate=false").returncode == 0  # pruned
    assert "colour" not in call(kubeapi.url, "GET", f"{TOPOS}/r1").body["spec"]
