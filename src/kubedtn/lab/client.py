"""The lab's gRPC client of the daemon's Local service, over its unix socket.

gRPC statuses become kubedtn errors here (the daemon's mapping, reversed):
INVALID_ARGUMENT → ValidationError, NOT_FOUND → NotFoundError, UNAVAILABLE (and a daemon
that is not there) → TemporaryError, FAILED_PRECONDITION / INTERNAL / others →
DataplaneError or KubedtnError, each with the daemon's message.

grpc and the messages (a costly import) are imported when the first client is made, not
with this module: ``lab up`` makes its first client while the kernel makes the namespaces.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from kubedtn.daemon.health import OK, HealthReport
from kubedtn.errors import DataplaneError, KubedtnError, NotFoundError, TemporaryError, ValidationError
from kubedtn.model import Link

if TYPE_CHECKING:
    import grpc

DEFAULT_TIMEOUT_S: Final = 600.0  # a SetupPods of a large lab takes seconds
PING_TIMEOUT_S: Final = 2.0


@dataclass(frozen=True)
class PodResult:
    """The daemon's answer for one pod of a SetupPods/DestroyPods call (the wire's PodResult;
    the daemon's own record of the work is kubedtn.daemon.manager.PodOutcome)."""

    name: str
    kube_ns: str
    ok: bool
    error: str


@dataclass(frozen=True)
class DaemonInfo:
    version: str
    node_ip: str
    pods_alive: int
    links: int
    store: str
    jobs: tuple[HealthReport, ...] = ()  # its background jobs (none from kube-dtn's daemon)

    def failing(self) -> list[str]:
        """A line per job that is not ok, or failed since the daemon started."""
        return [
            f"{j.name}: {j.state}, {j.failures} error(s), the last: {j.last_error}"
            for j in self.jobs
            if j.state != OK or j.failures
        ]


def _error(e: grpc.RpcError, what: str, socket: str) -> KubedtnError:
    import grpc

    code = e.code() if hasattr(e, "code") else None
    details = (e.details() if hasattr(e, "details") else None) or str(e)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ValidationError(details.splitlines() or [details])
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFoundError(f"{what}: {details}")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        return TemporaryError(f"{what}: the daemon at {socket} did not answer ({details})")
    if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.FAILED_PRECONDITION):
        return DataplaneError(f"{what}: {details}")
    return KubedtnError(f"{what}: {code.name if code else 'error'}: {details}")


class LabDaemonClient:
    """The lab's calls on a daemon's Local service: batches of pods, failures as kubedtn
    errors. A context manager (closes the channel). The CNI plugin's per-pod calls with
    CNI errors are kubedtn.cni.client.CniDaemonClient."""

    def __init__(self, socket: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        import grpc

        from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc

        self.socket = socket
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(f"unix://{socket}")
        self._stub = pb_grpc.LocalStub(self._channel)  # type: ignore[no-untyped-call]

    def __enter__(self) -> LabDaemonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        import grpc

        try:
            yield
        except grpc.RpcError as e:
            raise _error(e, what, self.socket) from None

    def status(self, *, timeout_s: float | None = None) -> DaemonInfo:
        from kubedtn.proto.v1 import kube_dtn_pb2 as pb

        with self._call("Status"):
            reply = self._stub.Status(pb.StatusQuery(), timeout=timeout_s or self.timeout_s)
        return DaemonInfo(
            version=reply.version,
            node_ip=reply.node_ip,
            pods_alive=reply.pods_alive,
            links=reply.links,
            store=reply.store,
            jobs=tuple(HealthReport(j.name, j.state, j.last_error, j.failures) for j in reply.jobs),
        )

    def answers(self) -> bool:
        """True when the daemon answers Status within a short time.

        The socket is probed with a plain connect first: a gRPC channel that once found
        nobody listening waits out its reconnect backoff (up to a second) before it tries
        again, so asking through it while a daemon starts would see it late."""
        from kubedtn.cni.client import probe

        if probe(self.socket) is not None:
            return False
        try:
            self.status(timeout_s=PING_TIMEOUT_S)
        except TemporaryError:
            return False
        return True

    def setup_pods(self, pods: Sequence[tuple[str, str, str]]) -> list[PodResult]:
        """SetupPods of (name, kube_ns, netns path) triples: one call per ``MAX_BATCH`` pods."""
        from kubedtn.daemon.limits import chunks
        from kubedtn.proto.v1 import kube_dtn_pb2 as pb

        results: list[PodResult] = []
        for part in chunks(len(pods)):
            query = pb.SetupPodsQuery(
                pods=[pb.SetupPodQuery(name=n, kube_ns=ns, net_ns=path) for n, ns, path in pods[part]]
            )
            with self._call("SetupPods"):
                reply = self._stub.SetupPods(query, timeout=self.timeout_s)
            results.extend(PodResult(r.name, r.kube_ns, r.ok, r.error) for r in reply.results)
        return results

    def destroy_pods(self, pods: Sequence[tuple[str, str]]) -> list[PodResult]:
        """DestroyPods of (name, kube_ns) pairs: one call per ``MAX_BATCH`` pods."""
        from kubedtn.daemon.limits import chunks
        from kubedtn.proto.v1 import kube_dtn_pb2 as pb

        results: list[PodResult] = []
        for part in chunks(len(pods)):
            query = pb.PodsQuery(pods=[pb.PodQuery(name=n, kube_ns=ns) for n, ns in pods[part]])
            with self._call("DestroyPods"):
                reply = self._stub.DestroyPods(query, timeout=self.timeout_s)
            results.extend(PodResult(r.name, r.kube_ns, r.ok, r.error) for r in reply.results)
        return results

    def update_links(self, *, pod: str, kube_ns: str, links: Sequence[Link]) -> bool:
        """UpdateLinks: change the properties of the pod's existing links in place."""
        from kubedtn.daemon.convert import link_to_pb
        from kubedtn.proto.v1 import kube_dtn_pb2 as pb

        query = pb.LinksBatchQuery(
            local_pod=pb.Pod(name=pod, kube_ns=kube_ns), links=[link_to_pb(link) for link in links]
        )
        with self._call(f"UpdateLinks of {kube_ns}/{pod}"):
            reply = self._stub.UpdateLinks(query, timeout=self.timeout_s)
        return bool(reply.response)
