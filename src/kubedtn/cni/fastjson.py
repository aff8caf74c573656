"""json.loads / compact json.dumps through CPython's C accelerator (``_json``) alone.

Importing the json package pulls in re, enum, functools and collections: a large part of
what a runtime waits for on each exec of the plugin, whose VERSION and fast paths do little
else (``make bench``, cni-version and cni-add). ``_json`` is what json itself runs on;
driving it directly gives the same objects and the same text for valid documents, and
anything unusual (invalid JSON, a BOM or UTF-16 input, an interpreter without ``_json``) is
handed to the json package, so errors and edge cases behave exactly as json's.
tests/unit/cni/test_fastjson.py compares both.
"""

from __future__ import annotations

TYPE_CHECKING = False  # see kubedtn.cni.versions
if TYPE_CHECKING:
    from typing import Any

try:
    import _json
except ImportError:  # another interpreter: the json package does everything
    _json = None  # type: ignore[assignment]

_WHITESPACE = " \t\n\r"


class _Context:
    """The attributes _json.make_scanner reads (as json.JSONDecoder has them, defaults)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__
    memo: dict[str, str] = {}  # noqa: RUF012 -- read by the C scanner, never written here


# (typeshed types the context as the scanner class itself; any object with these attributes works)
_scan = _json.make_scanner(_Context()) if _json is not None else None  # type: ignore[arg-type]
# As json.dumps(obj, separators=(",", ":")): ASCII output, no indent, NaN allowed, keys unsorted.
_encode = (
    _json.make_encoder(None, None, _json.encode_basestring_ascii, None, ":", ",", False, False, True)  # type: ignore[arg-type]
    if _json is not None
    else None
)


def loads(data: bytes | str) -> Any:
    """json.loads(data), for UTF-8 bytes or text."""
    if _scan is not None:
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            if text and text[0] != "\ufeff":  # json refuses a BOM with its own message
                start = len(text) - len(text.lstrip(_WHITESPACE))
                value, end = _scan(text, start)
                if not text[end:].strip(_WHITESPACE):
                    return value
        # SystemError: on invalid JSON the C scanner raises json.decoder.JSONDecodeError,
        # which it finds only in sys.modules; before the json package is imported it
        # fails with "returned NULL without setting an exception" instead.
        except (StopIteration, ValueError, SystemError):
            pass
    import json  # the exact error (or the unusual input) as json has it

    return json.loads(data)


def dumps(value: Any) -> str:
    """json.dumps(value, separators=(",", ":"))."""
    if _encode is not None:
        return "".join(_encode(value, 0))
    import json

    return json.dumps(value, separators=(",", ":"))
