"""The Kubernetes backend of the store: a resource's objects in the Kubernetes API, through
the official client (any resource: custom, core or another group's; namespaced or
cluster-scoped; paths from ``kubedtn.store.kuberest``).

Every call maps one-to-one onto the API server's (``GET``, ``LIST``, ``POST``, ``PUT``,
``PUT .../status``, ``DELETE``, ``watch``), and the API's answers become the store's
errors: 404 NotFoundError, 409 ConflictError (AlreadyExistsError for a taken name), 410
ExpiredError, 422 ValidationError, 5xx and unreachable StoreUnavailableError. The API has
no transactions: ``batch`` writes each write at once, and ``get_changed`` reads each object
(the store contract allows this: "at least one of two daemons sees the other").

Reads can be served from a watch-fed cache (``kubedtn.store.kubecache``) by passing one;
without it they go to the API server.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.store.base import (
    Changed,
    EventType,
    KnownVersion,
    ObjectList,
    StatusWrite,
    WatchStream,
    WrittenVersions,
)
from kubedtn.store.errors import (
    AlreadyExistsError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    ValidationError,
)
from kubedtn.store.kuberest import Query, request, resource_path
from kubedtn.store.objects import KubeObject
from kubedtn.store.resource import TOPOLOGY, Resource
from kubedtn.store.selectors import SelectorLike, to_selector

# Status writes of one batch sent at once (each its own request; see write_statuses).
CONCURRENT_WRITES = 8


def api_client(*, kubeconfig: str | None = None, context: str | None = None) -> k8s.ApiClient:
    """A client for the cluster: in a pod, its service account (in-cluster config); else the
    kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``), its current or the named context."""
    configuration = k8s.Configuration()
    if kubeconfig is None and context is None:
        with contextlib.suppress(k8s_config.ConfigException):
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return k8s.ApiClient(configuration)
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except (k8s_config.ConfigException, OSError) as e:
        where = kubeconfig or "$KUBECONFIG or ~/.kube/config"
        raise StoreError(f"no Kubernetes cluster to talk to: {where}: {e}") from e
    return k8s.ApiClient(configuration)


def context_namespace(*, kubeconfig: str | None = None, context: str | None = None) -> str | None:
    """The namespace the kubeconfig's (current or named) context sets, if it sets one."""
    try:
        contexts, current = k8s_config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (k8s_config.ConfigException, OSError):
        return None
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def _status_of(e: ApiException) -> tuple[str, str, list[str]]:
    """(reason, message, one line per cause) of the API's Status body, as far as it says.

    A 422 Invalid lists its causes in ``details.causes``: each names the field and says
    what is wrong with the value (API Conventions, "Response Status Kind").
    """
    try:
        body = json.loads(e.body or "{}")
    except ValueError:
        return "", str(e.reason or ""), []
    if not isinstance(body, dict):
        return "", str(e.reason or ""), []
    causes = (body.get("details") or {}).get("causes") or []
    lines = [
        f"{c.get('field')}: {c.get('message')}" if c.get("field") else str(c.get("message"))
        for c in causes
        if isinstance(c, dict)
    ]
    return str(body.get("reason") or ""), str(body.get("message") or e.reason or ""), lines


@contextlib.contextmanager
def api_errors(action: str) -> Iterator[None]:
    """The API's answers as the store's errors (see the module docstring)."""
    try:
        yield
    except ApiException as e:
        reason, message, causes = _status_of(e)
        text = f"{action}: {message}"
        if e.status == 404:
            raise NotFoundError(text) from e
        if e.status == 409:
            raise (AlreadyExistsError if reason == "AlreadyExists" else ConflictError)(text) from e
        if e.status == 410:
            raise ExpiredError(text, resource_version=0, oldest=0) from e
        if e.status in (400, 422):
            raise ValidationError([f"{action}: {cause}" for cause in causes] or text) from e
        if e.status is None or e.status == 429 or e.status >= 500:
            raise StoreUnavailableError(f"{text} (the API server answered {e.status})", delay=1.0) from e
        raise StoreError(f"{text} (the API server answered {e.status})") from e
    except (HTTPError, OSError) as e:
        raise StoreUnavailableError(f"{action}: the API server cannot be reached: {e}", delay=1.0) from e


class KubeStore:
    """An :class:`~kubedtn.store.base.ObjectStore` of one resource in the Kubernetes API: a
    custom resource, a core one (Pods, Nodes, Events) or any other group's (Leases);
    namespaced or cluster-scoped (``Resource.namespaced``; then ``namespace`` is ignored).

    ``request_timeout``: seconds each request may take (None: no limit), for callers that
    must not hang on a silent API server (the leader elector's renewals).
    """

    cached = False  # every read goes to the API (ObjectStore.cached)

    def __init__(
        self, client: k8s.ApiClient, *, resource: Resource = TOPOLOGY, request_timeout: float | None = None
    ) -> None:
        self._client = client
        self._resource = resource
        self._timeout = request_timeout
        self._writers: ThreadPoolExecutor | None = None  # write_statuses', made at its first batch
        self._writers_lock = threading.Lock()

    @property
    def resource(self) -> Resource:
        return self._resource

    def __repr__(self) -> str:
        return f"KubeStore({self._client.configuration.host!r}, resource={self._resource.key})"

    def close(self) -> None:
        if self._writers is not None:
            self._writers.shutdown(wait=True)
        self._client.close()  # type: ignore[no-untyped-call]

    # ---- helpers ---------------------------------------------------------------------------

    def _ns(self, namespace: str | None) -> str:
        """The object's namespace: "" for a cluster-scoped kind, else given or the default."""
        return (namespace or DEFAULT_NAMESPACE) if self._resource.namespaced else ""

    def _what(self, namespace: str | None, name: str) -> str:
        if not self._resource.namespaced:
            return f"{self._resource.singular} {name}"
        return f"{self._resource.singular} {namespace or DEFAULT_NAMESPACE}/{name}"

    def _call(
        self,
        method: str,
        namespace: str | None,
        name: str = "",
        *,
        subresource: str = "",
        query: Query = (),
        body: object = None,
    ) -> KubeObject:
        path = resource_path(self._resource, namespace, name, subresource)
        return _object(request(self._client, method, path, query=query, body=body, timeout=self._timeout))

    def _body(self, obj: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        body = json.loads(json.dumps(obj))  # the caller keeps its own
        meta = body.setdefault("metadata", {})
        if not isinstance(meta.get("name"), str) or not meta["name"]:
            raise ValidationError(f"{self._resource.singular}: metadata.name is missing")
        namespace = self._ns(meta.get("namespace"))
        if namespace:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        body["apiVersion"] = self._resource.api_version
        body["kind"] = self._resource.kind
        return namespace, meta["name"], body

    # ---- reads -----------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> KubeObject:
        ns = self._ns(namespace)
        with api_errors(f"get {self._what(ns, name)}"):
            return self._call("GET", ns, name)

    def get_if_changed(self, namespace: str | None, name: str, resource_version: str) -> KubeObject | None:
        obj = self.get(namespace, name)
        return None if obj["metadata"].get("resourceVersion") == resource_version else obj

    def get_changed(self, known: Sequence[KnownVersion], *, latest: bool = False) -> Changed:
        out: dict[tuple[str, str], KubeObject | None] = {}
        for namespace, name, version in known:
            ns = self._ns(namespace)
            with contextlib.suppress(NotFoundError):
                obj = KubeStore.get(self, ns, name)  # the API's, also under a cache's get
                same = bool(version) and obj["metadata"].get("resourceVersion") == version
                out[(ns, name)] = None if same else obj
        return out

    def list(
        self,
        namespace: str | None = None,
        label_selector: SelectorLike = None,
        *,
        field_selector: str | None = None,
    ) -> tuple[ObjectList, str]:
        """As ObjectStore.list; ``field_selector`` (``spec.nodeName=n1``) is the API's, sent as is."""
        query = _selection(label_selector, field_selector)
        with api_errors(f"list {self._resource.plural}"):
            answer = self._call("GET", namespace, query=query)
        items: ObjectList = sorted(
            answer.get("items", []), key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"])
        )
        for item in items:  # a list's items carry no apiVersion/kind
            item.setdefault("apiVersion", self._resource.api_version)
            item.setdefault("kind", self._resource.kind)
        return items, str(answer.get("metadata", {}).get("resourceVersion", ""))

    # ---- writes ----------------------------------------------------------------------------

    def create(self, obj: Mapping[str, Any]) -> KubeObject:
        namespace, name, body = self._body(obj)
        body.pop("status", None)
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation"):
            body["metadata"].pop(key, None)
        with api_errors(f"create {self._what(namespace, name)}"):
            return self._call("POST", namespace, body=body)

    def update(self, obj: Mapping[str, Any]) -> KubeObject:
        namespace, name, body = self._body(obj)
        if not body["metadata"].get("resourceVersion"):
            raise ValidationError(
                f"update {self._what(namespace, name)}: metadata.resourceVersion is required"
            )
        with api_errors(f"update {self._what(namespace, name)}"):
            return self._call("PUT", namespace, name, body=body)

    def update_status(self, obj: Mapping[str, Any]) -> KubeObject:
        namespace, name, body = self._body(obj)
        if not body["metadata"].get("resourceVersion"):
            raise ValidationError(
                f"update status of {self._what(namespace, name)}: metadata.resourceVersion is required"
            )
        body.setdefault("status", {})
        with api_errors(f"update status of {self._what(namespace, name)}"):
            return self._call("PUT", namespace, name, subresource="status", body=body)

    def write_status(
        self, namespace: str | None, name: str, *, resource_version: str, status: Mapping[str, Any]
    ) -> str:
        ns = self._ns(namespace)
        meta = {"name": name, "resourceVersion": resource_version} | ({"namespace": ns} if ns else {})
        done = self.update_status({"metadata": meta, "status": status})
        return str(done["metadata"]["resourceVersion"])

    def write_statuses(self, writes: Sequence[StatusWrite]) -> WrittenVersions:
        """Each write on its own (the API has no batch), ``CONCURRENT_WRITES`` at a time: they
        are to different objects, and one at a time a node's batch of 200 pods waited on
        200 round trips in a row."""

        def one(write: StatusWrite) -> str | None:
            namespace, name, resource_version, status = write
            try:
                return self.write_status(namespace, name, resource_version=resource_version, status=status)
            except (NotFoundError, ConflictError, ValidationError):
                return None

        if len(writes) <= 1:
            return [one(w) for w in writes]
        with self._writers_lock:  # one pool for the store's life: a SetupPod's batch is small
            if self._writers is None:
                self._writers = ThreadPoolExecutor(CONCURRENT_WRITES, thread_name_prefix="kubedtn-status")
        return list(self._writers.map(one, writes))

    def batch(self) -> AbstractContextManager[None]:
        """The API has no transactions: each write of the block is made at once."""
        return contextlib.nullcontext()

    def delete(
        self, namespace: str | None, name: str, *, resource_version: str | None = None
    ) -> KubeObject | None:
        ns = self._ns(namespace)
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if resource_version:
            options["preconditions"] = {"resourceVersion": resource_version}
        with api_errors(f"delete {self._what(ns, name)}"):
            answer = self._call("DELETE", ns, name, body=options)
        # The API answers with the object while finalizers hold it, else with a Status.
        if answer.get("kind") == self._resource.kind:
            return answer
        return None

    # ---- watch -----------------------------------------------------------------------------

    def watch(
        self,
        *,
        resource_version: str | None = None,
        namespace: str | None = None,
        timeout: float | None = None,
        types: Collection[EventType] | None = None,
        field_selector: str | None = None,
        label_selector: SelectorLike = None,
    ) -> WatchStream:
        """As ObjectStore.watch; the selectors narrow it as the API's do (an object leaving
        the selection arrives as DELETED)."""
        from kubedtn.store.kubewatch import KubeWatch

        query = [("watch", "true"), ("allowWatchBookmarks", "true")]
        query += _selection(label_selector, field_selector)
        if resource_version:
            query.append(("resourceVersion", resource_version))
        if timeout is not None:
            query.append(("timeoutSeconds", str(max(1, int(timeout)))))
        path = resource_path(self._resource, namespace)
        with api_errors(f"watch {self._resource.plural}"):
            response = request(self._client, "GET", path, query=query, stream=True)
        return KubeWatch(response, self._resource, resource_version=resource_version, types=types)


def _selection(label_selector: SelectorLike, field_selector: str | None) -> list[tuple[str, str]]:
    query = []
    selector = to_selector(label_selector)
    if selector.requirements:
        query.append(("labelSelector", selector.to_text()))
    if field_selector:
        query.append(("fieldSelector", field_selector))
    return query


def _object(answer: object) -> KubeObject:
    """An API answer that is a JSON object (the client types custom objects as ``object``)."""
    if not isinstance(answer, dict):
        raise StoreError(f"the API server answered {type(answer).__name__}, not an object")
    return cast(KubeObject, answer)
