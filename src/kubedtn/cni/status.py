"""CNI STATUS (1.1.0): can this plugin serve ADDs now? Yes, whenever its configuration is valid.

A runtime that gets an error from STATUS marks the node's network NotReady, and then no
pod at all is scheduled there. kubedtn's daemon being down must not do that: a pod in no
topology (most pods of a node) is passed through without the daemon (kubedtn.cni.fastpath),
and a topology pod's ADD waits up to daemonWaitSeconds for the daemon and then fails
with an error naming it, so only those pods wait. The primary plugin's own readiness is
not ours to report: the runtime asks every plugin of the chain for its STATUS in turn
(libcni's GetStatusNetworkList; kubedtn.lab.cniruntime does the same).

So STATUS checks the options (an invalid configuration fails every ADD too) and only
logs whether the daemon's socket accepts connections, for whoever reads the plugin's log
when topology pods wait; it never waits for the daemon nor calls it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kubedtn.cni import options
from kubedtn.cni.client import probe
from kubedtn.cni.spec import Request

_logger = logging.getLogger("kubedtn.cni")


def handle(request: Request) -> Mapping[str, Any] | None:
    settings = options.parse_options(request.config.raw)
    problem = probe(settings.daemon_socket)
    if problem is None:
        _logger.info("cmd=STATUS daemon=%s reachable=yes", settings.daemon_socket)
    else:
        _logger.warning(
            "cmd=STATUS daemon=%s reachable=no reason=%r: pods in no topology start; "
            "topology pods wait up to daemonWaitSeconds=%g for it",
            settings.daemon_socket,
            problem,
            settings.daemon_wait_s,
        )
    return None
