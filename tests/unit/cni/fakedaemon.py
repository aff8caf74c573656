"""A stand-in for the node daemon's Local service, for unit tests of the plugin's client:
a real gRPC server on a real unix socket and, as the daemon has, the plain socket beside
it (kubedtn.daemon.plainserver, the same servicer), answering what the test tells it to.

(The real daemon is exercised by the e2e tests; here the point is the plugin's side of
the wire: requests it sends, how it waits, and how each answer becomes a CNI result.)
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc

from kubedtn.cni.plainrpc import plain_socket_path
from kubedtn.daemon.plainserver import PlainServer
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc

T = TypeVar("T")


@dataclass
class Failure:
    code: grpc.StatusCode
    message: str


@dataclass
class FakeLocal(pb_grpc.LocalServicer):
    """Records every request; answers from `answers` (method → message or Failure)."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _answer(self, method: str, request: Any, context: grpc.ServicerContext, default: T) -> T:
        with self.lock:
            self.calls.append((method, request))
        answer = self.answers.get(method, default)
        if isinstance(answer, Failure):
            context.abort(answer.code, answer.message)
        assert isinstance(answer, type(default)), f"{method}: the test set a {type(answer).__name__}"
        return answer

    def SetupPod(self, request: pb.SetupPodQuery, context: grpc.ServicerContext) -> pb.BoolResponse:
        return self._answer("SetupPod", request, context, pb.BoolResponse(response=True))

    def DestroyPod(self, request: pb.PodQuery, context: grpc.ServicerContext) -> pb.BoolResponse:
        return self._answer("DestroyPod", request, context, pb.BoolResponse(response=True))

    def CheckPod(self, request: pb.SetupPodQuery, context: grpc.ServicerContext) -> pb.CheckPodResponse:
        return self._answer("CheckPod", request, context, pb.CheckPodResponse(ok=True, in_topology=True))

    def Status(self, request: pb.StatusQuery, context: grpc.ServicerContext) -> pb.DaemonStatus:
        default = pb.DaemonStatus(version="test", node_ip="10.0.0.1", pods_alive=2, links=1, store="mem")
        return self._answer("Status", request, context, default)


@dataclass
class Running:
    socket: str
    servicer: FakeLocal
    plain: bool = True  # False: a daemon of an older build, gRPC only
    server: grpc.Server | None = None
    plain_server: PlainServer | None = None

    def start(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_LocalServicer_to_server(self.servicer, server)
        server.add_insecure_port("unix:" + self.socket)
        server.start()
        self.server = server
        if self.plain:
            self.plain_server = PlainServer(
                self.servicer, Path(plain_socket_path(self.socket)), workers=4, max_connections=64
            )
            self.plain_server.start()

    def stop(self) -> None:
        if self.plain_server is not None:
            self.plain_server.stop()
            self.plain_server = None
        if self.server is not None:
            self.server.stop(grace=None).wait()
            self.server = None


@contextmanager
def socket_dir() -> Iterator[Path]:
    """A short directory for sockets (a unix socket path must be under 108 bytes)."""
    directory = Path(tempfile.mkdtemp(prefix="kdtn-", dir="/tmp"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def fake_daemon(directory: Path, *, start: bool = True, plain: bool = True) -> Iterator[Running]:
    running = Running(socket=str(directory / "daemon.sock"), servicer=FakeLocal(), plain=plain)
    if start:
        running.start()
    try:
        yield running
    finally:
        running.stop()
