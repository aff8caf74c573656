"""The plugin driven in-process as a runtime drives it: environment, stdin, stdout, exit code."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from kubedtn import errors
from kubedtn.cni import plugin, spec
from tests.unit.cni.conftest import Invocation

CONFIG = {"cniVersion": "1.0.0", "name": "kubedtn-net", "type": "kubedtn"}


ADD_ENV = {
    "CNI_CONTAINERID": "c0ffee",
    "CNI_NETNS": "/var/run/netns/cni-1",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/opt/cni/bin",
    "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=r1",
}


def test_version_echoes_a_supported_request_version(invoke: Callable[..., Invocation]) -> None:
    got = invoke("VERSION", {"cniVersion": "0.4.0"})
    assert got.code == 0
    assert got.result == {
        "cniVersion": "0.4.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }


def test_version_with_empty_stdin_answers_with_the_latest(invoke: Callable[..., Invocation]) -> None:
    got = invoke("VERSION", b"")
    assert got.code == 0
    assert got.result["cniVersion"] == "1.1.0"
    assert got.log == ""  # a VERSION probe is not worth a log line


def test_version_with_malformed_stdin_is_code_6(invoke: Callable[..., Invocation]) -> None:
    got = invoke("VERSION", b'{"cniVersion": ')
    assert got.code == 1
    assert got.result["code"] == 6
    assert got.result["cniVersion"] == "1.1.0"
    assert "cmd=VERSION result=error code=6" in got.log


def test_an_error_answers_in_the_request_version_and_is_logged_with_context(
    invoke: Callable[..., Invocation],
) -> None:
    got = invoke("ADD", CONFIG, **ADD_ENV)  # no prevResult: kubedtn is not chained
    assert got.code == 1
    assert got.result["code"] == 7
    assert got.result["cniVersion"] == "1.0.0"  # errors answer in the request's version
    assert "kubedtn must be chained after a primary plugin" in got.result["msg"]
    # One structured log line with the invocation's context; nothing of it on stdout.
    assert "cmd=ADD container=c0ffee netns=/var/run/netns/cni-1 ifname=eth0 pod=lab/r1" in got.log
    assert "code=7" in got.log


def test_stdin_larger_than_a_mebibyte_is_refused_unread(invoke: Callable[..., Invocation]) -> None:
    got = invoke("ADD", b" " * (plugin.MAX_STDIN + 1), **ADD_ENV)
    assert (got.code, got.result["code"]) == (1, 6)
    assert got.result["msg"].startswith("the network configuration on stdin is larger than 1048576 bytes")


def test_malformed_config_is_code_6_in_the_latest_version(invoke: Callable[..., Invocation]) -> None:
    got = invoke("ADD", "{not json", **ADD_ENV)
    assert got.code == 1
    assert got.result["code"] == 6
    assert got.result["cniVersion"] == "1.1.0"
    assert "network configuration on stdin is not valid JSON" in got.result["msg"]


def test_unsupported_config_version_is_code_1(invoke: Callable[..., Invocation]) -> None:
    got = invoke("ADD", {**CONFIG, "cniVersion": "0.2.0"}, **ADD_ENV)
    assert got.result["code"] == 1
    assert got.result["cniVersion"] == "1.1.0"


def test_missing_environment_is_code_4(invoke: Callable[..., Invocation]) -> None:
    got = invoke("ADD", CONFIG, CNI_CONTAINERID="c0ffee", CNI_IFNAME="eth0", CNI_PATH="/opt/cni/bin")
    assert got.result["code"] == 4
    assert "CNI_NETNS" in got.result["msg"]


@pytest.mark.parametrize("command", [None, "FROB"])
def test_missing_or_unknown_command_is_code_4(invoke: Callable[..., Invocation], command: str | None) -> None:
    got = invoke(command, CONFIG, **ADD_ENV)
    assert got.code == 1
    assert got.result["code"] == 4


def test_gc_on_a_1_0_0_config_is_code_1(invoke: Callable[..., Invocation]) -> None:
    assert invoke("GC", CONFIG).result["code"] == 1


def test_kubedtn_errors_from_a_handler_become_cni_codes(
    invoke: Callable[..., Invocation], monkeypatch: pytest.MonkeyPatch
) -> None:
    def handler(request: spec.Request) -> None:
        raise errors.TemporaryError(f"daemon for {request.env.args.pod_name} not reachable", delay=1)

    monkeypatch.setattr(plugin, "_handler", lambda command: handler)
    got = invoke("ADD", CONFIG, **ADD_ENV)
    assert got.result == {
        "cniVersion": "1.0.0",
        "code": 11,
        "msg": "daemon for r1 not reachable",
        "details": "retry after 1s",
    }


def test_a_bug_in_a_handler_is_code_999_with_the_traceback_in_the_log(
    invoke: Callable[..., Invocation], monkeypatch: pytest.MonkeyPatch
) -> None:
    def handler(request: spec.Request) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(plugin, "_handler", lambda command: handler)
    got = invoke("ADD", CONFIG, **ADD_ENV)
    assert got.code == 1
    assert got.result["code"] == 999
    assert "ZeroDivisionError" in got.result["msg"]
    assert "Traceback" in got.log and "def handler" not in got.stdout


def test_a_handler_result_is_printed_and_none_prints_nothing(
    invoke: Callable[..., Invocation], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugin, "_handler", lambda command: lambda request: {"cniVersion": "1.0.0"})
    got = invoke("ADD", CONFIG, **ADD_ENV)
    assert (got.code, got.result) == (0, {"cniVersion": "1.0.0"})
    assert "result=ok" in got.log
    monkeypatch.setattr(plugin, "_handler", lambda command: lambda request: None)
    got = invoke("DEL", CONFIG, **ADD_ENV)
    assert (got.code, got.stdout) == (0, "")


def test_unwritable_log_file_falls_back_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = io.StringIO()
    environ = {"CNI_COMMAND": "CHECK", "KUBEDTN_CNI_LOG": str(blocker / "cni.log"), **ADD_ENV}
    code = plugin.run(environ=environ, stdin=io.BytesIO(json.dumps(CONFIG).encode()), stdout=out)
    assert code == 1
    assert json.loads(out.getvalue())["code"] == 7  # CHECK without prevResult
    err = capsys.readouterr().err
    assert "cannot open log file" in err and "code=7" in err


def test_log_file_comes_from_the_config_when_the_environment_has_none(tmp_path: Path) -> None:
    log = tmp_path / "sub" / "from-config.log"
    environ = {"CNI_COMMAND": "ADD", **ADD_ENV}
    stdin = io.BytesIO(json.dumps({**CONFIG, "logFile": str(log)}).encode())
    plugin.run(environ=environ, stdin=stdin, stdout=io.StringIO())
    assert "cmd=ADD" in log.read_text()


def test_version_path_imports_no_heavy_module() -> None:
    """VERSION runs per exec: it must not load grpc, kubernetes, pyroute2 or even the parser."""
    script = textwrap.dedent(
        """
        import atexit, sys
        atexit.register(lambda: sys.stderr.write("\\n" + " ".join(sorted(sys.modules))))
        from kubedtn.main import main
        main()
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=b'{"cniVersion": "1.0.0"}',
        capture_output=True,
        env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["cniVersion"] == "1.0.0"
    loaded = set(proc.stderr.decode().split("\n")[-1].split())
    assert "kubedtn.cni.plugin" in loaded  # the list is real
    heavy = {"grpc", "google.protobuf", "kubernetes", "pyroute2", "kubedtn.proto", "kubedtn.cni.spec"}
    heavy |= {"logging", "dataclasses", "typing", "click", "json", "re", "enum"}
    assert not heavy & loaded, f"VERSION imported {sorted(heavy & loaded)}"
