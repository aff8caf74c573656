"""CNI ADD: wire a topology pod's links (daemon SetupPod); pass the primary's result through.

Every pod that is not in the node's pod list passes at once — prevResult printed
unchanged, grpc never imported, the daemon never asked — so kubedtn can never hold up
a pod outside every topology, even with the daemon down.

The result is prevResult unchanged: the links' interfaces are not appended to
``interfaces`` (SetupPod answers only true/false; listing them would cost another call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubedtn.cni import options, pods
from kubedtn.cni.errors import CniError, Code
from kubedtn.cni.spec import Request


def handle(request: Request) -> Mapping[str, Any]:
    result = passthrough_result(request)
    settings = options.parse_options(request.config.raw)
    pod = pods.topology_pod(request, settings)
    if pod is None:
        return result
    from kubedtn.cni.client import setup_pod

    setup_pod(
        settings.daemon_socket,
        wait_s=settings.daemon_wait_s,
        name=pod.name,
        kube_ns=pod.namespace,
        net_ns=request.env.netns,
        container_id=request.env.container_id,
    )
    return result


def passthrough_result(request: Request) -> dict[str, Any]:
    """prevResult, in the configuration's cniVersion; code 7 when there is none (kubedtn
    adds links to a pod, it cannot give it its network: it must be chained)."""
    prev = request.config.prev_result
    if prev is None:
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            f"kubedtn must be chained after a primary plugin: network {request.config.name!r} "
            "gave it no prevResult",
            details="put kubedtn after the cluster network's plugin in a .conflist's plugins "
            "(`kubedtn daemon --install-cni` writes one)",
        )
    return {**prev, "cniVersion": request.config.cni_version}
