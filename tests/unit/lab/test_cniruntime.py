"""The minimal CNI runtime with tiny fake plugins (shell scripts that log what they got):
the order of the chain, what each plugin sees (env, stdin with prevResult), errors."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from kubedtn.errors import ValidationError
from kubedtn.lab.cniruntime import (
    Attachment,
    CniRuntime,
    NetworkList,
    PluginError,
    load_network_list,
    parse_network_list,
    pod_args,
)

# A plugin that appends its name, env and stdin to $LOG and prints a result extending prevResult.
PLUGIN = """#!/usr/bin/env python3
import json, os, sys
conf = json.load(sys.stdin)
with open(os.environ["FAKE_LOG"], "a") as log:
    env = {k: v for k, v in os.environ.items() if k.startswith("CNI_")}
    log.write(json.dumps({"plugin": conf["type"], "env": env, "conf": conf}) + "\\n")
fail = conf.get("failOn")
if fail == os.environ["CNI_COMMAND"]:
    error = {"cniVersion": conf["cniVersion"], "code": 7, "msg": "bad " + conf["type"], "details": "d"}
    print(json.dumps(error))
    sys.exit(1)
if conf.get("garbage"):
    print("oops")
    sys.exit(2)
if os.environ["CNI_COMMAND"] == "ADD":
    prev = conf.get("prevResult", {"cniVersion": conf["cniVersion"], "interfaces": []})
    prev["interfaces"] = prev["interfaces"] + [{"name": conf["type"]}]
    print(json.dumps(prev))
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    for name in ("first", "second", "third"):
        path = directory / name
        path.write_text(PLUGIN)
        path.chmod(0o755)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "log"))
    return directory


def calls(tmp_path: Path) -> list[dict[str, Any]]:
    log = tmp_path / "log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def network(version: str = "1.0.0", **second: Any) -> NetworkList:
    return parse_network_list(
        {
            "cniVersion": version,
            "name": "net",
            "plugins": [{"type": "first", "x": 1}, {"type": "second", **second}, {"type": "third"}],
        }
    )


POD = Attachment(
    container_id="c1", netns="/run/netns/p1", ifname="eth0", args=pod_args(namespace="ns", name="p1")
)


def test_add_chains_prev_result_through_the_plugins(plugins: Path, tmp_path: Path) -> None:
    result = CniRuntime(cni_path=[str(plugins)]).add(network(), POD)
    assert result == {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "first"}, {"name": "second"}, {"name": "third"}],
    }
    seen = calls(tmp_path)
    assert [c["plugin"] for c in seen] == ["first", "second", "third"]
    assert seen[0]["conf"] == {"type": "first", "x": 1, "name": "net", "cniVersion": "1.0.0"}
    assert seen[2]["conf"]["prevResult"]["interfaces"] == [{"name": "first"}, {"name": "second"}]
    assert seen[0]["env"] == {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/run/netns/p1",
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p1",
        "CNI_PATH": str(plugins),
    }


def test_del_runs_in_reverse_with_the_add_result_and_check_in_order(plugins: Path, tmp_path: Path) -> None:
    runtime = CniRuntime(cni_path=[str(plugins)])
    result = runtime.add(network(), POD)
    (tmp_path / "log").unlink()
    runtime.check(network(), POD, prev_result=result)
    runtime.delete(network(), POD, prev_result=result)
    seen = calls(tmp_path)
    assert [(c["env"]["CNI_COMMAND"], c["plugin"]) for c in seen] == [
        ("CHECK", "first"),
        ("CHECK", "second"),
        ("CHECK", "third"),
        ("DEL", "third"),
        ("DEL", "second"),
        ("DEL", "first"),
    ]
    assert all(c["conf"]["prevResult"] == result for c in seen)


def test_del_before_0_4_0_sends_no_prev_result_and_check_is_refused(plugins: Path, tmp_path: Path) -> None:
    runtime = CniRuntime(cni_path=[str(plugins)])
    old = network("0.3.1")
    result = runtime.add(old, POD)
    runtime.delete(old, POD, prev_result=result)
    assert all("prevResult" not in c["conf"] for c in calls(tmp_path) if c["env"]["CNI_COMMAND"] == "DEL")
    with pytest.raises(ValidationError, match=r"CHECK needs cniVersion 0\.4\.0"):
        runtime.check(old, POD, prev_result=result)


def test_the_cache_serves_del_and_check_of_another_process(plugins: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    result = CniRuntime(cni_path=[str(plugins)], cache_dir=cache).add(network(), POD)
    later = CniRuntime(cni_path=[str(plugins)], cache_dir=cache)
    later.check(network(), POD)
    later.delete(network(), POD)
    assert [c["conf"].get("prevResult") for c in calls(tmp_path)[3:]] == [result] * 6
    assert os.listdir(cache) == []
    with pytest.raises(ValidationError, match="no result of an ADD to check against"):
        later.check(network(), POD)


def test_a_failing_plugin_raises_its_cni_error(plugins: Path, tmp_path: Path) -> None:
    runtime = CniRuntime(cni_path=[str(plugins)])
    with pytest.raises(PluginError) as caught:
        runtime.add(network(failOn="ADD"), POD)
    assert (caught.value.plugin, caught.value.command) == ("second", "ADD")
    assert caught.value.error == {"code": 7, "msg": "bad second", "details": "d"}
    assert str(caught.value) == "CNI plugin second ADD failed with code 7: bad second\nd"
    assert [c["plugin"] for c in calls(tmp_path)] == ["first", "second"]  # stopped there


def test_del_runs_every_plugin_even_when_one_fails(plugins: Path, tmp_path: Path) -> None:
    with pytest.raises(PluginError, match="second DEL failed"):
        CniRuntime(cni_path=[str(plugins)]).delete(network(failOn="DEL"), POD)
    assert [c["plugin"] for c in calls(tmp_path)] == ["third", "second", "first"]


def test_output_that_is_no_cni_error_is_reported_with_stderr(plugins: Path) -> None:
    with pytest.raises(PluginError) as caught:
        CniRuntime(cni_path=[str(plugins)]).add(network(garbage=True), POD)
    assert (caught.value.code, caught.value.msg) == (999, "exited 2 without a CNI error object")


def test_a_missing_plugin_names_the_path(plugins: Path) -> None:
    bad = parse_network_list({"cniVersion": "1.0.0", "name": "n", "type": "nowhere"})
    with pytest.raises(PluginError, match=f"no executable 'nowhere' in CNI path {plugins}:/x"):
        CniRuntime(cni_path=[str(plugins), "/x"]).add(bad, POD)


def test_status_only_for_1_1_0(plugins: Path, tmp_path: Path) -> None:
    runtime = CniRuntime(cni_path=[str(plugins)])
    runtime.status(network("1.0.0"))
    assert calls(tmp_path) == []
    runtime.status(network("1.1.0"))
    seen = calls(tmp_path)
    assert [c["plugin"] for c in seen] == ["first", "second", "third"]
    assert seen[0]["env"] == {"CNI_COMMAND": "STATUS", "CNI_PATH": str(plugins)}


def test_loading_configuration_files(tmp_path: Path) -> None:
    single = tmp_path / "10-bridge.conf"
    single.write_text(json.dumps({"cniVersion": "0.4.0", "name": "b", "type": "bridge", "bridge": "cni0"}))
    assert load_network_list(single) == NetworkList(
        name="b", cni_version="0.4.0", plugins=({"type": "bridge", "bridge": "cni0"},), source=str(single)
    )
    listed = tmp_path / "x.conflist"
    listed.write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "x", "disableCheck": "true", "plugins": [{"type": "a"}]})
    )
    assert load_network_list(listed).disable_check is True
    cases: list[tuple[Any, str]] = [
        ({"cniVersion": "1.0.0", "name": "x"}, "neither a configuration list"),
        ({"cniVersion": "1.0.0", "name": "x", "plugins": []}, "plugins must be a non-empty list"),
        ({"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": ""}]}, r"plugins\[0\] must be an object"),
        ({"cniVersion": 1, "name": "x", "type": "a"}, "cniVersion must be a string"),
        ({"cniVersion": "1.0.0", "type": "a"}, "name must be a non-empty string"),
    ]
    for bad, problem in cases:
        with pytest.raises(ValidationError, match=problem):
            parse_network_list(bad, source="f")
    with pytest.raises(ValidationError, match="cannot read the CNI configuration"):
        load_network_list(tmp_path / "missing.conflist")
