"""Custom resources checked against their CRD's structural schema, as the real API server does.

Kubernetes documentation, "Extend the Kubernetes API with CustomResourceDefinitions":
"Specifying a structural schema" and "Field pruning". The server first drops the fields the
schema does not specify (unless ``x-kubernetes-preserve-unknown-fields`` keeps them; the
root's ``metadata`` is never pruned), then validates what is left and answers 422
``Invalid`` with one cause per field (``details.causes``: field, message, reason). The
messages follow the server's wording, e.g. ``Invalid value: 70000:
spec.links[0].mtu in body should be less than or equal to 65535``.

What is checked: type (with ``x-kubernetes-int-or-string`` and ``nullable``), required,
enum, ``not: {enum}``, minimum/maximum, pattern, maxLength, items, properties,
additionalProperties and ``x-kubernetes-list-type: map`` keys.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.support.kubeapi.errors import ApiError

Cause = dict[str, str]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}
_GO_TYPES = {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean"}


def _shown(value: Any) -> str:
    """A value as the server quotes it: strings in double quotes, numbers bare."""
    return json.dumps(value) if isinstance(value, str | int | float | bool) or value is None else repr(value)


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, int | str) and not isinstance(value, bool)
    expected = schema.get("type")
    if expected is None:
        return True
    if isinstance(value, bool):
        return bool(expected == "boolean")
    return isinstance(value, _TYPES.get(expected, (object,)))


def _cause(reason: str, path: str, message: str) -> Cause:
    return {"reason": reason, "field": path, "message": message}


class _Checker:
    def __init__(self) -> None:
        self.causes: list[Cause] = []
        self.pruned: list[str] = []  # paths of the unknown fields dropped

    def invalid(self, path: str, value: Any, why: str) -> None:
        self.causes.append(_cause("FieldValueInvalid", path, f"Invalid value: {_shown(value)}: {why}"))

    def walk(self, value: Any, schema: dict[str, Any], path: str) -> Any:
        """``value`` pruned; every problem of it appended to ``causes``."""
        if not _type_ok(value, schema):
            actual = _GO_TYPES.get(type(value), "null" if value is None else type(value).__name__)
            wanted = "integer or string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
            self.causes.append(
                _cause(
                    "FieldValueTypeInvalid",
                    path,
                    f'Invalid value: "{actual}": {path} in body must be of type {wanted}: "{actual}"',
                )
            )
            return value
        if isinstance(value, dict):
            return self._object(value, schema, path)
        if isinstance(value, list):
            return self._array(value, schema, path)
        self._scalar(value, schema, path)
        return value

    def _object(self, value: dict[str, Any], schema: dict[str, Any], path: str) -> dict[str, Any]:
        known: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep = schema.get("x-kubernetes-preserve-unknown-fields") or extra is True
        out: dict[str, Any] = {}
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            sub = known.get(key)
            if sub is None and isinstance(extra, dict):
                sub = extra
            if item is None and not (sub or {}).get("nullable"):
                continue  # null is pruned unless the schema says nullable
            if sub is not None:
                out[key] = self.walk(item, sub, child)
            elif keep:
                out[key] = item
            else:
                self.pruned.append(child)
        for key in schema.get("required") or []:
            if key not in out:
                self.causes.append(
                    _cause("FieldValueRequired", f"{path}.{key}" if path else key, "Required value")
                )
        return out

    def _array(self, value: list[Any], schema: dict[str, Any], path: str) -> list[Any]:
        items = schema.get("items")
        out = [self.walk(item, items, f"{path}[{i}]") if items else item for i, item in enumerate(value)]
        if schema.get("x-kubernetes-list-type") == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen: set[str] = set()
            for i, item in enumerate(out):
                if not isinstance(item, dict):
                    continue
                key = json.dumps({k: item.get(k) for k in keys}, sort_keys=True)
                if key in seen:
                    shown = ", ".join(f'"{k}":{_shown(item.get(k))}' for k in keys)
                    self.causes.append(
                        _cause(
                            "FieldValueDuplicate",
                            f"{path}[{i}]",
                            f"Duplicate value: map[string]interface {{}}{{{shown}}}",
                        )
                    )
                seen.add(key)
        return out

    def _scalar(self, value: Any, schema: dict[str, Any], path: str) -> None:
        enum = schema.get("enum")
        if enum is not None and value not in enum:
            supported = ", ".join(_shown(v) for v in enum)
            self.causes.append(
                _cause(
                    "FieldValueNotSupported",
                    path,
                    f"Unsupported value: {_shown(value)}: supported values: {supported}",
                )
            )
        forbidden = (schema.get("not") or {}).get("enum")
        if forbidden is not None and value in forbidden:
            self.invalid(path, value, f"{path} in body must not validate the schema (not)")
        if isinstance(value, str):
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                self.causes.append(
                    _cause(
                        "FieldValueTooLong",
                        path,
                        f"Too long: may not be more than {schema['maxLength']} bytes",
                    )
                )
            if "pattern" in schema and re.search(schema["pattern"], value) is None:
                self.invalid(path, value, f"{path} in body should match '{schema['pattern']}'")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                self.invalid(
                    path, value, f"{path} in body should be greater than or equal to {schema['minimum']}"
                )
            if "maximum" in schema and value > schema["maximum"]:
                self.invalid(
                    path, value, f"{path} in body should be less than or equal to {schema['maximum']}"
                )


def admit(
    obj: dict[str, Any],
    schema: dict[str, Any],
    *,
    kind: str,
    group: str,
    version: str = "v1",
    strict: bool = False,
) -> dict[str, Any]:
    """The object pruned to its schema; 422 Invalid with every cause when it does not validate.

    ``strict`` is the request's ``fieldValidation=Strict`` (kubectl sends it): an unknown
    field is then refused with 400 BadRequest instead of pruned.
    """
    checker = _Checker()
    # apiVersion, kind and metadata are the server's own: never pruned by the schema.
    own = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    pruned: dict[str, Any] = own | checker.walk({k: v for k, v in obj.items() if k not in own}, schema, "")
    meta = obj.get("metadata")
    if strict and checker.pruned:
        unknown = ", ".join(f'unknown field "{path}"' for path in checker.pruned)
        raise ApiError(
            400,
            "BadRequest",
            f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {unknown}',
        )
    if checker.causes:
        name = meta.get("name", "") if isinstance(meta, dict) else ""
        lines = [f"{c['field']}: {c['message']}" for c in checker.causes]
        said = lines[0] if len(lines) == 1 else f"[{', '.join(lines)}]"
        details = {"name": name, "group": group, "kind": kind, "causes": checker.causes}
        raise ApiError(422, "Invalid", f'{kind}.{group} "{name}" is invalid: {said}', details)
    return pruned
