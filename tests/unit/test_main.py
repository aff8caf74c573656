"""kubedtn.main: CNI plugin or CLI, and the wrong-Python message."""

from __future__ import annotations

import io
import json

import pytest

from kubedtn import main as entry


@pytest.mark.parametrize(
    ("environ", "argv", "expected"),
    [
        ({"CNI_COMMAND": "ADD"}, ["/opt/cni/bin/kubedtn"], True),
        ({"CNI_COMMAND": "VERSION"}, [], True),
        ({"CNI_COMMAND": "ADD"}, ["kubedtn", "version"], False),  # arguments: the CLI
        ({"CNI_COMMAND": ""}, ["kubedtn"], False),
        ({}, ["kubedtn"], False),
    ],
)
def test_cni_invocation_is_cni_command_set_and_no_arguments(
    environ: dict[str, str], argv: list[str], expected: bool
) -> None:
    assert entry.is_cni_invocation(environ, argv) is expected


def test_cni_invocation_runs_the_plugin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CNI_COMMAND", "VERSION")
    monkeypatch.setattr("sys.argv", ["kubedtn"])
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b'{"cniVersion": "0.3.1"}')))
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 0
    assert json.loads(capsys.readouterr().out)["cniVersion"] == "0.3.1"


def test_wrong_python_under_a_runtime_is_a_cni_error_on_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(entry, "REQUIRED_PYTHON", (3, 99))
    monkeypatch.setenv("CNI_COMMAND", "ADD")
    monkeypatch.setattr("sys.argv", ["kubedtn"])
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 1
    error = json.loads(capsys.readouterr().out)
    assert error["code"] == 999
    assert "kubedtn needs Python 3.99" in error["msg"]
    assert "Install python3.99 on this node" in error["msg"]


def test_wrong_python_on_the_command_line_is_a_message_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(entry, "REQUIRED_PYTHON", (3, 99))
    monkeypatch.delenv("CNI_COMMAND", raising=False)
    monkeypatch.setattr("sys.argv", ["kubedtn", "version"])
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: kubedtn needs Python 3.99")
