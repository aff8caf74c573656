"""A minimal OpenAPI v3 description, enough for kubectl's validation step.

kubectl (create, apply) first asks /openapi/v3 whether the server takes `fieldValidation` on
PATCH for the object's kind; when it does, kubectl leaves validation to the server instead of
downloading full schemas. So each group-version document lists, per kind, the object paths with a
PATCH operation that names its kind and that parameter, and a schema per kind (a CRD's own).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tests.support.kubeapi import patches
from tests.support.kubeapi.resources import Registry, ResourceType

_PERMISSIVE = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rt: ResourceType) -> str:
    reversed_group = ".".join(reversed(rt.group.split("."))) if rt.group else "io.k8s.api.core"
    return f"{reversed_group}.{rt.version}.{rt.kind}"


def _operations(rt: ResourceType) -> dict[str, Any]:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    prefix = "/" + _gv_path(rt.group, rt.version) + ("/namespaces/{namespace}" if rt.namespaced else "")
    ref = {"$ref": f"#/components/schemas/{_schema_name(rt)}"}
    # No strategic merge patch here, even for built-in kinds: kubectl would compute it from these
    # schemas, which have no fields; without it kubectl uses the patch metadata compiled into it.
    content_types = [patches.JSON_PATCH, patches.MERGE, patches.APPLY]
    patch = {
        "operationId": f"patch{rt.kind}",
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": gvk,
        "parameters": [
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        ],
        "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in content_types}},
        "responses": {"200": {"content": {"application/json": {"schema": ref}}}},
    }
    return {f"{prefix}/{rt.plural}/{{name}}": {"patch": patch}}


def group_version_document(
    registry: Registry, group: str, version: str, schemas: dict[str, Any]
) -> dict[str, Any]:
    """The document of one group-version; `schemas` maps kind to a CRD's openAPIV3Schema."""
    types = [rt for rt in registry.all() if rt.group_version == (group, version)]
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for rt in types:
        paths |= _operations(rt)
        schema = dict(schemas.get(rt.kind, _PERMISSIVE))
        schema["x-kubernetes-group-version-kind"] = [
            {"group": rt.group, "version": rt.version, "kind": rt.kind}
        ]
        components[_schema_name(rt)] = schema
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.1-kubeapi-double"},
        "paths": paths,
        "components": {"schemas": components},
    }


def root(registry: Registry, documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The /openapi/v3 index; each entry's hash changes with its document (kubectl caches by it)."""
    out = {}
    for path, doc in documents.items():
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16].upper()
        out[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": out}


def documents(registry: Registry, crd_schemas: dict[tuple[str, str, str], Any]) -> dict[str, dict[str, Any]]:
    """Every group-version's document by its path ("api/v1", "apis/kubedtn.io/v1", ...).

    `crd_schemas` maps (group, version, kind) to the CRD's openAPIV3Schema.
    """
    out = {}
    for group, versions in registry.group_versions().items():
        for version in versions:
            schemas = {k: s for (g, v, k), s in crd_schemas.items() if (g, v) == (group, version)}
            out[_gv_path(group, version)] = group_version_document(registry, group, version, schemas)
    return out


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (payloads here are all shorter than 128 bytes)."""
    return bytes([number << 3 | 2, len(payload)]) + payload


# kubectl validates a `kind: List` file on the client, with the OpenAPI v2 document, which it reads
# only as protobuf (gnostic's openapi_v2.Document). A document with no definitions makes it skip
# every item (unknown kinds pass), leaving validation to the server as for other files. Fields:
# Document.swagger = 1, Document.info = 2; Info.title = 1, Info.version = 2.
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
V2_DOCUMENT = _field(1, b"2.0") + _field(2, _field(1, b"Kubernetes") + _field(2, b"v1.37.1-kubeapi-double"))
