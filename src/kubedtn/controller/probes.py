"""The controller's HTTP endpoints (kube-dtn's ports): health probes on one address
(default ``:8081``) and Prometheus metrics on another (default ``:8080``).

* ``GET /healthz`` answers 200 ``ok`` while the process serves (liveness);
* ``GET /readyz`` answers 200 ``ok`` when the caller's ``ready()`` says so, else 503 with
  its reason (readiness: e.g. the caches have synced);
* ``GET /metrics`` answers the given ``prometheus_client`` registry in the text format.

Each server is a stdlib ``ThreadingHTTPServer`` on its own thread. Port 0 picks a free port;
``port`` tells which. Anything else answers 404.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

DEFAULT_HEALTH_ADDRESS = ":8081"
DEFAULT_METRICS_ADDRESS = ":8080"

Readiness = Callable[[], tuple[bool, str]]  # (ready, why not)
Route = Callable[[], tuple[int, str, bytes]]  # (status, content type, body)


def parse_address(address: str) -> tuple[str, int]:
    """``host:port``, ``:port`` (every interface) or ``[v6]:port``; ValueError naming it."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bind address {address!r}: expected HOST:PORT or :PORT (port 0..65535)")
    return host.strip("[]"), int(port)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path.split("?", 1)[0])
        status, content_type, body = route() if route else (404, "text/plain", b"not found\n")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # probes every few seconds would flood the log


class Endpoint:
    """One HTTP server with fixed routes, served on its own thread."""

    def __init__(self, address: str, routes: dict[str, Route], *, name: str) -> None:
        host, port = parse_address(address)
        self._server = (_Server6 if ":" in host else _Server)((host, port), _Handler)
        self._server.routes = routes
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name=name, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> Endpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.ident is not None:
            self._server.shutdown()
        self._server.server_close()


def health_endpoint(address: str = DEFAULT_HEALTH_ADDRESS, ready: Readiness = lambda: (True, "")) -> Endpoint:
    def healthz() -> tuple[int, str, bytes]:
        return 200, "text/plain", b"ok\n"

    def readyz() -> tuple[int, str, bytes]:
        try:
            ok, why = ready()
        except Exception as e:  # a failing check is an answer too: not ready
            ok, why = False, f"the readiness check failed: {e}"
        return (200, "text/plain", b"ok\n") if ok else (503, "text/plain", f"not ready: {why}\n".encode())

    return Endpoint(address, {"/healthz": healthz, "/readyz": readyz}, name="kubedtn-health")


def metrics_endpoint(registry: CollectorRegistry, address: str = DEFAULT_METRICS_ADDRESS) -> Endpoint:
    def metrics() -> tuple[int, str, bytes]:
        return 200, CONTENT_TYPE_LATEST, generate_latest(registry)

    return Endpoint(address, {"/metrics": metrics}, name="kubedtn-metrics")
