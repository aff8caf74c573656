"""The Local service on the daemon's plain socket (the protocol: kubedtn.cni.plainrpc).

The CNI plugin asks here so that it need not import grpc. Every call goes to the same
servicer as on the gRPC sockets (its error mapping, metrics and logs), with a context
whose ``abort`` ends the call with that status, so both sockets answer alike.

    server = PlainServer(servicer, Path("/run/kubedtn/daemon.sock.plain"), workers=32,
                         max_connections=512)
    server.start()   # binds (0600, like the gRPC socket) and accepts in a thread
    server.stop()    # stops accepting, lets running calls finish, removes the socket

Its limits match the gRPC listeners' (kubedtn.daemon.limits): a request longer than
``plainrpc.MAX_MESSAGE`` is refused before it is read, and a connection beyond
``max_connections`` open at once (being served or waiting for a worker) is answered
RESOURCE_EXHAUSTED at once and closed, as gRPC answers a request beyond
``maximum_concurrent_rpcs``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, NoReturn, cast

import grpc
from google.protobuf.message import DecodeError

from kubedtn.cni import plainrpc
from kubedtn.daemon.logs import EventLog
from kubedtn.proto.v1 import kube_dtn_pb2 as pb

log = EventLog(logging.getLogger(__name__))

READ_TIMEOUT_S: Final = 30.0  # a client that connects and sends only part of a request
BACKLOG: Final = 128
RESOURCE_EXHAUSTED: Final = 8  # (grpc.StatusCode.RESOURCE_EXHAUSTED)


class _Aborted(Exception):  # noqa: N818 -- the servicer's context.abort, not an error of ours
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class _Context:
    """What the servicers use of grpc.ServicerContext: ``abort``."""

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise _Aborted(code, details)


Handler = Callable[[Any, grpc.ServicerContext], Any]


def local_methods(servicer: object) -> dict[str, tuple[type[Any], Handler]]:
    """Every method of the Local service: name → (request message class, servicer method)."""
    service = pb.DESCRIPTOR.services_by_name["Local"]
    return {m.name: (getattr(pb, m.input_type.name), getattr(servicer, m.name)) for m in service.methods}


class PlainServer:
    def __init__(self, servicer: object, path: Path, *, workers: int, max_connections: int) -> None:
        self.path = path
        self.max_connections = max_connections
        self._open = threading.BoundedSemaphore(max_connections)  # a slot per connection held
        self._methods = local_methods(servicer)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kubedtn-plain")
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen on ``path`` (its directory exists: the gRPC socket's)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a stale socket of a killed daemon
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o077)  # never briefly open to others
        try:
            sock.bind(str(self.path))
        except OSError as e:
            sock.close()
            raise OSError(e.errno, f"cannot listen on the plain socket {self.path}: {e.strerror}") from e
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)  # as the gRPC socket: read and write for the owner only
        sock.listen(BACKLOG)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, args=(sock,), name="kubedtn-plain-accept")
        self._thread.start()

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() of the thread
            sock.close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._pool.shutdown(wait=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return  # stop() shut the socket down
            if not self._open.acquire(blocking=False):
                self._refuse(conn)
                continue
            try:
                self._pool.submit(self._serve, conn)
            except RuntimeError:  # the pool is shut down: stopping
                self._open.release()
                conn.close()
                return

    def _refuse(self, conn: socket.socket) -> None:
        """Answer a connection beyond the limit without reading it (never blocks the accept
        thread: the reply fits the socket's buffer, and a full buffer drops the reply)."""
        details = (
            f"the daemon serves {self.max_connections} plain-socket calls at once "
            "(--max-concurrent-rpcs); try again later"
        )
        log.warning("plain socket: too many calls at once; refused", limit=self.max_connections)
        with conn, contextlib.suppress(OSError):
            conn.setblocking(False)
            conn.send(plainrpc.encode_reply(RESOURCE_EXHAUSTED, details.encode()))

    def _serve(self, conn: socket.socket) -> None:
        try:
            self._serve_one(conn)
        finally:
            self._open.release()

    def _serve_one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(READ_TIMEOUT_S)
            try:
                method, payload = plainrpc.read_request(conn)
            except (OSError, plainrpc.ProtocolError) as e:
                log.warning("plain socket: unreadable request", error=e)
                with contextlib.suppress(OSError):
                    conn.sendall(plainrpc.encode_reply(plainrpc.INVALID_ARGUMENT, str(e).encode()))
                return
            status, body = self.dispatch(method, payload)
            conn.settimeout(None)
            with contextlib.suppress(OSError):  # the client gave up: nobody to tell
                conn.sendall(plainrpc.encode_reply(status, body))

    def dispatch(self, method: str, payload: bytes) -> tuple[int, bytes]:
        """(status code, body) of one call."""
        entry = self._methods.get(method)
        if entry is None:
            known = ", ".join(sorted(self._methods))
            return plainrpc.UNIMPLEMENTED, f"no method {method!r}; this daemon serves {known}".encode()
        request_class, handler = entry
        try:
            request = request_class.FromString(payload)
        except DecodeError as e:
            return (
                plainrpc.INVALID_ARGUMENT,
                f"{method}: the request is not a {request_class.__name__}: {e}".encode(),
            )
        try:
            reply = handler(request, cast(grpc.ServicerContext, _Context()))
        except _Aborted as e:
            return int(e.code.value[0]), e.details.encode()
        except Exception as e:  # the servicers map their errors; this is a bug
            log.error("plain socket: call crashed", method=method, exc_info=True)
            return plainrpc.INTERNAL, f"internal error in {method}: {e!r}".encode()
        return plainrpc.OK, reply.SerializeToString()
