"""The gRPC side: thin servicers over the link manager, and the two listeners.

* TCP ``GRPC_PORT`` (every interface of the node namespace, or ``--grpc-bind``): ``Remote``
  — peer daemons, with mutual TLS (``--tls-*``): a call acts only for the node its
  certificate names (``trust.check_caller``). Without TLS, ``Remote`` answers
  UNAUTHENTICATED there unless ``--insecure-remote-tcp`` serves it as kube-dtn did.
  ``Local`` there answers UNAUTHENTICATED (it makes links in any namespace it is given)
  unless ``--insecure-local-tcp`` serves it, for kube-dtn clients;
* the unix socket (mode 0600 in a 0700 directory): ``Local`` only — the CNI plugin and the lab;
* beside it, the plain socket (``<socket>.plain``, 0600): ``Local`` without gRPC, for the
  CNI plugin (kubedtn.daemon.plainserver).

Errors become gRPC status codes here and only here:

========================================  ===================  ===============================
kubedtn error                             status code          when
========================================  ===================  ===============================
ValidationError                           INVALID_ARGUMENT     bad Topology/link (problem lines)
NotFoundError                             NOT_FOUND            no such Topology (Get, AddLinks…)
PermissionDeniedError                     PERMISSION_DENIED    the store does not back the request
                                                               (Remote), a namespace path outside
                                                               the allowed ones
NamespaceNotFoundError                    FAILED_PRECONDITION  the pod's namespace is gone, or
                                                               the pod runs on another node
TemporaryError (store busy, peer daemon)  UNAVAILABLE          retrying may help
ConflictError                             ABORTED              lost a write race, retries spent
DataplaneError, other                     INTERNAL             names namespace/interface/cause
========================================  ===================  ===============================

kube-dtn compatible answers: SetupPod of a pod in no Topology returns ``response=true``;
DestroyPod returns ``response=true`` when it handled a topology pod (also one already
down) and ``response=false`` when the pod is in no Topology (nothing to do) — both with
status OK. The batch methods (SetupPods/DestroyPods) answer OK with a result per pod.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent import futures
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar, cast

import grpc

import kubedtn
from kubedtn.cni.plainrpc import plain_socket_path
from kubedtn.daemon.config import DaemonConfig, parse_ip
from kubedtn.daemon.convert import links_from_pb, pod_to_pb, remote_from_pb
from kubedtn.daemon.health import FAILING, HealthReport
from kubedtn.daemon.limits import check_batch, server_options
from kubedtn.daemon.logs import EventLog
from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.metrics import DaemonMetrics
from kubedtn.daemon.plainserver import PlainServer
from kubedtn.daemon.plan import RemoteEnd
from kubedtn.daemon.podstatus import READY
from kubedtn.daemon.tls import Pem, server_credentials
from kubedtn.daemon.trust import Caller, NetnsGuard, caller_from_auth, check_caller
from kubedtn.daemon.types import NodeSummary, PodOutcome, Sandbox, SetupRequest
from kubedtn.dataplane import NamespaceNotFoundError
from kubedtn.errors import (
    ConflictError,
    KubedtnError,
    NotFoundError,
    PermissionDeniedError,
    TemporaryError,
    ValidationError,
)
from kubedtn.model.names import namespace_problem, pod_name_problem
from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.model.podref import PodRef
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc

log = EventLog(logging.getLogger(__name__))

WORKERS: Final = 32
# A runtime's container id is 64 hex digits; room for other runtimes' forms, not for a flood.
CONTAINER_ID_MAX: Final = 256

R = TypeVar("R")


def status_code(error: BaseException) -> grpc.StatusCode:
    """The gRPC status of an error (see the module table)."""
    if isinstance(error, ValidationError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, NotFoundError):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(error, PermissionDeniedError):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, NamespaceNotFoundError):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(error, TemporaryError):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(error, ConflictError):
        return grpc.StatusCode.ABORTED
    return grpc.StatusCode.INTERNAL


def _abort(context: grpc.ServicerContext, error: BaseException) -> NoReturn:
    context.abort(status_code(error), str(error))
    raise AssertionError("unreachable")  # context.abort raises


def _rpc(method: str) -> Callable[[Callable[..., R]], Callable[..., R]]:
    """Time the call, log failures, and turn kubedtn errors into gRPC statuses."""

    def wrap(fn: Callable[..., R]) -> Callable[..., R]:
        @functools.wraps(fn)
        def call(self: _Servicer, request: Any, context: grpc.ServicerContext) -> R:
            started = time.monotonic()
            code: str | None = None
            try:
                return fn(self, request, context)
            except KubedtnError as e:
                code = status_code(e).name
                log.warning("request failed", method=method, code=code, error=e)
                _abort(context, e)
            except Exception as e:
                code = grpc.StatusCode.INTERNAL.name
                log.error("request crashed", method=method, exc_info=True)
                _abort(context, KubedtnError(f"internal error in {method}: {e!r}"))
            finally:
                self.metrics.observe(method, time.monotonic() - started, code=code)

        return call

    return wrap


def _ns(value: str) -> str:
    return value or DEFAULT_NAMESPACE


def _pod(msg: pb.Pod | pb.PodQuery | pb.SetupPodQuery) -> PodRef:
    """The pod a message names (its namespace defaults as kube-dtn's does); ValidationError
    naming the field when it cannot be a pod's (else the store's lookup names neither)."""
    namespace = msg.kube_ns or DEFAULT_NAMESPACE
    for field, value, problem in (
        ("kube_ns", namespace, namespace_problem(namespace)),
        ("name", msg.name, pod_name_problem(msg.name)),
    ):
        if problem is not None:
            raise ValidationError(f"pod {msg.kube_ns}/{msg.name}: {field} {value!r:.80} {problem}")
    return PodRef(namespace=namespace, name=msg.name)


def _container_id(pod: PodRef, value: str) -> str:
    if len(value) > CONTAINER_ID_MAX:
        raise ValidationError(
            f"{pod.key}: container_id is {len(value)} characters long; "
            f"at most {CONTAINER_ID_MAX} are accepted"
        )
    return value


def _sandbox(q: pb.PodQuery) -> Sandbox:
    """The sandbox a DestroyPod is about (only compared with the recorded one, never opened)."""
    return Sandbox(netns=q.net_ns, container_id=_container_id(_pod(q), q.container_id))


def _pod_result(outcome: PodOutcome) -> pb.PodResult:
    return pb.PodResult(
        name=outcome.name,
        kube_ns=outcome.namespace,
        ok=outcome.ok,
        error="" if outcome.error is None else str(outcome.error),
    )


class _Servicer:
    def __init__(
        self,
        manager: LinkManager,
        metrics: DaemonMetrics,
        *,
        store_description: str,
        netns: NetnsGuard,
        jobs: Callable[[], Sequence[HealthReport]] = tuple,
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.store_description = store_description
        self.netns = netns  # which namespace paths a request may name
        self.jobs = jobs  # the health of the daemon's background jobs, for Status


class LocalServicer(_Servicer, pb_grpc.LocalServicer):
    def _netns(self, pod: PodRef, path: str) -> str:
        """``path`` when a pod's namespace may be there (else PermissionDeniedError)."""
        if path:
            self.netns.check(path, what=pod.key)
        return path

    @_rpc("Get")
    def Get(self, request: pb.PodQuery, context: grpc.ServicerContext) -> pb.Pod:  # noqa: N802 (gRPC method names)
        topo = self.manager.get(_pod(request))
        ready = any(c.type == READY and c.status == "True" for c in topo.status.conditions)
        return pod_to_pb(topo, ready=ready)

    @_rpc("SetAlive")
    def SetAlive(self, request: pb.Pod, context: grpc.ServicerContext) -> pb.BoolResponse:  # noqa: N802 (gRPC method names)
        pod = _pod(request)
        if request.src_ip:
            parse_ip(request.src_ip, what=f"{pod.key}: src_ip")
        self.manager.set_alive(pod, src_ip=request.src_ip, net_ns=self._netns(pod, request.net_ns))
        return pb.BoolResponse(response=True)

    def _batch(self, request: pb.LinksBatchQuery, method: str) -> tuple[PodRef, list[Any]]:
        pod = _pod(request.local_pod)
        if not pod.name:
            raise ValidationError("local_pod.name is empty; name the pod whose links these are")
        check_batch(len(request.links), method=f"{method} of {pod.key}", what="links")
        return pod, links_from_pb(request.links, where=pod.key)

    @_rpc("AddLinks")
    def AddLinks(self, request: pb.LinksBatchQuery, context: grpc.ServicerContext) -> pb.BoolResponse:  # noqa: N802 (gRPC method names)
        pod, links = self._batch(request, "AddLinks")
        outcome = self.manager.add_links(pod, links)
        if outcome.error is not None:
            raise outcome.error
        return pb.BoolResponse(response=True)

    @_rpc("DelLinks")
    def DelLinks(self, request: pb.LinksBatchQuery, context: grpc.ServicerContext) -> pb.BoolResponse:  # noqa: N802 (gRPC method names)
        pod, links = self._batch(request, "DelLinks")
        self.manager.del_links(pod, links)
        return pb.BoolResponse(response=True)

    @_rpc("UpdateLinks")
    def UpdateLinks(self, request: pb.LinksBatchQuery, context: grpc.ServicerContext) -> pb.BoolResponse:  # noqa: N802 (gRPC method names)
        pod, links = self._batch(request, "UpdateLinks")
        self.manager.update_links(pod, links)
        return pb.BoolResponse(response=True)

    @_rpc("SetupPod")
    def SetupPod(self, request: pb.SetupPodQuery, context: grpc.ServicerContext) -> pb.BoolResponse:  # noqa: N802 (gRPC method names)
        (outcome,) = self.manager.setup_pods([self._setup_request(request)])
        if outcome.error is not None:
            raise outcome.error
        return pb.BoolResponse(response=True)

    @_rpc("DestroyPod")
    def DestroyPod(self, request: pb.PodQuery, context: grpc.ServicerContext) -> pb.BoolResponse:  # noqa: N802 (gRPC method names)
        pod = _pod(request)
        (outcome,) = self.manager.destroy_pods([pod], sandboxes={pod.key: _sandbox(request)})
        if outcome.error is not None:
            raise outcome.error
        return pb.BoolResponse(response=outcome.in_topology)

    @_rpc("SetupPods")
    def SetupPods(self, request: pb.SetupPodsQuery, context: grpc.ServicerContext) -> pb.PodsResponse:  # noqa: N802 (gRPC method names)
        check_batch(len(request.pods), method="SetupPods", what="pods")
        outcomes = self.manager.setup_pods([self._setup_request(q) for q in request.pods])
        return pb.PodsResponse(results=[_pod_result(o) for o in outcomes])

    @_rpc("DestroyPods")
    def DestroyPods(self, request: pb.PodsQuery, context: grpc.ServicerContext) -> pb.PodsResponse:  # noqa: N802 (gRPC method names)
        check_batch(len(request.pods), method="DestroyPods", what="pods")
        pods = [_pod(q) for q in request.pods]
        sandboxes = {pod.key: _sandbox(q) for pod, q in zip(pods, request.pods, strict=True)}
        outcomes = self.manager.destroy_pods(pods, sandboxes=sandboxes)
        return pb.PodsResponse(results=[_pod_result(o) for o in outcomes])

    @_rpc("CheckPod")
    def CheckPod(self, request: pb.SetupPodQuery, context: grpc.ServicerContext) -> pb.CheckPodResponse:  # noqa: N802 (gRPC method names)
        pod = _pod(request)
        result = self.manager.check_pod(pod, netns=self._netns(pod, request.net_ns))
        return pb.CheckPodResponse(ok=result.ok, problems=result.problems, in_topology=result.in_topology)

    def _setup_request(self, q: pb.SetupPodQuery) -> SetupRequest:
        if not q.name:
            raise ValidationError("name is empty; give the pod's name")
        if not q.net_ns:
            raise ValidationError(
                f"{_ns(q.kube_ns)}/{q.name}: net_ns is empty; give the pod's network namespace path"
            )
        return SetupRequest(
            q.name, _ns(q.kube_ns), self._netns(_pod(q), q.net_ns), _container_id(_pod(q), q.container_id)
        )

    @_rpc("Status")
    def Status(self, request: pb.StatusQuery, context: grpc.ServicerContext) -> pb.DaemonStatus:  # noqa: N802 (gRPC method names)
        jobs = list(self.jobs())
        try:
            s = self.manager.summary()
        except Exception as e:  # the daemon still answers, and says why it cannot count
            log.error("Status: cannot read this node's pods", error=repr(e))
            s = NodeSummary(kubedtn.version(), self.manager.node.ip, 0, 0)
            jobs.append(HealthReport("status", FAILING, f"cannot read this node's pods: {e}", 1))
        return pb.DaemonStatus(
            version=s.version,
            node_ip=s.node_ip,
            pods_alive=s.pods_alive,
            links=s.links,
            store=self.store_description,
            jobs=[
                pb.JobHealth(name=j.name, state=j.state, last_error=j.last_error, failures=j.failures)
                for j in jobs
            ],
        )


class RemoteServicer(_Servicer, pb_grpc.RemoteServicer):
    authenticated = False  # True: served with mutual TLS, the caller is its certificate's node

    def _caller(self, context: grpc.ServicerContext) -> Caller | None:
        if not self.authenticated:
            return None
        # (typeshed says one bytes value per property; gRPC gives the list of them)
        auth = cast(Mapping[str, Sequence[bytes]], context.auth_context())
        return caller_from_auth(auth)

    @_rpc("Remote.Update")
    def Update(self, request: pb.RemotePod, context: grpc.ServicerContext) -> pb.BoolResponse:  # noqa: N802 (gRPC method names)
        end = remote_from_pb(request, node_ip=self.manager.node.ip)
        check_caller(end, self._caller(context))
        self.manager.remote_update(end)
        return pb.BoolResponse(response=True)

    @_rpc("Remote.UpdateMany")
    def UpdateMany(self, request: pb.RemotePods, context: grpc.ServicerContext) -> pb.RemoteResults:  # noqa: N802 (gRPC method names)
        check_batch(len(request.pods), method="Remote.UpdateMany", what="link ends")
        return self._many(request, self.manager.remote_update_many, self._caller(context))

    @_rpc("Remote.DeleteMany")
    def DeleteMany(self, request: pb.RemotePods, context: grpc.ServicerContext) -> pb.RemoteResults:  # noqa: N802 (gRPC method names)
        check_batch(len(request.pods), method="Remote.DeleteMany", what="link ends")
        return self._many(request, self.manager.remote_delete_many, self._caller(context), check_netns=True)

    def _many(
        self,
        request: pb.RemotePods,
        act: Callable[[list[RemoteEnd]], list[KubedtnError | None]],
        caller: Caller | None,
        *,
        check_netns: bool = False,
    ) -> pb.RemoteResults:
        """Each end checked on its own: a bad one gets its error, the others are acted on."""
        errors: list[str] = [""] * len(request.pods)
        ends: list[RemoteEnd] = []
        at: list[int] = []
        for i, msg in enumerate(request.pods):
            try:
                end = remote_from_pb(msg, node_ip=self.manager.node.ip)
                check_caller(end, caller)
                if check_netns:
                    self.netns.check(end.endpoint.netns, what=f"Remote: {end.kube_ns}/{end.pod}")
                ends.append(end)
                at.append(i)
            except (ValidationError, PermissionDeniedError) as e:
                errors[i] = str(e)
        for i, error in zip(at, act(ends) if ends else [], strict=True):
            if error is not None:
                errors[i] = str(error)
        return pb.RemoteResults(errors=errors)


def prepare_socket_path(path: Path) -> None:
    """A 0700 directory for the socket, and no stale socket file from a killed daemon."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


LOCAL_SERVICE: Final = "proto.v1.Local"
REMOTE_SERVICE: Final = "proto.v1.Remote"


REFUSED: Final = {
    LOCAL_SERVICE: (
        "Local is served on the daemon's unix socket only (it acts as root in any namespace); "
        "start the daemon with --insecure-local-tcp to serve it on TCP to kube-dtn clients"
    ),
    REMOTE_SERVICE: (
        "Remote is served with mutual TLS only (it makes and removes link ends on this node) and "
        "this daemon has no certificate: start it with --tls-cert, --tls-key and --tls-ca "
        "(kubedtn certs makes them), or with --insecure-remote-tcp to serve Remote without "
        "authentication as kube-dtn did"
    ),
}


class Refused(grpc.GenericRpcHandler):  # type: ignore[type-arg]  # generic in the stubs only
    """A service not served on TCP (``REFUSED`` says why): every method UNAUTHENTICATED."""

    def __init__(self, services: list[str]) -> None:
        self.services = services

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes] | None:
        method: str = handler_call_details.method
        for service in self.services:
            if method.startswith(f"/{service}/"):
                return grpc.unary_unary_rpc_method_handler(functools.partial(self._refuse, service))
        return None

    @staticmethod
    def _refuse(service: str, request: bytes, context: grpc.ServicerContext) -> NoReturn:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSED[service])
        raise AssertionError("unreachable")  # context.abort raises


class DaemonServer:
    """Both listeners; ``start()`` binds them, ``stop()`` drains and closes them."""

    def __init__(
        self,
        *,
        config: DaemonConfig,
        manager: LinkManager,
        metrics: DaemonMetrics,
        pem: Pem | None = None,
        jobs: Callable[[], Sequence[HealthReport]] = tuple,
    ) -> None:
        """``pem``: the node's checked TLS files (``tls.node_pem``), when it has them;
        ``jobs``: the health of its background jobs (Status)."""
        self.config = config
        self.pem = pem
        store = f"sqlite:{config.store_path}"
        netns = NetnsGuard(config.netns_dirs)
        self.local = LocalServicer(manager, metrics, store_description=store, netns=netns, jobs=jobs)
        self.remote = RemoteServicer(manager, metrics, store_description=store, netns=netns)
        self._tcp = grpc.server(
            futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="kubedtn-tcp"),
            options=server_options(),
            maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        )
        self._unix = grpc.server(
            futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="kubedtn-unix"),
            options=server_options(),
            maximum_concurrent_rpcs=config.max_concurrent_rpcs,
        )
        refused = []
        if config.insecure_local_tcp:
            pb_grpc.add_LocalServicer_to_server(self.local, self._tcp)  # type: ignore[no-untyped-call]
        else:
            refused.append(LOCAL_SERVICE)
        self.remote.authenticated = pem is not None
        if pem is not None or config.insecure_remote_tcp:
            pb_grpc.add_RemoteServicer_to_server(self.remote, self._tcp)  # type: ignore[no-untyped-call]
        else:
            refused.append(REMOTE_SERVICE)
        if refused:
            self._tcp.add_generic_rpc_handlers((Refused(refused),))
        pb_grpc.add_LocalServicer_to_server(self.local, self._unix)  # type: ignore[no-untyped-call]
        self._plain = PlainServer(
            self.local,
            Path(plain_socket_path(str(config.socket_path))),
            workers=WORKERS,
            max_connections=config.max_concurrent_rpcs,
        )
        self.grpc_port: int | None = None

    def start(self) -> None:
        address = self.config.grpc_address
        try:
            if self.pem is None:
                self.grpc_port = self._tcp.add_insecure_port(address)
            else:
                self.grpc_port = self._tcp.add_secure_port(address, server_credentials(self.pem))
        except RuntimeError as e:
            raise KubedtnError(
                f"cannot listen on {address} (GRPC_PORT): {e}; is another daemon running?"
            ) from e
        tcp = f"{address.rsplit(':', 1)[0]}:{self.grpc_port}"
        # Before anything is served: whoever sees the daemon answer can find the warning logged.
        self._warn_insecure(tcp)
        path = self.config.socket_path
        prepare_socket_path(path)
        old = os.umask(0o077)  # the socket is created 0600, never briefly open to others
        try:
            self._unix.add_insecure_port(f"unix:{path}")
        except RuntimeError as e:
            raise KubedtnError(f"cannot listen on the unix socket {path}: {e}") from e
        finally:
            os.umask(old)
        self._tcp.start()
        self._unix.start()
        os.chmod(path, 0o600)
        try:
            self._plain.start()
        except OSError as e:
            raise KubedtnError(str(e)) from e
        log.info(
            "serving gRPC",
            action="serve",
            tcp=tcp,
            tcp_services=",".join(self._tcp_services()) or "none",
            tls="mutual" if self.pem else "off",
            socket=str(path),
        )

    def _tcp_services(self) -> list[str]:
        cfg = self.config
        return [
            name
            for name, served in (
                ("Local", cfg.insecure_local_tcp),
                ("Remote", self.pem is not None or cfg.insecure_remote_tcp),
            )
            if served
        ]

    def _warn_insecure(self, tcp: str) -> None:
        if self.config.insecure_local_tcp:
            log.warning(
                "--insecure-local-tcp: Local is served on TCP without authentication; anyone "
                "who reaches the port can make links in any namespace of this node",
                action="serve",
                tcp=tcp,
            )
        if self.config.insecure_remote_tcp:
            log.warning(
                "--insecure-remote-tcp: Remote is served on TCP without authentication, as kube-dtn "
                "did; anyone who reaches the port can make and remove the link ends the store backs, "
                "for any node; give the daemons node certificates (--tls-cert) instead",
                action="serve",
                tcp=tcp,
            )
        elif self.pem is None:
            log.warning(
                "no --tls-cert: Remote is not served on TCP (it needs mutual TLS), so peer daemons "
                "cannot make this node's ends of cross-node links",
                action="serve",
                tcp=tcp,
            )

    def stop(self, grace: float = 5.0) -> None:
        self._plain.stop()
        done = [self._unix.stop(grace), self._tcp.stop(grace)]
        for event in done:
            event.wait(grace + 1)
        with contextlib.suppress(FileNotFoundError):
            self.config.socket_path.unlink()
