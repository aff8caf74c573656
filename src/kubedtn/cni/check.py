"""CNI CHECK: the topology pod's links exist as specified (daemon CheckPod)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubedtn.cni import options, pods
from kubedtn.cni.errors import CniError, Code
from kubedtn.cni.spec import Request


def handle(request: Request) -> Mapping[str, Any] | None:
    if request.config.prev_result is None:
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            f"CHECK needs prevResult (the result of the ADD to check); network {request.config.name!r} "
            "gave none",
        )
    settings = options.parse_options(request.config.raw)
    pod = pods.topology_pod(request, settings)
    if pod is None:
        return None
    from kubedtn.cni.client import CniDaemonClient

    with CniDaemonClient(settings.daemon_socket, wait_s=settings.daemon_wait_s) as daemon:
        answer = daemon.check_pod(name=pod.name, kube_ns=pod.namespace, net_ns=request.env.netns)
    if answer.ok or not answer.in_topology:
        return None
    raise check_failed(pod.key, answer.problems)


def check_failed(pod: str, problems: tuple[str, ...]) -> CniError:
    """Code 102 listing the problems: all in msg when short, every one in details."""
    problems = problems or ("the daemon reports a problem without naming it",)
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
    return CniError(Code.CHECK_FAILED, f"CHECK of pod {pod}: {count}: {shown}", details="\n".join(problems))
