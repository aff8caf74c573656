"""The fast path: ADD, DEL and CHECK for a pod outside every topology, with json and os only;
and the ADD of a topology pod, handed on checked (``TopologyAdd``).

Most pods of a node are in no topology: for them kubedtn only passes the primary plugin's
result on. This path decides that before the request objects (dataclasses), logging or
grpc are imported (``make bench``, cni-add, measures the difference). It runs the same
checks as the full path (kubedtn.cni.rules, the options, the pod list) in the same order
and answers only when the full path would print the same: every error, every topology
pod's DEL and CHECK and every doubt (an unreadable pod list) goes to the full path, which
says why. A valid ADD of a topology pod becomes a ``TopologyAdd``: the same SetupPod the
full path would make and the result it would print, which kubedtn.cni.plugin carries out
without those imports either.
tests/unit/cni/test_fastpath.py holds the two paths to the same answers and calls.
"""

from __future__ import annotations

from kubedtn.cni import jsonio, logs, podlist, rules
from kubedtn.cni.errors import CniError
from kubedtn.cni.rules import (
    DEFAULT_DAEMON_SOCKET,
    DEFAULT_DAEMON_WAIT_S,
    DEFAULT_POD_LIST,
    MAX_DAEMON_WAIT_S,
)
from kubedtn.model.namespace import DEFAULT_NAMESPACE

TYPE_CHECKING = False  # see kubedtn.cni.versions
if TYPE_CHECKING:
    from collections.abc import Mapping

_COMMANDS = ("ADD", "DEL", "CHECK")


class TopologyAdd:
    """A valid ADD of a topology pod: the daemon's SetupPod to make, what to print when it
    succeeds, and what to log (the full path's fields)."""

    __slots__ = ("cni_version", "container_id", "daemon_socket", "daemon_wait_s", "fields", "log_path",
                 "name", "namespace", "netns", "result")  # fmt: skip

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        netns: str,
        container_id: str,
        daemon_socket: str,
        daemon_wait_s: float,
        result: str,
        cni_version: str,
        log_path: str,
        fields: str,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.netns = netns
        self.container_id = container_id
        self.daemon_socket = daemon_socket
        self.daemon_wait_s = daemon_wait_s
        self.result = result
        self.cni_version = cni_version
        self.log_path = log_path
        self.fields = fields


def answer(environ: Mapping[str, str], data: bytes) -> str | TopologyAdd | None:
    """What to print (a result line, or "" for DEL/CHECK) when the call is certainly for a
    pod outside every topology and valid; a TopologyAdd for a valid ADD of a topology pod;
    None to take the full path."""
    command = environ.get("CNI_COMMAND", "")
    if command not in _COMMANDS:
        return None
    try:
        return _answer(command, environ, data)
    except (CniError, OSError):
        return None


def _answer(command: str, environ: Mapping[str, str], data: bytes) -> str | TopologyAdd | None:
    # The full path's order: configuration, command version, environment, handler.
    config = jsonio.decode_object(data, what="network configuration on stdin")
    cni_version = rules.check_config_version(config)
    network = rules.string_field(config, "name")
    rules.string_field(config, "type")
    prev = config.get("prevResult")
    if prev is not None:
        rules.check_prev_result(prev)
    rules.object_field(config, "args")
    rules.object_field(config, "runtimeConfig")
    rules.check_command_version(command, cni_version)
    rules.check_required_env(environ, command)
    container_id = rules.check_container_id(environ.get("CNI_CONTAINERID", ""))
    ifname = environ.get("CNI_IFNAME", "")
    if ifname:
        rules.check_ifname(ifname, where="CNI_IFNAME")
    known, _, _ = rules.split_cni_args(environ.get("CNI_ARGS", ""))
    if command != "DEL" and prev is None:
        return None  # an error (not chained / CHECK without prevResult): the full path words it
    daemon_socket = rules.path_option(config, "daemonSocket", DEFAULT_DAEMON_SOCKET)
    pod_list = rules.path_option(config, "podList", DEFAULT_POD_LIST)
    wait_s = rules.seconds_option(
        config, "daemonWaitSeconds", DEFAULT_DAEMON_WAIT_S, maximum=MAX_DAEMON_WAIT_S
    )

    name = known.get("K8S_POD_NAME")
    namespace = known.get("K8S_POD_NAMESPACE") or DEFAULT_NAMESPACE
    pod = f"{namespace}/{name}" if name else None
    fields = (
        f"cmd={command} container={container_id} netns={environ.get('CNI_NETNS') or '-'} "
        f"ifname={ifname} pod={pod or '-'} network={network}"
    )
    if pod is None:
        reason = "no K8S_POD_NAME in CNI_ARGS"
    else:
        listed = podlist.read_pod_list(pod_list)
        if listed is None:
            reason = "no pod list on this node (the kubedtn daemon never ran here)"
        else:
            try:
                pods = podlist.parse_pod_list(listed, source=pod_list)
            except ValueError:
                return None  # the full path passes it too, and logs the broken list as an error
            if pod in pods:  # a topology pod: the daemon's job
                if command != "ADD" or name is None:
                    return None
                return TopologyAdd(
                    name=name,
                    namespace=namespace,
                    netns=environ.get("CNI_NETNS", ""),
                    container_id=container_id,
                    daemon_socket=daemon_socket,
                    daemon_wait_s=wait_s,
                    result=_passthrough(prev, cni_version),
                    cni_version=cni_version,
                    log_path=logs.log_path(environ, config),
                    fields=fields,
                )
            reason = "not in any topology"

    logs.append_line(
        logs.log_path(environ, config),
        "INFO",
        f"{fields} passthrough reason={reason!r} podList={pod_list} result=ok",
    )
    if command != "ADD":
        return ""
    return _passthrough(prev, cni_version)


def _passthrough(prev: object, cni_version: str) -> str:
    assert isinstance(prev, dict)
    return jsonio.encode({**prev, "cniVersion": cni_version}) + "\n"
