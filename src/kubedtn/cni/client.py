"""The CNI plugin's client of the node daemon: the Local service over its unix socket.

    with CniDaemonClient("/run/kubedtn/daemon.sock", wait_s=30) as daemon:
        daemon.setup_pod(name="r1", kube_ns="default", net_ns="/var/run/netns/cni-...")

Messages are encoded by hand (kubedtn.cni.wire, not the generated protobuf module: see
there why) and sent over the daemon's plain socket (kubedtn.cni.plainrpc), so an ADD
does not import grpc; a daemon that has no plain socket is asked over gRPC, imported
only then.

Waiting: before the first call the client connects to the socket itself (plain AF_UNIX,
no grpc) until it answers or ``wait_s`` has passed, backing off from 50 ms to 1 s; then
it fails with code 11 naming the socket and the last reason (kubelet retries). Calls then
run with a deadline; gRPC statuses become CNI codes in ``error_for_status``.
"""

from __future__ import annotations

import errno
import os
import time

from kubedtn.cni import plainrpc, wire
from kubedtn.cni.errors import CniError, Code
from kubedtn.cni.plainrpc import unix_socket

TYPE_CHECKING = False  # see kubedtn.cni.versions: the ADD of a topology pod imports this module
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import TypeVar

    import grpc

    T = TypeVar("T")

CALL_TIMEOUT_S = 120.0  # SetupPod of a pod with many links; kubelet waits up to 4 min
CHECK_TIMEOUT_S = 30.0
_METHOD = "/proto.v1.Local/"
_CHANNEL_OPTIONS = (
    ("grpc.enable_http_proxy", 0),  # a unix socket: never through a proxy from the environment
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)
_BACKOFF_FIRST_S = 0.05
_BACKOFF_MAX_S = 1.0


# gRPC status (by name) → CNI code. The daemon's statuses: INVALID_ARGUMENT (a
# ValidationError), NOT_FOUND, UNAVAILABLE (temporary), FAILED_PRECONDITION (namespace
# gone), INTERNAL (a kernel operation failed).
_CODES: dict[str, int] = {
    "INVALID_ARGUMENT": Code.INVALID_NETWORK_CONFIG,
    "NOT_FOUND": Code.UNKNOWN_CONTAINER,
    "FAILED_PRECONDITION": Code.UNKNOWN_CONTAINER,
    "UNAVAILABLE": Code.TRY_AGAIN_LATER,
    "DEADLINE_EXCEEDED": Code.TRY_AGAIN_LATER,
    "RESOURCE_EXHAUSTED": Code.TRY_AGAIN_LATER,
    "ABORTED": Code.TRY_AGAIN_LATER,
    "INTERNAL": Code.DATAPLANE_FAILED,
    "UNIMPLEMENTED": Code.NOT_IMPLEMENTED,
}


def error_for_status(status: str, message: str, *, method: str, what: str = "") -> CniError:
    """A failed call as a CniError: the code for the gRPC status (by name, e.g.
    "INVALID_ARGUMENT"), the daemon's first message line in msg, the rest in details."""
    code = _CODES.get(status, Code.INTERNAL)
    call = f"{method} {what}".strip()
    lines = [line for line in (message or "").splitlines() if line.strip()] or [f"gRPC status {status}"]
    if status == "UNIMPLEMENTED":
        lines[0] = f"the kubedtn daemon does not implement {method}: update the daemon ({lines[0]})"
    if status == "DEADLINE_EXCEEDED":
        lines[0] = f"the kubedtn daemon did not answer in time ({lines[0]})"
    more = f" (+{len(lines) - 1} more, see details)" if len(lines) > 1 else ""
    details = "\n".join([*lines, f"gRPC status {status}"]) if len(lines) > 1 else f"gRPC status {status}"
    return CniError(code, f"{call}: {lines[0]}{more}", details=details)


def unreachable(socket_path: str, wait_s: float, reason: str) -> CniError:
    return CniError(
        Code.TRY_AGAIN_LATER,
        f"kubedtn daemon not reachable at {socket_path} after {wait_s:g}s: "
        "is the kubedtn DaemonSet running on this node?",
        details=f"last attempt: {reason}",
    )


def probe(socket_path: str) -> str | None:
    """None when something accepts connections on the unix socket, else why not."""
    sock = unix_socket()
    try:
        sock.settimeout(2.0)
        sock.connect(socket_path)
    except FileNotFoundError:
        return "the socket does not exist"
    except ConnectionRefusedError:
        return "connection refused (a stale socket: the daemon is not running)"
    except PermissionError:
        return "permission denied (the plugin must run as root)"
    except OSError as e:
        return f"{errno.errorcode.get(e.errno or 0, 'error')}: {e.strerror or e}"
    finally:
        sock.close()
    return None


def setup_pod(
    socket_path: str, *, wait_s: float, name: str, kube_ns: str, net_ns: str, container_id: str = ""
) -> None:
    """The daemon's SetupPod of one pod (waiting up to wait_s for the daemon); CniError
    when it fails, or answers false without a reason."""
    with CniDaemonClient(socket_path, wait_s=wait_s) as daemon:
        done = daemon.setup_pod(name=name, kube_ns=kube_ns, net_ns=net_ns, container_id=container_id)
    if not done:
        why = "the daemon answered false without a reason"
        raise CniError(Code.INTERNAL, f"SetupPod {kube_ns}/{name}: {why}")


class CniDaemonClient:
    """The plugin's calls to the daemon's Local service: one pod per call, waiting for the
    daemon, failures as CniError. A context manager (closes its channel). The lab's batch
    calls with kubedtn errors are kubedtn.lab.client.LabDaemonClient."""

    def __init__(
        self,
        socket_path: str,
        *,
        wait_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.socket_path = socket_path
        self.wait_s = wait_s
        self._clock = clock
        self._sleep = sleep
        self._channel: grpc.Channel | None = None

    def __enter__(self) -> CniDaemonClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    # ---- the calls --------------------------------------------------------------------

    def setup_pod(self, *, name: str, kube_ns: str, net_ns: str, container_id: str = "") -> bool:
        request = wire.encode_setup_pod_query(
            name=name, kube_ns=kube_ns, net_ns=net_ns, container_id=container_id
        )
        return self._call("SetupPod", f"{kube_ns}/{name}", request, wire.decode_bool_response)

    def destroy_pod(self, *, name: str, kube_ns: str, net_ns: str = "", container_id: str = "") -> bool:
        """DestroyPod; ``net_ns``/``container_id``: the sandbox the DEL is about (the daemon
        leaves a newer sandbox of the pod alone)."""
        request = wire.encode_pod_query(name=name, kube_ns=kube_ns, net_ns=net_ns, container_id=container_id)
        return self._call("DestroyPod", f"{kube_ns}/{name}", request, wire.decode_bool_response)

    def check_pod(self, *, name: str, kube_ns: str, net_ns: str) -> wire.CheckPodResponse:
        request = wire.encode_setup_pod_query(name=name, kube_ns=kube_ns, net_ns=net_ns)
        decode = wire.decode_check_pod_response
        return self._call("CheckPod", f"{kube_ns}/{name}", request, decode, timeout_s=CHECK_TIMEOUT_S)

    def status(self, *, timeout_s: float) -> wire.DaemonStatus:
        """Status with a short deadline, no waiting for the daemon (STATUS is a probe)."""
        request = wire.encode_status_query()
        return self._call("Status", "", request, wire.decode_daemon_status, timeout_s=timeout_s, wait=False)

    # ---- plumbing ---------------------------------------------------------------------

    def wait_until_reachable(self) -> None:
        """Return once the socket accepts connections; CniError 11 after wait_s."""
        deadline = self._clock() + self.wait_s
        delay = _BACKOFF_FIRST_S
        while (reason := probe(self.socket_path)) is not None:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise unreachable(self.socket_path, self.wait_s, reason)
            self._sleep(min(delay, remaining))
            delay = min(delay * 2, _BACKOFF_MAX_S)

    def _call(
        self,
        method: str,
        what: str,
        request: bytes,
        decode: Callable[[bytes], T],
        *,
        timeout_s: float = CALL_TIMEOUT_S,
        wait: bool = True,
    ) -> T:
        call = f"{method} {what}".strip()
        if wait:
            self.wait_until_reachable()
        plain = plainrpc.plain_socket_path(self.socket_path)
        try:
            reply = plainrpc.call(plain, method, request, timeout_s=timeout_s)
        except plainrpc.NotServed:
            reply = self._grpc_call(method, what, request, timeout_s=timeout_s, wait=wait)
        except plainrpc.CallFailed as e:
            raise error_for_status(e.status, e.message, method=method, what=what) from e
        try:
            return decode(reply)
        except (wire.DecodeError, UnicodeDecodeError) as e:
            raise CniError(Code.INTERNAL, f"{call}: cannot decode the daemon's reply: {e}") from e

    def _grpc_call(self, method: str, what: str, request: bytes, *, timeout_s: float, wait: bool) -> bytes:
        import grpc

        if self._channel is None:
            target = "unix:" + os.path.abspath(self.socket_path)
            self._channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        stub = self._channel.unary_unary(
            _METHOD + method, request_serializer=None, response_deserializer=None
        )
        try:
            reply: bytes = stub(request, timeout=timeout_s, wait_for_ready=wait)
        except grpc.RpcError as e:
            status = e.code().name if isinstance(e, grpc.Call) else "UNKNOWN"
            message = (e.details() if isinstance(e, grpc.Call) else str(e)) or ""
            if not wait and status == "UNAVAILABLE" and (reason := probe(self.socket_path)) is not None:
                message = f"kubedtn daemon not reachable at {self.socket_path}: {reason}"
            raise error_for_status(status, message, method=method, what=what) from e
        return reply
