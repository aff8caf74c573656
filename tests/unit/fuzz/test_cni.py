"""Fuzz: the CNI plugin's entry (``plugin.run``: the fast path, then the full parse) on
random stdin and CNI_* values. It never raises and never prints a traceback: stdout is
exactly one JSON object, a result or a CNI error that is not an internal one (999), and an
error caused by one bad field names that field."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubedtn.cni import client, plugin
from kubedtn.cni.errors import Code
from tests.unit.fuzz.budget import examples

pytestmark = pytest.mark.fuzz

PREV = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/x"}], "ips": []}
ENV_KEYS = ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH", "CNI_ARGS")

_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=10).map(
        lambda s: s * 3000  # huge values (stdin stays under its limit, tested apart)
    ),
    st.sampled_from(["", "ADD", "DEL", "CHECK", "VERSION", "1.0.0", "eth0", "/proc/1/ns/net", "a=b;c"]),
)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("cni-fuzz")
    (tmp / "listed.json").write_text(json.dumps({"pods": ["lab/r1"]}))
    yield tmp


@pytest.fixture(autouse=True)
def no_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's answer is not what is fuzzed here: a topology pod's SetupPod succeeds."""
    monkeypatch.setattr(client, "setup_pod", lambda *_a, **_k: None)


def valid(files: Path) -> tuple[dict[str, str], dict[str, Any]]:
    environ = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c0ffee",
        "CNI_NETNS": "/var/run/netns/x",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME=r1",
        "KUBEDTN_CNI_LOG": str(files / "cni.log"),
    }
    config = {
        "cniVersion": "1.0.0",
        "name": "net",
        "type": "kubedtn",
        "prevResult": PREV,
        "podList": str(files / "listed.json"),
        "daemonSocket": str(files / "daemon.sock"),
        "daemonWaitSeconds": 0,
    }
    return environ, config


def run(environ: dict[str, str], data: bytes) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = plugin.run(environ, io.BytesIO(data), out)
    text = out.getvalue()
    assert "Traceback" not in text
    assert code in (plugin.EXIT_OK, plugin.EXIT_ERROR)
    if code == plugin.EXIT_OK and not text:
        return code, {}  # DEL, CHECK: nothing to say
    assert text.endswith("\n") and text.count("\n") == 1, f"not one JSON line: {text[:300]!r}"
    answer = json.loads(text)
    assert isinstance(answer, dict)
    if code == plugin.EXIT_ERROR:
        assert isinstance(answer.get("code"), int) and isinstance(answer.get("msg"), str), answer
        assert answer["code"] != Code.INTERNAL, answer
    return code, answer


def assert_names(code: int, answer: dict[str, Any], key: str, value: Any) -> None:
    """An error names ``key``, unless the value was accepted and the call got as far as the
    daemon (DEL and CHECK call it; no daemon listens here)."""
    if code == plugin.EXIT_OK or answer["msg"].startswith("kubedtn daemon not reachable"):
        return
    said = f"{answer['msg']} {answer.get('details', '')}"
    assert key in said, f"{key}={value!r:.80}: {said[:300]}"


@examples(150)
@given(
    environ=st.dictionaries(st.sampled_from(ENV_KEYS), _text, max_size=6),
    stdin=st.one_of(_json.map(lambda v: json.dumps(v).encode()), st.binary(max_size=300)),
)
def test_random_stdin_and_environment_give_one_cni_answer(
    environ: dict[str, str], stdin: bytes, files: Path
) -> None:
    run({**environ, "KUBEDTN_CNI_LOG": str(files / "cni.log")}, stdin)


@examples(150)
@given(
    command=st.sampled_from(["ADD", "DEL", "CHECK"]),
    key=st.sampled_from(
        ["cniVersion", "name", "type", "prevResult", "podList", "daemonSocket", "daemonWaitSeconds"]
    ),
    value=_json,
)
def test_one_bad_config_field_is_named(command: str, key: str, value: Any, files: Path) -> None:
    environ, config = valid(files)
    config[key] = value
    code, answer = run({**environ, "CNI_COMMAND": command}, json.dumps(config).encode())
    assert_names(code, answer, key, value)


@examples(150)
@given(
    command=st.sampled_from(["ADD", "DEL", "CHECK"]),
    key=st.sampled_from([k for k in ENV_KEYS if k != "CNI_COMMAND"]),
    value=_text,
)
def test_one_bad_variable_is_named(command: str, key: str, value: str, files: Path) -> None:
    environ, config = valid(files)
    environ[key] = value
    code, answer = run({**environ, "CNI_COMMAND": command}, json.dumps(config).encode())
    assert_names(code, answer, key, value)


def test_stdin_beyond_the_limit_is_refused_naming_its_size(files: Path) -> None:
    environ, config = valid(files)
    config["padding"] = "x" * plugin.MAX_STDIN
    code, answer = run(environ, json.dumps(config).encode())
    assert code == plugin.EXIT_ERROR and answer["code"] == Code.DECODE_FAILED
    assert f"larger than {plugin.MAX_STDIN} bytes" in answer["msg"]
