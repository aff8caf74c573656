"""The double's lifecycle: start on a free port of 127.0.0.1, write a kubeconfig, stop cleanly."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tests.support.kubeapi.api import Api
from tests.support.kubeapi.faults import Faults
from tests.support.kubeapi.handler import ApiHTTPServer
from tests.support.kubeapi.resources import Registry
from tests.support.kubeapi.routes import Target
from tests.support.kubeapi.storage import Store

_BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class KubeApiServer:
    """A Kubernetes API server double (see the package docstring); use it as a context manager.

    `event_window`: how many changes the event log keeps (older watches get 410 Gone);
    `bookmark_every`: seconds between BOOKMARK events of watches that asked for them.
    """

    def __init__(self, event_window: int = 1000, bookmark_every: float = 1.0) -> None:
        self.registry = Registry()
        self.store = Store(event_window)
        self.api = Api(self.registry, self.store)
        self.faults = Faults(self._wake_watches)
        namespaces = self.registry.find("", "v1", "namespaces")
        assert namespaces is not None
        for name in _BUILTIN_NAMESPACES:
            self.store.create(namespaces, "", {"metadata": {"name": name}})
        self._bookmark_every = bookmark_every
        self._httpd = ApiHTTPServer(self.api, self.faults, bookmark_every)
        self._thread: threading.Thread | None = None
        self._more: list[tuple[ApiHTTPServer, threading.Thread]] = []  # listen_also's listeners

    @property
    def url(self) -> str:
        return f"http://{self._httpd.address}"

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request served so far."""
        return [r for httpd in self._listeners() for r in _locked_copy(httpd, httpd.requests)]

    def requests_not_from(self, agent: str) -> list[tuple[str, str]]:
        """(method, path) of the requests whose User-Agent is not ``agent`` (a test's own client
        can set one, to tell its requests from those of the code under test)."""
        out: list[tuple[str, str]] = []
        for httpd in self._listeners():
            with httpd.lock:
                pairs = zip(httpd.requests, httpd.agents, strict=True)
                out += [request for request, sent_by in pairs if sent_by != agent]
        return out

    @property
    def crashes(self) -> list[str]:
        """Tracebacks of requests that failed inside the double (answered 500)."""
        return [c for httpd in self._listeners() for c in _locked_copy(httpd, httpd.crashes)]

    def _listeners(self) -> list[ApiHTTPServer]:
        return [self._httpd, *(httpd for httpd, _ in self._more)]

    def listen_also(self, host: str, port: int = 0, *, tls: ssl.SSLContext | None = None) -> str:
        """Serves the same objects on one more socket, bound now in the calling thread's network
        namespace (a thread that entered another namespace puts the socket there); its URL.
        With ``tls`` (a server context with its certificate loaded) it speaks https."""
        httpd = ApiHTTPServer(self.api, self.faults, self._bookmark_every, (host, port), tls)
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), name="kubeapi+", daemon=True)
        thread.start()
        self._more.append((httpd, thread))
        return f"{'https' if tls else 'http'}://{httpd.address}"

    def start(self) -> KubeApiServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="kubeapi", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.faults.stop()
        for httpd in self._listeners():
            httpd.shutdown()
            httpd.cut_connections()  # idle keep-alive connections would hold their threads
            httpd.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join()
        for _, thread in self._more:
            thread.join()

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _wake_watches(self) -> None:
        with self.store.cond:
            self.store.cond.notify_all()

    def write_kubeconfig(self, path: Path, namespace: str = "default", url: str | None = None) -> Path:
        """A kubeconfig for this server (at ``url``, default its first socket): plain http, no
        credentials, one context."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubeapi", "cluster": {"server": url or self.url}}],
            "users": [{"name": "kubeapi", "user": {}}],
            "contexts": [
                {
                    "name": "kubeapi",
                    "context": {"cluster": "kubeapi", "user": "kubeapi", "namespace": namespace},
                }
            ],
            "current-context": "kubeapi",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def create(
        self, group: str, version: str, plural: str, obj: dict[str, Any], namespace: str = ""
    ) -> dict[str, Any]:
        """Create an object directly (test set-up, e.g. a CRD), with the semantics of a POST."""
        rt = self.registry.find(group, version, plural)
        if rt is None:
            raise KeyError(f"{plural} is not served in {group}/{version}")
        return self.api.create(Target(rt, namespace or None), obj)

    def register_crd(self, path: Path) -> list[dict[str, Any]]:
        """Create the CRDs of a manifest file (all its documents of kind CustomResourceDefinition)."""
        docs = [
            d
            for d in yaml.safe_load_all(path.read_text())
            if d and d.get("kind") == "CustomResourceDefinition"
        ]
        return [self.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", d) for d in docs]


def _locked_copy(httpd: ApiHTTPServer, items: list[Any]) -> list[Any]:
    with httpd.lock:
        return list(items)
