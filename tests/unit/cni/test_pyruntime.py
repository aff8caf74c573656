"""The Python runtime's description (runtime.json) and where it is installed from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kubedtn.cni import pyruntime
from kubedtn.errors import ValidationError

GOOD: dict[str, Any] = {
    "format": 1,
    "id": "0123456789abcdef0123456789abcdef",
    "version": "3.11.2",
    "python": "bin/python3.11",
    "loader": "lib/ld-linux-x86-64.so.2",
}


def parse(**changes: Any) -> pyruntime.Runtime:
    return pyruntime.parse_runtime(json.dumps({**GOOD, **changes}).encode(), source="/img/python")


def test_a_runtime_description() -> None:
    assert parse() == pyruntime.Runtime(
        source="/img/python",
        id=GOOD["id"],
        version=(3, 11, 2),
        python="bin/python3.11",
        loader="lib/ld-linux-x86-64.so.2",
    )
    with pytest.raises(ValidationError, match=r"/img/python/runtime.json: not JSON"):
        pyruntime.parse_runtime(b"{", source="/img/python")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": 2}, r"format must be 1, got 2"),
        ({"id": "../x"}, r"id must be 16 to 64 lower-case hex digits, got '../x'"),
        ({"version": "3.11"}, r"version must be MAJOR.MINOR.MICRO, got '3.11'"),
        (
            {"python": "/usr/bin/python3"},
            r"python must be a path inside the runtime's directory, got '/usr/bin/python3'",
        ),
        ({"loader": "lib/../../ld.so"}, r"loader must be a path inside the runtime's directory"),
        ({"loader": None}, r"loader must be a path inside the runtime's directory, got None"),
    ],
)
def test_a_bad_description_names_the_field_and_value(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=rf"^/img/python/runtime.json: {message}"):
        parse(**changes)


def test_the_runtime_must_be_the_python_of_the_wheels() -> None:
    pyruntime.check_version(parse(), (3, 11))
    with pytest.raises(
        ValidationError,
        match=r"/img/python: Python 3.12.1, but .* built for Python 3.11 \(its cp311 wheels\)",
    ):
        pyruntime.check_version(parse(version="3.12.1"), (3, 11))


def test_where_the_runtime_comes_from(tmp_path: Path) -> None:
    assert pyruntime.resolve_source(None) is None
    assert pyruntime.resolve_source("none") is None
    assert pyruntime.resolve_source("") is None
    # auto: the node image's, when there (not on a development machine).
    auto = pyruntime.resolve_source("auto")
    assert auto == (
        pyruntime.DEFAULT_SOURCE if Path(pyruntime.DEFAULT_SOURCE, "runtime.json").is_file() else None
    )
    with pytest.raises(ValidationError, match=rf"--cni-python-runtime {tmp_path}: no runtime.json there"):
        pyruntime.resolve_source(tmp_path)
    (tmp_path / "runtime.json").write_text(json.dumps(GOOD))
    assert pyruntime.resolve_source(tmp_path) == str(tmp_path)
    assert pyruntime.read_runtime(str(tmp_path)).id == GOOD["id"]


def test_only_an_installed_copy_is_removed(tmp_path: Path) -> None:
    theirs = tmp_path / "python"  # a runtime, but not under its id: not a copy kubedtn made
    theirs.mkdir()
    (theirs / "runtime.json").write_text(json.dumps(GOOD))
    assert pyruntime.remove_runtime(str(theirs)) is False and theirs.is_dir()
    ours = tmp_path / GOOD["id"]
    ours.mkdir()
    (ours / "runtime.json").write_text(json.dumps(GOOD))
    (ours / "complete").write_text("")
    assert pyruntime.remove_runtime(str(ours)) is True and not ours.exists()
    assert pyruntime.remove_runtime(str(ours)) is False  # gone: nothing to do
