"""A CNI invocation, parsed and checked: the command, the CNI_* environment, CNI_ARGS and
the network configuration on stdin (with the previous plugin's result when chained).

Everything here is a pure function from text to frozen objects or a CniError naming the
variable or field, the bad value and what is accepted. Nothing touches the system.
(VERSION does not come through here: see kubedtn.cni.versions, kept lighter to import.)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubedtn.cni import jsonio, versions
from kubedtn.cni.errors import CniError, Code


class Command(enum.Enum):
    ADD = "ADD"
    DEL = "DEL"
    CHECK = "CHECK"
    VERSION = "VERSION"
    STATUS = "STATUS"  # since 1.1.0
    GC = "GC"  # since 1.1.0


# The oldest cniVersion in which a command exists.
_MIN_VERSION: Mapping[Command, str] = {
    Command.CHECK: "0.4.0",
    Command.STATUS: "1.1.0",
    Command.GC: "1.1.0",
}

# The CNI_* variables each command must have (as the reference plugins' skel requires).
_REQUIRED_ENV: Mapping[Command, tuple[str, ...]] = {
    Command.ADD: ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    Command.CHECK: ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    # DEL may come without a netns (already gone): clean up what can be cleaned.
    Command.DEL: ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    Command.STATUS: (),
    Command.GC: (),
    Command.VERSION: (),
}

_CONTAINER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_IFNAME_MAX = 15  # IFNAMSIZ - 1
_TRUE = frozenset({"1", "true", "True", "TRUE", "t", "T"})
_FALSE = frozenset({"0", "false", "False", "FALSE", "f", "F", ""})


def parse_command(raw: str | None) -> Command:
    """CNI_COMMAND → Command; CniError code 4 when missing or unknown."""
    try:
        return Command(raw)
    except ValueError:
        accepted = ", ".join(c.value for c in Command)
        shown = "is not set" if raw is None else f"is {raw!r}"
        raise CniError(Code.INVALID_ENVIRONMENT, f"CNI_COMMAND {shown}; accepted: {accepted}") from None


@dataclass(frozen=True)
class CniArgs:
    """CNI_ARGS: ``K8S_POD_NAME=r1;K8S_POD_NAMESPACE=default;IgnoreUnknown=1``."""

    pod_name: str | None = None
    pod_namespace: str | None = None
    pod_infra_container_id: str | None = None
    pod_uid: str | None = None
    ignore_unknown: bool = False
    # Keys kubedtn does not know, kept when IgnoreUnknown is set.
    other: Mapping[str, str] = field(default_factory=dict)


_ARG_FIELDS = {
    "K8S_POD_NAME": "pod_name",
    "K8S_POD_NAMESPACE": "pod_namespace",
    "K8S_POD_INFRA_CONTAINER_ID": "pod_infra_container_id",
    "K8S_POD_UID": "pod_uid",
}


def parse_cni_args(raw: str) -> CniArgs:
    """Parse CNI_ARGS. Unknown keys are an error unless IgnoreUnknown is true, as in the
    reference plugins; empty segments (a trailing ';') are ignored."""
    pairs: dict[str, str] = {}
    for segment in raw.split(";"):
        if not segment:
            continue
        key, sep, value = segment.partition("=")
        if not sep or not key:
            raise CniError(
                Code.INVALID_ENVIRONMENT,
                f"CNI_ARGS: {segment!r} is not KEY=VALUE; "
                "expected e.g. 'K8S_POD_NAME=r1;K8S_POD_NAMESPACE=default'",
            )
        if key in pairs:
            raise CniError(Code.INVALID_ENVIRONMENT, f"CNI_ARGS: key {key!r} is given twice")
        pairs[key] = value
    ignore_raw = pairs.pop("IgnoreUnknown", "")
    if ignore_raw not in _TRUE | _FALSE:
        raise CniError(
            Code.INVALID_ENVIRONMENT, f"CNI_ARGS: IgnoreUnknown={ignore_raw!r} is not a boolean; use 1 or 0"
        )
    ignore_unknown = ignore_raw in _TRUE
    known = {_ARG_FIELDS[k]: v for k, v in pairs.items() if k in _ARG_FIELDS}
    other = {k: v for k, v in pairs.items() if k not in _ARG_FIELDS}
    if other and not ignore_unknown:
        raise CniError(
            Code.INVALID_ENVIRONMENT,
            f"CNI_ARGS: unknown key(s) {', '.join(sorted(other))}; known: "
            f"{', '.join(_ARG_FIELDS)}; add IgnoreUnknown=1 to pass others through",
        )
    return CniArgs(**known, ignore_unknown=ignore_unknown, other=other)


@dataclass(frozen=True)
class CniEnv:
    """The CNI_* environment of one invocation."""

    command: Command
    container_id: str = ""
    netns: str = ""  # may be empty for DEL
    ifname: str = ""
    args: CniArgs = field(default_factory=CniArgs)
    path: tuple[str, ...] = ()


def parse_environment(environ: Mapping[str, str], command: Command) -> CniEnv:
    """The CNI_* variables for `command`, checked; CniError code 4 naming the variable."""
    missing = [name for name in _REQUIRED_ENV[command] if not environ.get(name)]
    if missing:
        raise CniError(
            Code.INVALID_ENVIRONMENT,
            f"CNI_COMMAND={command.value} needs {', '.join(missing)} in the environment",
        )
    container_id = environ.get("CNI_CONTAINERID", "")
    if container_id and not _CONTAINER_ID.fullmatch(container_id):
        raise CniError(
            Code.INVALID_ENVIRONMENT,
            f"CNI_CONTAINERID {container_id!r} is not a container ID: it must start with a letter or "
            "digit followed by letters, digits, '_', '.' or '-'",
        )
    ifname = environ.get("CNI_IFNAME", "")
    if ifname:
        check_ifname(ifname, where="CNI_IFNAME")
    return CniEnv(
        command=command,
        container_id=container_id,
        netns=environ.get("CNI_NETNS", ""),
        ifname=ifname,
        args=parse_cni_args(environ.get("CNI_ARGS", "")),
        path=tuple(p for p in environ.get("CNI_PATH", "").split(":") if p),
    )


def check_ifname(name: str, *, where: str) -> str:
    """A Linux interface name as the CNI spec demands; CniError code 4 otherwise."""
    problem = None
    if name in (".", ".."):
        problem = "is not allowed"
    elif len(name) > _IFNAME_MAX:
        problem = f"is {len(name)} characters long; at most {_IFNAME_MAX} are allowed"
    elif any(c in "/:" or c.isspace() for c in name):
        problem = "contains '/', ':' or whitespace"
    if problem:
        raise CniError(Code.INVALID_ENVIRONMENT, f"{where} {name!r} {problem}")
    return name


@dataclass(frozen=True)
class NetConf:
    """The network configuration on stdin (one plugin's entry of a configuration list)."""

    cni_version: str
    name: str
    type: str
    args: Mapping[str, Any] = field(default_factory=dict)
    runtime_config: Mapping[str, Any] = field(default_factory=dict)
    # The previous plugin's result when chained (ADD after the primary plugin, CHECK, DEL).
    prev_result: Mapping[str, Any] | None = None
    # The whole decoded object, for kubedtn's own keys and for passing through.
    raw: Mapping[str, Any] = field(default_factory=dict)


def parse_network_config(stdin: bytes) -> NetConf:
    """stdin → NetConf. CniError code 6 if it is not a JSON object, 1 for an unsupported
    cniVersion, 7 naming the field for anything else wrong."""
    raw = jsonio.decode_object(stdin, what="network configuration on stdin")
    if "cniVersion" not in raw:
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            "network configuration: cniVersion is missing; "
            f"supported: {', '.join(versions.SUPPORTED_VERSIONS)}",
        )
    cni_version = versions.check_version(raw["cniVersion"])
    name = _string_field(raw, "name")
    plugin_type = _string_field(raw, "type")
    prev_result = raw.get("prevResult")
    if prev_result is not None:
        prev_result = check_prev_result(prev_result)
    return NetConf(
        cni_version=cni_version,
        name=name,
        type=plugin_type,
        args=_object_field(raw, "args"),
        runtime_config=_object_field(raw, "runtimeConfig"),
        prev_result=prev_result,
        raw=raw,
    )


def check_command_version(command: Command, cni_version: str) -> None:
    """CniError code 1 when `command` does not exist in `cni_version` (e.g. GC in 0.4.0)."""
    minimum = _MIN_VERSION.get(command)
    if minimum and not versions.is_at_least(cni_version, minimum):
        raise CniError(
            Code.INCOMPATIBLE_VERSION,
            f"CNI_COMMAND={command.value} needs cniVersion {minimum} or newer; "
            f"the configuration has {cni_version}",
        )


def check_prev_result(value: object) -> dict[str, Any]:
    """A previous result (spec 0.3.0+ shape): an object whose interfaces/ips/routes are
    lists of objects, each interface with a name and each ip with an address."""
    where = "network configuration: prevResult"
    if not isinstance(value, dict):
        raise CniError(Code.INVALID_NETWORK_CONFIG, f"{where} must be an object, got {value!r}")
    for key, required in (("interfaces", "name"), ("ips", "address"), ("routes", "dst")):
        items = value.get(key, [])
        if not isinstance(items, list):
            raise CniError(Code.INVALID_NETWORK_CONFIG, f"{where}.{key} must be a list, got {items!r}")
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get(required), str):
                raise CniError(
                    Code.INVALID_NETWORK_CONFIG,
                    f"{where}.{key}[{i}] must be an object with a string {required!r}, got {item!r}",
                )
    return value


def _string_field(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            f"network configuration: {key} must be a non-empty string, got {value!r}",
        )
    return value


def _object_field(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise CniError(
            Code.INVALID_NETWORK_CONFIG, f"network configuration: {key} must be an object, got {value!r}"
        )
    return value


@dataclass(frozen=True)
class Request:
    """One parsed invocation: what a command handler gets."""

    env: CniEnv
    config: NetConf
