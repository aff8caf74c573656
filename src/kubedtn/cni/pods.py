"""Which pod a CNI call is for, and whether it is a topology pod (the node-local pod list).

The daemon keeps ``topology-pods.json`` = ``{"pods": ["<kube_ns>/<name>", ...]}`` (every
Topology in the store; rewritten atomically). Reading it is how the plugin lets every other
pod through at once — without grpc, without the daemon, also when the daemon is down.
Decisions here are pure functions of the file's bytes; ``lookup`` adds the one read.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from kubedtn.cni.options import PluginOptions
from kubedtn.cni.podlist import parse_pod_list, read_pod_list
from kubedtn.cni.spec import CniArgs, Request
from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.model.podref import PodRef

_logger = logging.getLogger("kubedtn.cni")


def pod_of(args: CniArgs) -> PodRef | None:
    """The pod named by CNI_ARGS; None when the runtime named none (not a Kubernetes pod)."""
    if not args.pod_name:
        return None
    return PodRef(namespace=args.pod_namespace or DEFAULT_NAMESPACE, name=args.pod_name)


class Verdict(enum.Enum):
    TOPOLOGY_POD = "topology pod"
    NOT_LISTED = "not in any topology"
    NO_POD_NAME = "no K8S_POD_NAME in CNI_ARGS"
    NO_POD_LIST = "no pod list on this node (the kubedtn daemon never ran here)"
    BAD_POD_LIST = "the pod list is unreadable"


@dataclass(frozen=True)
class Membership:
    verdict: Verdict
    detail: str = ""  # for the log: which file, what was wrong with it

    @property
    def is_topology_pod(self) -> bool:
        return self.verdict is Verdict.TOPOLOGY_POD


def membership(pod: PodRef | None, pod_list: bytes | None, *, source: str) -> Membership:
    """Whether `pod` is a topology pod, given the pod list file's bytes (None: no such file).

    Everything that is not a clear "listed" lets the pod through: a pod outside every
    topology must never wait for kubedtn. A broken list (never seen: it is replaced
    atomically) is logged as an error by the caller.
    """
    if pod is None:
        return Membership(Verdict.NO_POD_NAME)
    if pod_list is None:
        return Membership(Verdict.NO_POD_LIST, source)
    try:
        listed = parse_pod_list(pod_list, source=source)
    except ValueError as e:
        return Membership(Verdict.BAD_POD_LIST, str(e))
    if pod.key in listed:
        return Membership(Verdict.TOPOLOGY_POD)
    return Membership(Verdict.NOT_LISTED, source)


def lookup(pod: PodRef | None, path: str) -> Membership:
    """membership() of the pod list at `path`."""
    if pod is None:
        return Membership(Verdict.NO_POD_NAME)
    try:
        data = read_pod_list(path)
    except OSError as e:
        return Membership(Verdict.BAD_POD_LIST, f"{path}: {e.strerror}")
    return membership(pod, data, source=path)


def topology_pod(request: Request, options: PluginOptions) -> PodRef | None:
    """The pod of a request when the daemon must act on it; None (logged why) to let it pass."""
    pod = pod_of(request.env.args)
    found = lookup(pod, options.pod_list)
    if found.is_topology_pod:
        return pod
    log = _logger.error if found.verdict is Verdict.BAD_POD_LIST else _logger.info
    log(
        "cmd=%s pod=%s passthrough reason=%r detail=%r",
        request.env.command.value,
        pod.key if pod else "-",
        found.verdict.value,
        found.detail,
    )
    return None
