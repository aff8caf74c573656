"""``kubedtn topo get``'s table: the CRD's additionalPrinterColumns, as kubectl shows them.

The columns come from the CRD the model generates (``kubedtn.model.crd``); each cell is
its JSONPath evaluated on the object. The JSONPaths there use the simple forms only:
``.a.b``, ``[n]``, ``[*]`` and filters ``[?(@.k=="v")]``, which is what is understood here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kubedtn.model.crd import custom_resource_definition

_STEP = re.compile(
    r"""\.([A-Za-z0-9_-]+)|\[(\d+|\*)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*["']([^"']*)["']\)\]"""
)
MISSING = "<none>"


def printer_columns() -> list[dict[str, Any]]:
    columns: list[dict[str, Any]] = custom_resource_definition()["spec"]["versions"][0][
        "additionalPrinterColumns"
    ]
    return columns


def _steps(path: str) -> list[tuple[str, str, str, str]]:
    steps: list[tuple[str, str, str, str]] = []
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise ValueError(f"JSONPath {path!r}: cannot read {path[pos:]!r}")
        steps.append((m.group(1) or "", m.group(2) or "", m.group(3) or "", m.group(4) or ""))
        pos = m.end()
    return steps


def _field(value: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def json_path(obj: Any, path: str) -> list[Any]:
    """Every value ``path`` selects in ``obj`` (an empty list when none)."""
    values = [obj]
    for key, index, filter_key, filter_value in _steps(path):
        out: list[Any] = []
        for value in values:
            if key:
                if isinstance(value, Mapping) and key in value:
                    out.append(value[key])
            elif index == "*":
                out.extend(value if isinstance(value, list) else [])
            elif index:
                if isinstance(value, list) and int(index) < len(value):
                    out.append(value[int(index)])
            elif isinstance(value, list):
                out.extend(v for v in value if str(_field(v, filter_key)) == filter_value)
        values = out
    return values


def age(timestamp: str, now: datetime) -> str:
    """kubectl's short age: ``45s``, ``5m``, ``3h``, ``12d``, ``2y``."""
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return MISSING
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size, limit in (
        ("s", 1, 120),
        ("m", 60, 3 * 3600),
        ("h", 3600, 2 * 86400),
        ("d", 86400, 730 * 86400),
    ):
        if seconds < limit:
            return f"{seconds // size}{unit}"
    return f"{seconds // (365 * 86400)}y"


def _cell(obj: Mapping[str, Any], column: Mapping[str, Any], now: datetime) -> str:
    values = json_path(obj, column["jsonPath"])
    if not values or values == [None]:
        return MISSING
    if column.get("type") == "date":
        return age(str(values[0]), now)
    return ",".join(str(v) for v in values)


def rows(
    objects: Sequence[Mapping[str, Any]], *, wide: bool, all_namespaces: bool, now: datetime
) -> list[list[str]]:
    """The header and one row per object."""
    columns = [c for c in printer_columns() if wide or not c.get("priority")]
    header = ["NAME", *(c["name"].upper() for c in columns)]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
    out = [header]
    for obj in objects:
        meta = obj.get("metadata", {})
        row = [str(meta.get("name", "")), *(_cell(obj, c, now) for c in columns)]
        if all_namespaces:
            row.insert(0, str(meta.get("namespace", "")))
        out.append(row)
    return out


def render(table: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell and three spaces apart, as kubectl prints them."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
        for row in table
    )
