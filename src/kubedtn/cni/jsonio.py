"""JSON in and out of the CNI protocol: stdin documents in, one result object out."""

from __future__ import annotations

from kubedtn.cni import fastjson
from kubedtn.cni.errors import CniError, Code

TYPE_CHECKING = False  # see kubedtn.cni.versions
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


def decode_object(data: bytes, *, what: str) -> dict[str, Any]:
    """Decode a JSON object; anything else is CniError code 6 naming `what` and the problem."""
    try:
        value = fastjson.loads(data)
    except UnicodeDecodeError as e:
        raise CniError(Code.DECODE_FAILED, f"{what} is not UTF-8 text: {e}") from e
    except ValueError as e:  # json.JSONDecodeError (json is loaded only when decoding failed)
        msg, line, column = (getattr(e, name, "?") for name in ("msg", "lineno", "colno"))
        raise CniError(
            Code.DECODE_FAILED,
            f"{what} is not valid JSON: {msg} at line {line} column {column}",
            details=_excerpt(data),
        ) from e
    if not isinstance(value, dict):
        raise CniError(
            Code.DECODE_FAILED,
            f"{what} must be a JSON object, got a JSON {_json_kind(value)}",
            details=_excerpt(data),
        )
    return value


def encode(result: Mapping[str, Any]) -> str:
    """A result object as one line of JSON (what goes to stdout)."""
    return fastjson.dumps(result)


def _json_kind(value: object) -> str:
    kinds = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _excerpt(data: bytes, limit: int = 200) -> str:
    text = data[:limit].decode("utf-8", errors="replace")
    return f"input starts with: {text!r}" + (" (truncated)" if len(data) > limit else "")
