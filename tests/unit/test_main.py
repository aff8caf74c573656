"""kubedtn.main: CNI plugin or CLI, and the wrong-Python message."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

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


def _wrong_python_cni_call(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config: dict[str, object], pod: str
) -> int:
    """main() as a runtime runs it, on a Python the wheels are not for (3.99 required)."""
    monkeypatch.setattr(entry, "REQUIRED_PYTHON", (3, 99))
    for name, value in {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c0ffee",
        "CNI_NETNS": "/var/run/netns/x",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": f"K8S_POD_NAMESPACE=lab;K8S_POD_NAME={pod}",
        "KUBEDTN_CNI_LOG": str(tmp_path / "cni.log"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("sys.argv", ["kubedtn"])
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(config).encode())))
    with pytest.raises(SystemExit) as exited:
        entry.main()
    assert isinstance(exited.value.code, int)
    return exited.value.code


def _config(tmp_path: Path, **extra: object) -> dict[str, object]:
    pod_list = tmp_path / "pods.json"
    pod_list.write_text('{"pods": ["lab/r1"]}')
    return {"cniVersion": "1.0.0", "name": "k8s", "type": "kubedtn", "podList": str(pod_list), **extra}


def test_wrong_python_under_a_runtime_still_passes_a_pod_in_no_topology_through(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}], "ips": []}
    assert _wrong_python_cni_call(monkeypatch, tmp_path, _config(tmp_path, prevResult=prev), "web") == 0
    assert json.loads(capsys.readouterr().out) == prev


def test_wrong_python_under_a_runtime_is_a_cni_error_on_stdout_for_the_rest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prev = {"cniVersion": "1.0.0", "interfaces": [], "ips": []}
    assert _wrong_python_cni_call(monkeypatch, tmp_path, _config(tmp_path, prevResult=prev), "r1") == 1
    error = json.loads(capsys.readouterr().out)
    assert error["code"] == 103
    assert error["msg"].startswith("CNI_COMMAND=ADD for pod lab/r1: the pod is in a topology")
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


@pytest.mark.parametrize(
    ("argv", "code", "out", "err"),
    [
        (["kubedtn", "version", "--help"], 0, "Usage:", ""),
        (["kubedtn", "no-such-command"], 2, "", "No such command"),
        (["kubedtn", "lab", "up", "/nonexistent/topology.yaml"], 1, "", "/nonexistent/topology.yaml"),
    ],
)
def test_the_command_line_leaves_with_its_exit_code_and_all_its_output(
    argv: list[str], code: int, out: str, err: str, tmp_path: Path
) -> None:
    """The CLI skips the interpreter's teardown (os._exit): nothing printed may be lost."""
    script = "import sys; from kubedtn.main import main; sys.argv = sys.argv[1:]; main()"
    env = {**os.environ, "KUBEDTN_LAB_STATE_DIR": str(tmp_path)}
    env.pop("CNI_COMMAND", None)
    proc = subprocess.run(
        [sys.executable, "-c", script, *argv],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == code, proc.stderr
    assert out in proc.stdout
    assert err in proc.stderr


def test_leaving_with_a_message_prints_it_and_exits_1() -> None:
    script = "from kubedtn.main import _leave; print('partial', end=''); _leave('the reason')"
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, "partial", "the reason\n")
