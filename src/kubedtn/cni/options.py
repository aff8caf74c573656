"""kubedtn's own keys in its entry of the network configuration list (all optional)::

    {"type": "kubedtn", "daemonSocket": "/run/kubedtn/daemon.sock",
     "podList": "/var/lib/kubedtn/topology-pods.json", "daemonWaitSeconds": 30,
     "logFile": "/var/log/kubedtn/cni.log"}

(logFile is read by kubedtn.cni.logs, before anything else can fail.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubedtn.cni.errors import CniError, Code

DEFAULT_DAEMON_SOCKET = "/run/kubedtn/daemon.sock"
DEFAULT_POD_LIST = "/var/lib/kubedtn/topology-pods.json"
DEFAULT_DAEMON_WAIT_S = 30.0
MAX_DAEMON_WAIT_S = 600.0  # kubelet gives up on a sandbox after 4 minutes anyway


@dataclass(frozen=True)
class PluginOptions:
    daemon_socket: str = DEFAULT_DAEMON_SOCKET
    pod_list: str = DEFAULT_POD_LIST
    daemon_wait_s: float = DEFAULT_DAEMON_WAIT_S


def parse_options(config: Mapping[str, Any]) -> PluginOptions:
    """The plugin's keys from its network configuration; CniError code 7 naming the key."""
    return PluginOptions(
        daemon_socket=_path(config, "daemonSocket", DEFAULT_DAEMON_SOCKET),
        pod_list=_path(config, "podList", DEFAULT_POD_LIST),
        daemon_wait_s=_seconds(config, "daemonWaitSeconds", DEFAULT_DAEMON_WAIT_S),
    )


def _path(config: Mapping[str, Any], key: str, default: str) -> str:
    value = config.get(key, default)
    if not isinstance(value, str) or not value.startswith("/"):
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            f"network configuration: {key} must be an absolute path such as {default!r}, got {value!r}",
        )
    return value


def _seconds(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_DAEMON_WAIT_S:
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            f"network configuration: {key} must be a number of seconds from 0 to {MAX_DAEMON_WAIT_S:g}, "
            f"got {value!r}",
        )
    return float(value)
