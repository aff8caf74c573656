"""CNI STATUS (1.1.0): can the plugin serve ADDs now, i.e. does the node's daemon answer?

No waiting here: a runtime polls STATUS, and a missing socket is answered without grpc.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from kubedtn.cni import options
from kubedtn.cni.errors import CniError, Code
from kubedtn.cni.spec import Request

STATUS_TIMEOUT_S = 3.0
_logger = logging.getLogger("kubedtn.cni")


def handle(request: Request) -> Mapping[str, Any] | None:
    settings = options.parse_options(request.config.raw)
    if not os.path.exists(settings.daemon_socket):
        raise not_available(settings.daemon_socket, "the socket does not exist")
    from kubedtn.cni.client import CniDaemonClient

    with CniDaemonClient(settings.daemon_socket, wait_s=0) as daemon:
        try:
            status = daemon.status(timeout_s=STATUS_TIMEOUT_S)
        except CniError as e:
            raise not_available(settings.daemon_socket, e.msg) from e
    _logger.info(
        "cmd=STATUS daemon=%s version=%s node_ip=%s pods_alive=%d links=%d store=%s",
        settings.daemon_socket,
        status.version,
        status.node_ip,
        status.pods_alive,
        status.links,
        status.store,
    )
    return None


def not_available(socket_path: str, reason: str) -> CniError:
    return CniError(
        Code.PLUGIN_NOT_AVAILABLE,
        f"plugin not available: the kubedtn daemon at {socket_path} does not answer: {reason}",
        details="is the kubedtn DaemonSet running on this node?",
    )
