"""The verbs on resources (API Conventions, "Verbs on Resources"), apart from HTTP."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import yaml

from tests.support.kubeapi import crds, errors, patches, schema
from tests.support.kubeapi.resources import Registry, types_of_crd
from tests.support.kubeapi.routes import Target
from tests.support.kubeapi.selectors import field_selector, label_selector
from tests.support.kubeapi.storage import Obj, Store
from tests.support.kubeapi.watch import WatchRequest

Query = dict[str, str]


def parse_query(raw: str) -> Query:
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def decode(raw: bytes, content_type: str) -> Any:
    """A request body: JSON, or YAML for apply patches; 400 BadRequest when it does not parse."""
    try:
        if content_type == patches.APPLY:
            return yaml.safe_load(raw.decode())
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise errors.bad_request(f"the request body is not valid {content_type or 'JSON'}: {e}") from e


def _check_object(t: Target, body: Any) -> Obj:
    """422 Invalid unless the body is an object of the kind the URL serves."""
    meta = body.get("metadata") if isinstance(body, dict) else None
    name = t.name or (meta.get("name", "") if isinstance(meta, dict) else "")
    if not isinstance(body, dict):
        raise errors.invalid(t.rt.kind, name, "<body>", type(body).__name__, "a JSON object", t.rt.group)
    if body.get("kind") not in (None, t.rt.kind):
        raise errors.invalid(
            t.rt.kind, name, "kind", body.get("kind"), f"must be {t.rt.kind} here", t.rt.group
        )
    if body.get("apiVersion") not in (None, t.rt.api_version):
        raise errors.invalid(
            t.rt.kind, name, "apiVersion", body.get("apiVersion"), f"must be {t.rt.api_version}", t.rt.group
        )
    if not isinstance(body.get("metadata", {}), dict):
        raise errors.invalid(t.rt.kind, name, "metadata", body.get("metadata"), "an object", t.rt.group)
    ns = body.get("metadata", {}).get("namespace")
    if t.rt.namespaced and ns not in (None, "", t.ns):
        raise errors.bad_request(
            f"the namespace of the provided object ({ns}) does not match the namespace sent on the request "
            f"({t.ns})"
        )
    return body


class Api:
    def __init__(self, registry: Registry, store: Store) -> None:
        self.registry = registry
        self.store = store

    def _selection(self, t: Target, query: Query) -> Any:
        label = label_selector(query.get("labelSelector", ""))
        field = field_selector(query.get("fieldSelector", ""), t.rt.field_labels, t.rt.kind)
        return lambda obj: label(obj) and field(obj)

    def _admitted(self, t: Target, obj: Obj, *, strict: bool = False) -> Obj:
        """A custom resource pruned and validated against its CRD's schema (422 if invalid);
        ``strict``: the request asked fieldValidation=Strict (400 for unknown fields)."""
        if t.rt.builtin:
            return obj
        crd_rt = self.registry.find(crds.CRD_GROUP, "v1", crds.CRD_PLURAL)
        if crd_rt is None:
            return obj
        found = crds.schemas(self.store, crd_rt).get((t.rt.group, t.rt.version, t.rt.kind))
        if not found:
            return obj
        if t.subresource == "status" and "status" in (found.get("properties") or {}):
            # A status write keeps the stored spec (storage.Store.update), so only the status
            # it brings is checked: walking a large spec again cost most of each write.
            found = {
                **found,
                "properties": {"status": found["properties"]["status"]},
                "required": [r for r in found.get("required") or [] if r == "status"],
            }
        return schema.admit(obj, found, kind=t.rt.kind, group=t.rt.group, version=t.rt.version, strict=strict)

    def get(self, t: Target) -> Obj:
        return self.store.get(t.rt, t.ns, t.name)

    def list(self, t: Target, query: Query) -> Obj:
        matches = self._selection(t, query)
        items, rv = self.store.objects(t.rt, t.namespace)
        return {
            "kind": f"{t.rt.kind}List",
            "apiVersion": t.rt.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": [o for o in items if matches(o)],
        }

    def watch_request(self, t: Target, query: Query) -> WatchRequest:
        rv = query.get("resourceVersion", "")
        if rv not in ("", "0") and not rv.isdigit():
            raise errors.bad_request(f"resourceVersion {rv!r}: expected a resourceVersion the server sent")
        timeout = query.get("timeoutSeconds", "")
        return WatchRequest(
            t.rt,
            t.namespace,
            int(rv) if rv not in ("", "0") else None,
            self._selection(t, query),
            query.get("allowWatchBookmarks") in ("true", "1"),
            float(timeout) if timeout else None,
            query.get("sendInitialEvents") == "true",
        )

    def create(self, t: Target, body: Any, *, strict: bool = False) -> Obj:
        body = _check_object(t, body)
        if crds.is_crd(t.rt):
            types_of_crd(body)  # 422 before storing a CRD that could not be served
        created = self.store.create(t.rt, t.ns, self._admitted(t, body, strict=strict))
        if crds.is_crd(t.rt):
            crds.served(self.registry, self.store, t.rt, created)
            return self.store.get(t.rt, "", created["metadata"]["name"])
        return created

    def replace(self, t: Target, body: Any, *, strict: bool = False) -> Obj:
        body = _check_object(t, body)
        return self._updated(
            t,
            self.store.update(
                t.rt, t.ns, t.name, lambda _cur: self._admitted(t, body, strict=strict), t.subresource
            ),
        )

    def patch(self, t: Target, content_type: str, raw: bytes, *, strict: bool = False) -> tuple[Obj, bool]:
        """The patched object, and whether the patch created it (server-side apply)."""
        accepted = [patches.JSON_PATCH, patches.MERGE, patches.APPLY]
        if t.rt.builtin:
            accepted.append(patches.STRATEGIC)
        if content_type not in accepted:
            raise errors.unsupported_media_type(content_type, accepted)
        body = decode(raw, content_type)
        if content_type == patches.APPLY:
            try:
                self.store.get(t.rt, t.ns, t.name)
            except errors.ApiError as e:
                if e.code != 404 or t.subresource:
                    raise
                obj = _check_object(t, body)
                obj.setdefault("metadata", {})["name"] = t.name
                return self.create(t, obj, strict=strict), True
        if content_type == patches.JSON_PATCH:

            def change(cur: Obj) -> Obj:
                return self._admitted(t, _check_object(t, patches.json_patch(cur, body)), strict=strict)
        else:
            merge = patches.strip_directives(body) if content_type == patches.STRATEGIC else body
            if not isinstance(merge, dict):
                raise errors.invalid(
                    t.rt.kind, t.name, "<body>", type(merge).__name__, "a JSON object", t.rt.group
                )

            def change(cur: Obj) -> Obj:
                return self._admitted(t, _check_object(t, patches.merge_patch(cur, merge)), strict=strict)

        return self._updated(t, self.store.update(t.rt, t.ns, t.name, change, t.subresource)), False

    def _updated(self, t: Target, obj: Obj) -> Obj:
        if crds.is_crd(t.rt) and not t.subresource:
            crds.served(self.registry, self.store, t.rt, obj)
        return obj

    def delete(self, t: Target, options: Any = None) -> Obj:
        """Delete one object; `options` is a DeleteOptions body (its preconditions are checked)."""
        preconditions = options.get("preconditions") if isinstance(options, dict) else None
        obj, gone = self.store.delete(t.rt, t.ns, t.name, preconditions)
        if gone and crds.is_crd(t.rt):
            crds.withdrawn(self.registry, self.store, obj)
        if not gone:
            return obj  # still there, waiting for its finalizers: the answer is the object
        # API Conventions, "Response Status Kind": a successful DELETE answers with a Status.
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": t.name,
                "group": t.rt.group,
                "kind": t.rt.plural,
                "uid": obj["metadata"]["uid"],
            },
        }

    def delete_collection(self, t: Target, query: Query) -> Obj:
        listed = self.list(t, query)
        for obj in listed["items"]:
            one = Target(t.rt, obj["metadata"].get("namespace"), obj["metadata"]["name"])
            try:
                self.delete(one)
            except errors.ApiError as e:
                if e.code != 404:
                    raise
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
