"""The checks of a CNI invocation as plain functions on plain values (no dataclasses).

kubedtn.cni.spec builds its frozen request objects with these, and kubedtn.cni.fastpath
runs the same checks to answer for pods outside every topology before anything heavier
(dataclasses, typing, logging: a noticeable part of each exec) is imported. Each raises CniError naming
the variable or field, the bad value and what is accepted.
"""

from __future__ import annotations

from kubedtn.cni import versions
from kubedtn.cni.errors import CniError, Code

TYPE_CHECKING = False  # see kubedtn.cni.versions
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

# kubedtn's keys in its network configuration (kubedtn.cni.options), their defaults.
DEFAULT_DAEMON_SOCKET = "/run/kubedtn/daemon.sock"
DEFAULT_STATE_DIR = "/var/lib/kubedtn"  # the daemon's; install_cni keeps its manifest there too
POD_LIST_NAME = "topology-pods.json"
DEFAULT_POD_LIST = f"{DEFAULT_STATE_DIR}/{POD_LIST_NAME}"

# Where container runtimes look for plugins and configs (kubedtn.cni.install).
DEFAULT_CNI_BIN_DIR = "/opt/cni/bin"
DEFAULT_CNI_CONF_DIR = "/etc/cni/net.d"
DEFAULT_CONFLIST_NAME = "00-kubedtn.conflist"
DEFAULT_DAEMON_WAIT_S = 30.0
MAX_DAEMON_WAIT_S = 600.0  # kubelet gives up on a sandbox after 4 minutes anyway

# The oldest cniVersion in which a command exists.
MIN_VERSION = {"CHECK": "0.4.0", "STATUS": "1.1.0", "GC": "1.1.0"}

# The CNI_* variables each command must have (as the reference plugins' skel requires).
REQUIRED_ENV = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    # DEL may come without a netns (already gone): clean up what can be cleaned.
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    "STATUS": (),
    "GC": (),
    "VERSION": (),
}

# CNI_ARGS keys kubedtn knows.
KNOWN_ARGS = ("K8S_POD_NAME", "K8S_POD_NAMESPACE", "K8S_POD_INFRA_CONTAINER_ID", "K8S_POD_UID")

_IFNAME_MAX = 15  # IFNAMSIZ - 1
_TRUE = frozenset({"1", "true", "True", "TRUE", "t", "T"})
_FALSE = frozenset({"0", "false", "False", "FALSE", "f", "F", ""})
_ID_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_ID_REST = _ID_FIRST | frozenset("_.-")


def check_command_version(command: str, cni_version: str) -> None:
    """CniError code 1 when `command` does not exist in `cni_version` (e.g. GC in 0.4.0)."""
    minimum = MIN_VERSION.get(command)
    if minimum and not versions.is_at_least(cni_version, minimum):
        raise CniError(
            Code.INCOMPATIBLE_VERSION,
            f"CNI_COMMAND={command} needs cniVersion {minimum} or newer; the configuration has {cni_version}",
        )


def check_required_env(environ: Mapping[str, str], command: str) -> None:
    missing = [name for name in REQUIRED_ENV[command] if not environ.get(name)]
    if missing:
        raise CniError(
            Code.INVALID_ENVIRONMENT,
            f"CNI_COMMAND={command} needs {', '.join(missing)} in the environment",
        )


def check_container_id(container_id: str) -> str:
    if container_id and not (container_id[0] in _ID_FIRST and all(c in _ID_REST for c in container_id[1:])):
        raise CniError(
            Code.INVALID_ENVIRONMENT,
            f"CNI_CONTAINERID {container_id!r} is not a container ID: it must start with a letter or "
            "digit followed by letters, digits, '_', '.' or '-'",
        )
    return container_id


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


def split_cni_args(raw: str) -> tuple[dict[str, str], dict[str, str], bool]:
    """CNI_ARGS → (known keys, other keys, IgnoreUnknown). Unknown keys are an error unless
    IgnoreUnknown is true, as in the reference plugins; empty segments are ignored."""
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
    known = {k: v for k, v in pairs.items() if k in KNOWN_ARGS}
    other = {k: v for k, v in pairs.items() if k not in KNOWN_ARGS}
    if other and not ignore_unknown:
        raise CniError(
            Code.INVALID_ENVIRONMENT,
            f"CNI_ARGS: unknown key(s) {', '.join(sorted(other))}; known: "
            f"{', '.join(KNOWN_ARGS)}; add IgnoreUnknown=1 to pass others through",
        )
    return known, other, ignore_unknown


def check_config_version(raw: Mapping[str, Any]) -> str:
    if "cniVersion" not in raw:
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            "network configuration: cniVersion is missing; "
            f"supported: {', '.join(versions.SUPPORTED_VERSIONS)}",
        )
    return versions.check_version(raw["cniVersion"])


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


def string_field(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            f"network configuration: {key} must be a non-empty string, got {value!r}",
        )
    return value


def object_field(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise CniError(
            Code.INVALID_NETWORK_CONFIG, f"network configuration: {key} must be an object, got {value!r}"
        )
    return value


def path_option(config: Mapping[str, Any], key: str, default: str) -> str:
    value = config.get(key, default)
    if not isinstance(value, str) or not value.startswith("/"):
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            f"network configuration: {key} must be an absolute path such as {default!r}, got {value!r}",
        )
    return value


def seconds_option(config: Mapping[str, Any], key: str, default: float, *, maximum: float) -> float:
    value = config.get(key, default)
    # A tuple, not int | float: the pass-through also runs on Pythons before 3.10 (kubedtn.cni.nowheels).
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= maximum:
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            f"network configuration: {key} must be a number of seconds from 0 to {maximum:g}, got {value!r}",
        )
    return float(value)
