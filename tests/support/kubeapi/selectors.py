"""Label and field selectors of list and watch requests.

API Conventions, "Lists and Simple kinds": lists that return objects with labels support label
filtering, and most lists support filtering by fields. Grammar as kubectl sends it: equality
(`=`, `==`, `!=`), set-based (`in`, `notin`), existence (`key`, `!key`) for labels; equality only
for fields, and only the fields each kind supports (else 400 BadRequest, as the real server).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.support.kubeapi import errors

Predicate = Callable[[dict[str, Any]], bool]
_SET = re.compile(r"^\s*(!?)([^\s!=(),]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")
_EQ = re.compile(r"^\s*([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)\s*$")


def _terms(selector: str) -> list[str]:
    """Split at commas that are not inside a `(...)` value set."""
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return [t for t in terms if t.strip()]


def _label_term(term: str) -> Predicate:
    eq = _EQ.match(term)
    if eq:
        key, op, value = eq.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    st = _SET.match(term)
    if not st:
        raise errors.bad_request(
            f"unable to parse requirement {term!r} of the label selector: expected key, !key, key=value, "
            "key!=value, key in (a,b) or key notin (a,b)"
        )
    negated, key, op, values = st.groups()
    if op:
        if negated:
            raise errors.bad_request(f"unable to parse requirement {term!r}: '!' goes with a bare key only")
        allowed = {v.strip() for v in values.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    if negated:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def label_selector(selector: str) -> Predicate:
    tests = [_label_term(t) for t in _terms(selector)]

    def matches(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(test(labels) for test in tests)

    return matches


def _field_value(obj: dict[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_selector(selector: str, supported: frozenset[str], kind: str) -> Predicate:
    tests: list[tuple[str, bool, str]] = []
    for term in _terms(selector):
        eq = _EQ.match(term)
        if not eq:
            raise errors.bad_request(f"invalid field selector {term!r}: expected field=value or field!=value")
        path, op, value = eq.groups()
        if path not in supported:
            raise errors.bad_request(
                f"field label not supported: {path} (for {kind}: {', '.join(sorted(supported))})"
            )
        tests.append((path, op != "!=", value))

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field_value(obj, path) == value) == equal for path, equal, value in tests)

    return matches
