from __future__ import annotations

import json
from typing import Any

import pytest

from kubedtn.cni import spec
from kubedtn.cni.errors import CniError, Code

ADD_ENV = {
    "CNI_COMMAND": "ADD",
    "CNI_CONTAINERID": "3f2a9c1b_pod.0-a",
    "CNI_NETNS": "/var/run/netns/cni-1234",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/opt/cni/bin:/usr/lib/cni",
    "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=r1;"
    "K8S_POD_INFRA_CONTAINER_ID=3f2a9c1b;K8S_POD_UID=0e6c-11",
}

CONFIG: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "name": "kubedtn-net",
    "type": "kubedtn",
    "logFile": "/tmp/x.log",
    "prevResult": {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/cni-1234"}],
        "ips": [{"address": "10.244.1.5/24", "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0"}],
    },
}


def code_of(call: Any, *args: Any) -> tuple[int, str]:
    with pytest.raises(CniError) as caught:
        call(*args)
    return caught.value.code, caught.value.msg


# --- CNI_COMMAND ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"])
def test_every_spec_command_parses(raw: str) -> None:
    assert spec.parse_command(raw).value == raw


@pytest.mark.parametrize(("raw", "shown"), [(None, "is not set"), ("add", "is 'add'"), ("", "is ''")])
def test_unknown_or_missing_command_is_code_4_listing_accepted(raw: str | None, shown: str) -> None:
    code, msg = code_of(spec.parse_command, raw)
    assert code == Code.INVALID_ENVIRONMENT
    assert f"CNI_COMMAND {shown}" in msg
    assert "ADD, DEL, CHECK, VERSION, STATUS, GC" in msg


# --- CNI_ARGS ------------------------------------------------------------------------


def test_kubelet_cni_args_parse_into_fields() -> None:
    args = spec.parse_cni_args(ADD_ENV["CNI_ARGS"])
    assert args == spec.CniArgs(
        pod_name="r1",
        pod_namespace="default",
        pod_infra_container_id="3f2a9c1b",
        pod_uid="0e6c-11",
        ignore_unknown=True,
        other={},
    )


def test_empty_cni_args_and_trailing_separator() -> None:
    assert spec.parse_cni_args("") == spec.CniArgs()
    assert spec.parse_cni_args("K8S_POD_NAME=a;").pod_name == "a"


def test_values_may_contain_equals_signs() -> None:
    assert spec.parse_cni_args("IgnoreUnknown=1;LABEL=a=b").other == {"LABEL": "a=b"}


def test_unknown_key_without_ignore_unknown_is_code_4_naming_it() -> None:
    code, msg = code_of(spec.parse_cni_args, "K8S_POD_NAME=r1;FOO=bar")
    assert code == Code.INVALID_ENVIRONMENT
    assert "FOO" in msg and "IgnoreUnknown=1" in msg


def test_unknown_keys_are_kept_with_ignore_unknown() -> None:
    args = spec.parse_cni_args("IgnoreUnknown=true;FOO=bar")
    assert args.ignore_unknown and args.other == {"FOO": "bar"}


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("K8S_POD_NAME", "'K8S_POD_NAME' is not KEY=VALUE"),
        ("=x", "'=x' is not KEY=VALUE"),
        ("K8S_POD_NAME=a;K8S_POD_NAME=b", "given twice"),
        ("IgnoreUnknown=maybe", "IgnoreUnknown='maybe' is not a boolean"),
    ],
)
def test_malformed_cni_args_are_code_4(raw: str, fragment: str) -> None:
    code, msg = code_of(spec.parse_cni_args, raw)
    assert code == Code.INVALID_ENVIRONMENT
    assert fragment in msg


# --- CNI_* environment ---------------------------------------------------------------


def test_add_environment_parses() -> None:
    env = spec.parse_environment(ADD_ENV, spec.Command.ADD)
    assert env.command is spec.Command.ADD
    assert env.container_id == "3f2a9c1b_pod.0-a"
    assert env.netns == "/var/run/netns/cni-1234"
    assert env.ifname == "eth0"
    assert env.path == ("/opt/cni/bin", "/usr/lib/cni")
    assert env.args.pod_name == "r1"


def test_add_without_netns_is_code_4_naming_the_variable() -> None:
    environ = {k: v for k, v in ADD_ENV.items() if k != "CNI_NETNS"}
    code, msg = code_of(spec.parse_environment, environ, spec.Command.ADD)
    assert code == Code.INVALID_ENVIRONMENT
    assert "CNI_COMMAND=ADD needs CNI_NETNS" in msg


def test_del_may_come_without_netns() -> None:
    environ = {k: v for k, v in ADD_ENV.items() if k != "CNI_NETNS"}
    assert spec.parse_environment(environ, spec.Command.DEL).netns == ""


def test_status_and_gc_need_no_container_variables() -> None:
    assert spec.parse_environment({}, spec.Command.GC).container_id == ""


@pytest.mark.parametrize("container_id", ["-abc", "a b", "a/b", "_x"])
def test_bad_container_id_is_code_4(container_id: str) -> None:
    code, msg = code_of(
        spec.parse_environment, {**ADD_ENV, "CNI_CONTAINERID": container_id}, spec.Command.ADD
    )
    assert code == Code.INVALID_ENVIRONMENT
    assert repr(container_id) in msg


@pytest.mark.parametrize(
    ("ifname", "fragment"),
    [
        (".", "is not allowed"),
        ("..", "is not allowed"),
        ("a" * 16, "is 16 characters long; at most 15"),
        ("eth:0", "contains '/', ':' or whitespace"),
        ("eth 0", "contains '/', ':' or whitespace"),
        ("a/b", "contains '/', ':' or whitespace"),
    ],
)
def test_bad_ifname_is_code_4(ifname: str, fragment: str) -> None:
    code, msg = code_of(spec.parse_environment, {**ADD_ENV, "CNI_IFNAME": ifname}, spec.Command.ADD)
    assert code == Code.INVALID_ENVIRONMENT
    assert f"CNI_IFNAME {ifname!r} {fragment}" in msg


def test_fifteen_character_ifname_is_fine() -> None:
    assert spec.check_ifname("a" * 15, where="CNI_IFNAME") == "a" * 15


# --- network configuration -----------------------------------------------------------


def test_chained_config_with_prev_result_parses() -> None:
    config = spec.parse_network_config(json.dumps(CONFIG).encode())
    assert config.cni_version == "1.0.0"
    assert config.name == "kubedtn-net"
    assert config.type == "kubedtn"
    assert config.prev_result == CONFIG["prevResult"]
    assert config.raw["logFile"] == "/tmp/x.log"
    assert config.args == {} and config.runtime_config == {}


def test_config_without_prev_result() -> None:
    raw = {k: v for k, v in CONFIG.items() if k != "prevResult"}
    assert spec.parse_network_config(json.dumps(raw).encode()).prev_result is None


@pytest.mark.parametrize(("stdin", "fragment"), [(b"", "not valid JSON"), (b"[1]", "got a JSON array")])
def test_config_that_is_not_a_json_object_is_code_6(stdin: bytes, fragment: str) -> None:
    code, msg = code_of(spec.parse_network_config, stdin)
    assert code == Code.DECODE_FAILED
    assert fragment in msg


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        ({"cniVersion": None}, 7, "cniVersion is missing"),
        ({"cniVersion": "0.2.0"}, 1, "cniVersion '0.2.0' is not supported"),
        ({"name": None}, 7, "name must be a non-empty string, got None"),
        ({"name": ""}, 7, "name must be a non-empty string, got ''"),
        ({"type": 3}, 7, "type must be a non-empty string, got 3"),
        ({"args": []}, 7, "args must be an object, got []"),
        ({"runtimeConfig": "x"}, 7, "runtimeConfig must be an object"),
        ({"prevResult": []}, 7, "prevResult must be an object"),
        ({"prevResult": {"interfaces": {}}}, 7, "prevResult.interfaces must be a list"),
        (
            {"prevResult": {"ips": [{"interface": 0}]}},
            7,
            "prevResult.ips[0] must be an object with a string 'address'",
        ),
        ({"prevResult": {"interfaces": ["eth0"]}}, 7, "prevResult.interfaces[0] must be an object"),
    ],
)
def test_bad_config_fields_name_the_field(change: dict[str, Any], code: int, fragment: str) -> None:
    raw = {**CONFIG, **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    got_code, msg = code_of(spec.parse_network_config, json.dumps(raw).encode())
    assert got_code == code
    assert fragment in msg


@pytest.mark.parametrize(
    ("command", "version", "ok"),
    [
        (spec.Command.ADD, "0.3.0", True),
        (spec.Command.CHECK, "0.3.1", False),
        (spec.Command.CHECK, "0.4.0", True),
        (spec.Command.GC, "1.0.0", False),
        (spec.Command.STATUS, "1.1.0", True),
    ],
)
def test_commands_newer_than_the_config_version_are_code_1(
    command: spec.Command, version: str, ok: bool
) -> None:
    if ok:
        spec.check_command_version(command, version)
        return
    code, msg = code_of(spec.check_command_version, command, version)
    assert code == Code.INCOMPATIBLE_VERSION
    assert f"CNI_COMMAND={command.value} needs cniVersion" in msg and version in msg
