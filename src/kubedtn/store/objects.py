"""What create/update/update_status/delete do to an object, as pure functions.

These mirror the Kubernetes API server's rules for a custom resource with a status
subresource, so a backend only has to load, call one of these, and save:

- the server owns ``uid``, ``resourceVersion``, ``generation``, ``creationTimestamp``
  and ``deletionTimestamp``; whatever a client sends there is ignored (a client
  ``resourceVersion`` is only compared, and a client ``uid`` is a precondition);
- ``status`` only changes through update_status, everything else only through update;
- ``generation`` counts changes of the content outside ``metadata`` and ``status``;
- an update that changes nothing writes nothing (no new resourceVersion, no event);
- an object marked for deletion may lose finalizers but not gain them, and is gone
  once the last one is removed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from kubedtn.errors import ConflictError, ValidationError
from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.store.resource import Resource

KubeObject = dict[str, Any]


# Set by the server, never taken from a client's body.
SERVER_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
# Kubernetes omits these when empty; normalising keeps "no labels" a single state.
_OMIT_WHEN_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences")
_NOT_CONTENT = ("apiVersion", "kind", "metadata", "status")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def describe(resource: Resource, namespace: str, name: str) -> str:
    """How messages name an object: ``topology default/r1`` (``node n1`` when cluster-scoped)."""
    return f"{resource.singular} {namespace}/{name}" if namespace else f"{resource.singular} {name}"


def format_timestamp(seconds: float) -> str:
    """RFC 3339 in UTC at second precision, as Kubernetes writes metadata timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def scope_namespace(resource: Resource, namespace: str | None, *, name: str) -> str:
    """The namespace an object of this resource lives in ("" for cluster-scoped kinds)."""
    if not resource.namespaced:
        if namespace:
            raise ValidationError(
                f"{resource.singular} {name}: {resource.kind} is cluster-scoped; "
                f"namespace must be empty, got {namespace!r}"
            )
        return ""
    if not namespace:
        raise ValidationError(f"{resource.singular} {name}: a namespace is required, got {namespace!r}")
    return namespace


def parse_resource_version(value: object, *, what: str) -> int:
    """Resource versions are decimal strings of a non-negative integer; anything else is rejected."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValidationError(f"{what}: resourceVersion must be a string of digits like '42', got {value!r}")


def is_finalized(obj: Mapping[str, Any]) -> bool:
    """Marked for deletion and no finalizer left: the object must now disappear."""
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and not meta.get("finalizers")


def _json_copy(obj: object, *, what: str) -> KubeObject:
    """A deep copy through JSON, proving the body is storable; non-objects are rejected."""
    if not isinstance(obj, Mapping):
        raise ValidationError(f"{what}: an object must be a mapping, got {type(obj).__name__}")
    try:
        copied = json.loads(json.dumps(obj))
    except (TypeError, ValueError) as e:
        raise ValidationError(f"{what}: the object is not JSON-serialisable ({e})") from e
    assert isinstance(copied, dict)
    return copied


def _check_string_map(meta: Mapping[str, Any], field: str, *, what: str, problems: list[str]) -> None:
    value = meta.get(field)
    if value is None:
        return
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        problems.append(f"{what}: metadata.{field} must map strings to strings, got {value!r}")


def _check_body(resource: Resource, body: KubeObject, *, what: str) -> None:
    """Shape checks shared by create and update; fills apiVersion/kind and the default namespace."""
    problems: list[str] = []
    for field, expected in (("apiVersion", resource.api_version), ("kind", resource.kind)):
        if body.setdefault(field, expected) != expected:
            problems.append(f"{what}: {field} must be {expected!r} in this store, got {body[field]!r}")
    meta = body.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise ValidationError(f"{what}: metadata must be a mapping, got {meta!r}")
    name = meta.get("name")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        problems.append(
            f"{what}: metadata.name {name!r} is not a valid name; accepted: lower-case letters, digits, "
            "'-' and '.', starting and ending with a letter or digit, at most 253 characters"
        )
    namespace = meta.get("namespace")
    if resource.namespaced:
        if namespace in (None, ""):
            namespace = meta["namespace"] = DEFAULT_NAMESPACE
        if not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL.match(namespace):
            problems.append(
                f"{what}: metadata.namespace {namespace!r} is not a valid namespace; accepted: lower-case "
                "letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
            )
    elif namespace not in (None, ""):
        problems.append(f"{what}: {resource.kind} is cluster-scoped; metadata.namespace must be empty")
    else:
        meta.pop("namespace", None)
    _check_string_map(meta, "labels", what=what, problems=problems)
    _check_string_map(meta, "annotations", what=what, problems=problems)
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) and f for f in finalizers)
    ):
        problems.append(
            f"{what}: metadata.finalizers must be a list of non-empty strings, got {finalizers!r}"
        )
    if problems:
        raise ValidationError(problems)


def _what(resource: Resource, obj: object) -> str:
    """Best-effort name of a client's body for error messages, before it is validated."""
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    if not isinstance(meta, Mapping):
        return resource.singular
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str):
        return f"{resource.singular} (no metadata.name)"
    if resource.namespaced and not namespace:
        namespace = DEFAULT_NAMESPACE
    return describe(resource, namespace if isinstance(namespace, str) else str(namespace), name)


def _clean(meta: dict[str, Any]) -> dict[str, Any]:
    for field in _OMIT_WHEN_EMPTY:
        if field in meta and not meta[field]:
            del meta[field]
    return meta


def object_key(resource: Resource, obj: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of a validated object; namespace is "" for cluster-scoped kinds."""
    meta = obj["metadata"]
    return (meta.get("namespace", "") if resource.namespaced else "", meta["name"])


def normalise_body(resource: Resource, obj: object) -> KubeObject:
    """A checked copy of a client's object: apiVersion/kind filled in, namespace defaulted to
    "default" (namespaced kinds), name/namespace/labels/annotations/finalizers checked.
    ValidationError lists every problem, naming the object and field."""
    what = _what(resource, obj)
    body = _json_copy(obj, what=what)
    _check_body(resource, body, what=what)
    return _ordered(body)


def normalise_status_body(resource: Resource, obj: object) -> KubeObject:
    """normalise_body() for update_status(), which takes only ``status`` from the body (and
    its metadata for the preconditions): the rest (a Topology's spec, maybe large) is left
    out of the checked copy."""
    if isinstance(obj, Mapping):
        obj = {k: v for k, v in obj.items() if k in ("apiVersion", "kind", "metadata", "status")}
    return normalise_body(resource, obj)


def _ordered(body: KubeObject) -> KubeObject:
    """apiVersion, kind, metadata (name, namespace first), the rest, status: reads like kubectl's output."""
    meta = body["metadata"]
    head = {k: meta[k] for k in ("name", "namespace") if k in meta}
    ordered = {"apiVersion": body["apiVersion"], "kind": body["kind"], "metadata": head | meta}
    ordered.update((k, v) for k, v in body.items() if k not in ordered and k != "status")
    if "status" in body:
        ordered["status"] = body["status"]
    return ordered


def prepare_create(
    resource: Resource, body: Mapping[str, Any], *, rv: int, uid: str, now: float
) -> KubeObject:
    """The object as stored by create(): server metadata set, status dropped (it has its own
    endpoint). ``body`` comes from normalise_body()."""
    what = describe(resource, *object_key(resource, body))
    body = _json_copy(body, what=what)
    meta = body["metadata"]
    if meta.get("resourceVersion"):
        raise ValidationError(
            f"{what}: metadata.resourceVersion must not be set on create, got {meta['resourceVersion']!r}"
        )
    for field in (
        "uid",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ):
        meta.pop(field, None)
    meta.update(uid=uid, resourceVersion=str(rv), generation=1, creationTimestamp=format_timestamp(now))
    _clean(meta)
    body.pop("status", None)
    return body


def _check_preconditions(
    resource: Resource, stored: Mapping[str, Any], body: Mapping[str, Any], *, action: str
) -> None:
    namespace, name = object_key(resource, stored)
    what = describe(resource, namespace, name)
    meta, current = body["metadata"], stored["metadata"]
    if not meta.get("resourceVersion"):
        raise ValidationError(
            f"{what}: metadata.resourceVersion must be set for {action} "
            f"(get the object first; current is {current['resourceVersion']})"
        )
    sent = parse_resource_version(meta["resourceVersion"], what=what)
    if sent != int(current["resourceVersion"]):
        raise ConflictError(
            f"{what}: resourceVersion {sent} is stale, current is {current['resourceVersion']} "
            f"({action} lost a race; get the object and try again)"
        )
    uid = meta.get("uid")
    if uid and uid != current["uid"]:
        raise ConflictError(
            f"{what}: uid {uid} does not match the stored object's uid {current['uid']} "
            "(the object was deleted and created again)"
        )


def prepare_update(
    resource: Resource, stored: Mapping[str, Any], body: Mapping[str, Any], *, rv: int
) -> KubeObject | None:
    """The object after update(), or None when the body changes nothing an update may change.
    ``body`` comes from normalise_body()."""
    what = describe(resource, *object_key(resource, body))
    body = _json_copy(body, what=what)
    _check_preconditions(resource, stored, body, action="update")
    old_meta = stored["metadata"]
    meta = body["metadata"]
    for field in SERVER_METADATA:
        if field in old_meta:
            meta[field] = old_meta[field]
        else:
            meta.pop(field, None)
    if old_meta.get("deletionTimestamp"):
        added = sorted(set(meta.get("finalizers", [])) - set(old_meta.get("finalizers", [])))
        if added:
            raise ValidationError(
                f"{what}: no finalizer may be added while the object is being deleted "
                f"(deletionTimestamp {old_meta['deletionTimestamp']}), got new {added}"
            )
    _clean(meta)
    body.pop("status", None)
    if "status" in stored:
        body["status"] = json.loads(json.dumps(stored["status"]))
    if body == stored:
        return None
    if _content(body) != _content(stored):
        meta["generation"] = int(old_meta.get("generation", 0)) + 1
    meta["resourceVersion"] = str(rv)
    return body


def _content(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in _NOT_CONTENT}


def prepare_status_update(
    resource: Resource, stored: Mapping[str, Any], body: Mapping[str, Any], *, rv: int
) -> KubeObject | None:
    """The object after update_status(): only ``status`` is taken from the body (absent = cleared).
    ``body`` comes from normalise_status_body() (or normalise_body()).

    Neither argument is changed; the result shares the spec's nested objects with ``stored``
    and the status with ``body`` (a status write copies nothing it does not change: the
    store hands both in as fresh copies of its own)."""
    _check_preconditions(resource, stored, body, action="update_status")
    if body.get("status") == stored.get("status") and ("status" in body) == ("status" in stored):
        return None
    new: KubeObject = {k: v for k, v in stored.items() if k != "status"}
    new["metadata"] = {**stored["metadata"], "resourceVersion": str(rv)}
    if "status" in body:
        new["status"] = body["status"]
    return new


def mark_deleting(stored: Mapping[str, Any], *, rv: int, now: float) -> KubeObject:
    """delete() of an object with finalizers: it stays, marked, until the finalizers are removed."""
    new: KubeObject = json.loads(json.dumps(stored))
    new["metadata"].update(
        deletionTimestamp=format_timestamp(now), deletionGracePeriodSeconds=0, resourceVersion=str(rv)
    )
    return new


def with_resource_version(obj: Mapping[str, Any], rv: int) -> KubeObject:
    """A copy stamped with another resourceVersion (a DELETED event carries the deletion's)."""
    new: KubeObject = json.loads(json.dumps(obj))
    new["metadata"]["resourceVersion"] = str(rv)
    return new


def without_finalizer(obj: Mapping[str, Any], finalizer: str) -> dict[str, Any] | None:
    """The object with ``finalizer`` taken off its metadata, or None when it has none."""
    meta = dict(obj.get("metadata") or {})
    finalizers = list(meta.get("finalizers") or [])
    if finalizer not in finalizers:
        return None
    meta["finalizers"] = [f for f in finalizers if f != finalizer]
    return {**obj, "metadata": meta}
