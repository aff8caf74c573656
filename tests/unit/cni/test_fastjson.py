"""fastjson against the json package: the same objects, the same text, the same errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubedtn.cni import fastjson

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=documents, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_loads_gives_what_json_gives(value: Any, indent: int | None, ascii_only: bool) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    assert fastjson.loads(text) == json.loads(text)
    assert fastjson.loads(f" \n{text}\t\r\n".encode()) == json.loads(text)


@given(value=documents)
def test_dumps_writes_what_json_writes(value: Any) -> None:
    assert fastjson.dumps(value) == json.dumps(value, separators=(",", ":"))


def test_special_numbers_and_big_integers() -> None:
    for text in ("NaN", "[Infinity, -Infinity]", "123456789012345678901234567890", "1e400", "-0.0"):
        ours, theirs = fastjson.loads(text), json.loads(text)
        assert repr(ours) == repr(theirs) or (math.isnan(ours) and math.isnan(theirs))
    assert fastjson.dumps([math.inf, -math.inf]) == "[Infinity,-Infinity]"


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"{", b'{"a": 1} x', b'{"a": 1}{}', b"\xff\xfe", b'"\x01"', "\ufeff{}", b"[1,]"],
)
def test_invalid_input_fails_exactly_as_json_fails(data: bytes | str) -> None:
    with pytest.raises(ValueError) as theirs:
        json.loads(data)
    with pytest.raises(ValueError) as ours:
        fastjson.loads(data)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


@pytest.mark.parametrize("data", ['\ufeff{"a": 1}'.encode(), '{"a": "é"}'.encode("utf-16")])
def test_byte_order_marks_and_utf16_as_json_reads_them(data: bytes) -> None:
    assert fastjson.loads(data) == json.loads(data)


def test_invalid_input_in_a_process_that_never_imported_json() -> None:
    # As the plugin runs: nothing has imported the json package (the test process has).
    code = (
        "import sys\n"
        "from kubedtn.cni import fastjson\n"
        "assert 'json.decoder' not in sys.modules\n"
        "try:\n"
        '    fastjson.loads(b\'{"cniVersion": "1.0.0", \')\n'
        "except ValueError as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("JSONDecodeError Expecting property name enclosed in double quotes")
