"""A CNI invocation, parsed and checked: the command, the CNI_* environment, CNI_ARGS and
the network configuration on stdin (with the previous plugin's result when chained).

Everything here is a pure function from text to frozen objects or a CniError naming the
variable or field, the bad value and what is accepted. Nothing touches the system.
(VERSION does not come through here: see kubedtn.cni.versions, kept lighter to import.)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubedtn.cni import jsonio, rules
from kubedtn.cni.errors import CniError, Code
from kubedtn.cni.rules import check_ifname, check_prev_result

__all__ = [
    "CniArgs",
    "CniEnv",
    "Command",
    "NetConf",
    "Request",
    "check_command_version",
    "check_ifname",
    "check_prev_result",
    "parse_cni_args",
    "parse_command",
    "parse_environment",
    "parse_network_config",
]


class Command(enum.Enum):
    ADD = "ADD"
    DEL = "DEL"
    CHECK = "CHECK"
    VERSION = "VERSION"
    STATUS = "STATUS"  # since 1.1.0
    GC = "GC"  # since 1.1.0


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
    known, other, ignore_unknown = rules.split_cni_args(raw)
    fields = {_ARG_FIELDS[k]: v for k, v in known.items()}
    return CniArgs(**fields, ignore_unknown=ignore_unknown, other=other)


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
    rules.check_required_env(environ, command.value)
    container_id = rules.check_container_id(environ.get("CNI_CONTAINERID", ""))
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
    cni_version = rules.check_config_version(raw)
    name = rules.string_field(raw, "name")
    plugin_type = rules.string_field(raw, "type")
    prev_result = raw.get("prevResult")
    if prev_result is not None:
        prev_result = check_prev_result(prev_result)
    return NetConf(
        cni_version=cni_version,
        name=name,
        type=plugin_type,
        args=rules.object_field(raw, "args"),
        runtime_config=rules.object_field(raw, "runtimeConfig"),
        prev_result=prev_result,
        raw=raw,
    )


def check_command_version(command: Command, cni_version: str) -> None:
    """CniError code 1 when `command` does not exist in `cni_version` (e.g. GC in 0.4.0)."""
    rules.check_command_version(command.value, cni_version)


@dataclass(frozen=True)
class Request:
    """One parsed invocation: what a command handler gets."""

    env: CniEnv
    config: NetConf
