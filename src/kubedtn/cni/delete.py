"""CNI DEL: remove a topology pod's links (daemon DestroyPod). Idempotent; prevResult and
CNI_NETNS are optional (the runtime may call DEL again, after the sandbox is gone)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubedtn.cni import options, pods
from kubedtn.cni.errors import CniError, Code
from kubedtn.cni.spec import Request


def handle(request: Request) -> Mapping[str, Any] | None:
    settings = options.parse_options(request.config.raw)
    pod = pods.topology_pod(request, settings)
    if pod is None:
        return None
    from kubedtn.cni.client import CniDaemonClient

    with CniDaemonClient(settings.daemon_socket, wait_s=settings.daemon_wait_s) as daemon:
        # The sandbox this DEL is about: a late DEL of an old one must not take the links
        # of the pod's new sandbox.
        done = daemon.destroy_pod(
            name=pod.name,
            kube_ns=pod.namespace,
            net_ns=request.env.netns,
            container_id=request.env.container_id,
        )
    if not done:
        raise CniError(Code.INTERNAL, f"DestroyPod {pod.key}: the daemon answered false without a reason")
    return None
