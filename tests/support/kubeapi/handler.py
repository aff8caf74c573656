"""HTTP plumbing: one request in, faults applied, routed to discovery or a verb, JSON out."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.support.kubeapi import crds, discovery, errors, openapi, routes
from tests.support.kubeapi.api import Api, Query, decode, parse_query
from tests.support.kubeapi.faults import Faults, OpenWatch
from tests.support.kubeapi.watch import stream

_FAULT_REASONS = {
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "ServerTimeout",
    429: "TooManyRequests",
}


class ApiHTTPServer(ThreadingHTTPServer):
    """The listening socket and what its handlers share; tracks connections to cut them at stop."""

    daemon_threads = False  # server_close() joins every handler thread

    def __init__(
        self,
        api: Api,
        faults: Faults,
        bookmark_every: float,
        address: tuple[str, int] = ("127.0.0.1", 0),
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(address, Handler)
        self.tls = tls  # https (an in-cluster client speaks nothing else), else plain http
        self.api = api
        self.faults = faults
        self.bookmark_every = bookmark_every
        self.requests: list[tuple[str, str]] = []  # (method, path?query), for tests to inspect
        self.agents: list[str] = []  # the User-Agent of each of them
        self.connections: set[socket.socket] = set()
        self.crashes: list[str] = []  # tracebacks of requests the double failed to serve
        self.lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        if self.tls is None:
            return conn, addr
        # The handshake runs in the connection's own thread (Handler.setup), not in the one
        # that accepts.
        return self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False), addr

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def cut_connections(self) -> None:
        with self.lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An answer goes out in several writes (status line, headers, body): with Nagle's
    # algorithm each waits for the client's delayed ACK of the one before.
    disable_nagle_algorithm = True
    server: ApiHTTPServer

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10.0)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()
        with self.server.lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.lock:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are kept in server.requests instead of stderr

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    # --- one request -----------------------------------------------------------------------

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_query(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.requests.append((method, self.path))
            self.server.agents.append(self.headers.get("User-Agent") or "")
        if self.server.faults.stopping.is_set():
            self.close_connection = True  # stopping: no new answers
            return
        try:
            gv = routes.split_group_version(parts)
            target = routes.target(self.server.api.registry, *gv) if gv and gv[2] else None
            if "dryRun" in query:
                # Not implemented: refusing it keeps a dry run from writing for real.
                raise errors.bad_request("dryRun is not supported by this API server double")
            watch = method == "GET" and query.get("watch") in ("true", "1")
            if self._faulted("WATCH" if watch else method, target):
                return
            if target is None:
                self._discovery(method, parts)
            else:
                self._resource(method, target, query, raw)
        except (BrokenPipeError, ConnectionResetError):
            # The client went away mid-request (a process killed by the test): nothing to
            # answer, and no fault of the double's.
            self.close_connection = True
            return
        except errors.ApiError as e:
            self._send_quietly(e.code, e.status())
        except Exception as e:
            # A bug in the double: answered as the real server would (500), and kept for the
            # fixture, which fails the test that met it.
            with self.server.lock:
                self.server.crashes.append(f"{method} {self.path}: {traceback.format_exc()}")
            self._send_quietly(
                500, errors.ApiError(500, "InternalError", f"{type(e).__name__}: {e}").status()
            )

    def _send_quietly(self, code: int, body: Any) -> None:
        """An error answer to a client that may have gone away (then there is nobody to tell)."""
        try:
            self._send_json(code, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _faulted(self, method: str, target: routes.Target | None) -> bool:
        """Apply the faults that match; True when the request must not be served."""
        agent = self.headers.get("User-Agent") or ""
        decision = self.server.faults.decide(method, target.rt.plural if target else "", agent)
        if decision.delay and self.server.faults.stopping.wait(decision.delay):
            decision.hang = self.server.faults.stopping  # stopping: give up on the late answer
        if decision.hang is not None:
            self.server.faults.hold(decision.hang)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if decision.status is not None:
            reason = _FAULT_REASONS.get(decision.status, "InternalError")
            raise errors.ApiError(decision.status, reason, f"injected fault: {decision.status} {reason}")
        if decision.conflict:
            assert target is not None  # conflicts match writes, which have a target
            raise errors.conflict(target.rt.plural, target.name, target.rt.group, why="injected conflict")
        return False

    def _discovery(self, method: str, parts: list[str]) -> None:
        if method != "GET":
            raise errors.method_not_allowed(f"{method} is not allowed on /{'/'.join(parts)}")
        registry = self.server.api.registry
        doc: dict[str, Any] | None = None
        if parts == ["openapi", "v2"]:
            self._send(200, openapi.V2_DOCUMENT, openapi.V2_PROTOBUF)
            return
        if parts == ["version"]:
            doc = discovery.VERSION
        elif parts[:2] == ["openapi", "v3"]:
            doc = self._openapi("/".join(parts[2:]))
        elif parts == ["api"]:
            doc = discovery.core_versions(self.server.address)
        elif parts == ["apis"]:
            doc = discovery.group_list(registry)
        elif len(parts) == 2 and parts[0] == "apis":
            doc = discovery.group(registry, parts[1])
        elif parts[:1] == ["api"] and len(parts) == 2:
            doc = discovery.resource_list(registry, "", parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 3:
            doc = discovery.resource_list(registry, parts[1], parts[2])
        if doc is None:
            raise errors.ApiError(
                404, "NotFound", f"the server could not find the requested resource (/{'/'.join(parts)})"
            )
        self._send_json(200, doc)

    def _openapi(self, path: str) -> dict[str, Any] | None:
        registry, store = self.server.api.registry, self.server.api.store
        crd_rt = registry.find(crds.CRD_GROUP, "v1", crds.CRD_PLURAL)
        assert crd_rt is not None
        docs = openapi.documents(registry, crds.schemas(store, crd_rt))
        return openapi.root(registry, docs) if not path else docs.get(path)

    def _resource(self, method: str, target: routes.Target, query: Query, raw: bytes) -> None:
        api = self.server.api
        content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        # Unknown fields are pruned, or refused when the client asks fieldValidation=Strict.
        strict = query.get("fieldValidation") == "Strict"
        if method == "GET" and not target.name and query.get("watch") in ("true", "1"):
            self._watch(api, target, query)
        elif method == "GET":
            self._send_json(200, api.list(target, query) if not target.name else api.get(target))
        elif method == "POST" and not target.name:
            self._send_json(201, api.create(target, decode(raw, content_type), strict=strict))
        elif method == "PUT" and target.name:
            self._send_json(200, api.replace(target, decode(raw, content_type), strict=strict))
        elif method == "PATCH" and target.name:
            obj, created = api.patch(target, content_type, raw, strict=strict)
            self._send_json(201 if created else 200, obj)
        elif method == "DELETE" and target.name:
            self._send_json(200, api.delete(target, decode(raw, content_type) if raw else None))
        elif method == "DELETE":
            self._send_json(200, api.delete_collection(target, query))
        else:
            raise errors.method_not_allowed(f"{method} is not allowed on {self.path}")

    def _watch(self, api: Api, target: routes.Target, query: Query) -> None:
        req = api.watch_request(target, query)  # errors (bad selector) before the stream starts
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        handle = OpenWatch(self.connection, threading.Event())
        faults = self.server.faults
        faults.watch_opened(handle)

        def write(line: dict[str, Any]) -> None:
            data = json.dumps(line).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        try:
            if faults.stopping.is_set():
                return
            stream(api.store, req, handle, write, self.server.bookmark_every)
            if not handle.stop.is_set() or faults.stopping.is_set():
                self.wfile.write(b"0\r\n\r\n")  # a clean end (timeout, stop); a drop has none
        except OSError:
            pass  # the client went away, or the stream was dropped
        finally:
            faults.watch_closed(handle)
            self.close_connection = True

    def _send_json(self, code: int, body: dict[str, Any]) -> None:
        self._send(code, json.dumps(body).encode(), "application/json")

    def _send(self, code: int, data: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if code in (429, 504):
            # API Conventions, "Response Status Kind": Timeout (429) and ServerTimeout (504) carry
            # Retry-After; client-go then retries by itself (503 asks for backoff, without it).
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(data)
