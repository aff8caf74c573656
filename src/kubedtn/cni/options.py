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

from kubedtn.cni import rules
from kubedtn.cni.rules import (
    DEFAULT_DAEMON_SOCKET,
    DEFAULT_DAEMON_WAIT_S,
    DEFAULT_POD_LIST,
    MAX_DAEMON_WAIT_S,
)

__all__ = [
    "DEFAULT_DAEMON_SOCKET",
    "DEFAULT_DAEMON_WAIT_S",
    "DEFAULT_POD_LIST",
    "MAX_DAEMON_WAIT_S",
    "PluginOptions",
    "parse_options",
]


@dataclass(frozen=True)
class PluginOptions:
    daemon_socket: str = DEFAULT_DAEMON_SOCKET
    pod_list: str = DEFAULT_POD_LIST
    daemon_wait_s: float = DEFAULT_DAEMON_WAIT_S


def parse_options(config: Mapping[str, Any]) -> PluginOptions:
    """The plugin's keys from its network configuration; CniError code 7 naming the key."""
    return PluginOptions(
        daemon_socket=rules.path_option(config, "daemonSocket", DEFAULT_DAEMON_SOCKET),
        pod_list=rules.path_option(config, "podList", DEFAULT_POD_LIST),
        daemon_wait_s=rules.seconds_option(
            config, "daemonWaitSeconds", DEFAULT_DAEMON_WAIT_S, maximum=MAX_DAEMON_WAIT_S
        ),
    )
