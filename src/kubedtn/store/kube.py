"""The Kubernetes backend of the store: a resource's objects in the Kubernetes API, through
the official client.

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
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, cast

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.store.base import (
    EventType,
    KnownVersion,
    ObjectList,
    StatusWrite,
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
from kubedtn.store.objects import KubeObject
from kubedtn.store.resource import TOPOLOGY, Resource
from kubedtn.store.selectors import SelectorLike, to_selector

if TYPE_CHECKING:
    from kubedtn.store.kubewatch import KubeWatch


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
    """An :class:`~kubedtn.store.base.ObjectStore` of one custom resource in the Kubernetes API."""

    def __init__(self, client: k8s.ApiClient, *, resource: Resource = TOPOLOGY) -> None:
        self._client = client
        self._api = k8s.CustomObjectsApi(client)
        self._resource = resource

    @property
    def resource(self) -> Resource:
        return self._resource

    def __repr__(self) -> str:
        return f"KubeStore({self._client.configuration.host!r}, resource={self._resource.key})"

    def close(self) -> None:
        self._client.close()  # type: ignore[no-untyped-call]

    # ---- helpers ---------------------------------------------------------------------------

    def _what(self, namespace: str | None, name: str) -> str:
        return f"{self._resource.singular} {namespace or DEFAULT_NAMESPACE}/{name}"

    def _gvp(self) -> tuple[str, str, str]:
        return self._resource.group, self._resource.version, self._resource.plural

    def _body(self, obj: Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
        body = json.loads(json.dumps(obj))  # the caller keeps its own
        meta = body.setdefault("metadata", {})
        if not isinstance(meta.get("name"), str) or not meta["name"]:
            raise ValidationError(f"{self._resource.singular}: metadata.name is missing")
        namespace = meta.get("namespace") or DEFAULT_NAMESPACE
        meta["namespace"] = namespace
        body["apiVersion"] = self._resource.api_version
        body["kind"] = self._resource.kind
        return namespace, meta["name"], body

    # ---- reads -----------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> KubeObject:
        ns = namespace or DEFAULT_NAMESPACE
        with api_errors(f"get {self._what(ns, name)}"):
            group, version, plural = self._gvp()
            return _object(self._api.get_namespaced_custom_object(group, version, ns, plural, name))

    def get_if_changed(self, namespace: str | None, name: str, resource_version: str) -> KubeObject | None:
        obj = self.get(namespace, name)
        return None if obj["metadata"].get("resourceVersion") == resource_version else obj

    def get_changed(self, known: Sequence[KnownVersion]) -> dict[tuple[str, str], KubeObject | None]:
        out: dict[tuple[str, str], KubeObject | None] = {}
        for namespace, name, version in known:
            ns = namespace or DEFAULT_NAMESPACE
            with contextlib.suppress(NotFoundError):
                obj = self.get(ns, name)
                same = bool(version) and obj["metadata"].get("resourceVersion") == version
                out[(ns, name)] = None if same else obj
        return out

    def list(
        self, namespace: str | None = None, label_selector: SelectorLike = None
    ) -> tuple[ObjectList, str]:
        selector = to_selector(label_selector)
        kwargs: dict[str, Any] = {}
        if selector.requirements:
            kwargs["label_selector"] = selector.to_text()
        group, version, plural = self._gvp()
        with api_errors(f"list {plural}"):
            if namespace:
                answer = _object(
                    self._api.list_namespaced_custom_object(group, version, namespace, plural, **kwargs)
                )
            else:
                answer = _object(self._api.list_cluster_custom_object(group, version, plural, **kwargs))
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
        group, version, plural = self._gvp()
        with api_errors(f"create {self._what(namespace, name)}"):
            return _object(self._api.create_namespaced_custom_object(group, version, namespace, plural, body))

    def update(self, obj: Mapping[str, Any]) -> KubeObject:
        namespace, name, body = self._body(obj)
        if not body["metadata"].get("resourceVersion"):
            raise ValidationError(
                f"update {self._what(namespace, name)}: metadata.resourceVersion is required"
            )
        group, version, plural = self._gvp()
        with api_errors(f"update {self._what(namespace, name)}"):
            return _object(
                self._api.replace_namespaced_custom_object(group, version, namespace, plural, name, body)
            )

    def update_status(self, obj: Mapping[str, Any]) -> KubeObject:
        namespace, name, body = self._body(obj)
        if not body["metadata"].get("resourceVersion"):
            raise ValidationError(
                f"update status of {self._what(namespace, name)}: metadata.resourceVersion is required"
            )
        body.setdefault("status", {})
        group, version, plural = self._gvp()
        with api_errors(f"update status of {self._what(namespace, name)}"):
            return _object(
                self._api.replace_namespaced_custom_object_status(
                    group, version, namespace, plural, name, body
                )
            )

    def write_status(
        self, namespace: str | None, name: str, *, resource_version: str, status: Mapping[str, Any]
    ) -> str:
        ns = namespace or DEFAULT_NAMESPACE
        body = {
            "metadata": {"name": name, "namespace": ns, "resourceVersion": resource_version},
            "status": status,
        }
        done = self.update_status(body)
        return str(done["metadata"]["resourceVersion"])

    def write_statuses(self, writes: Sequence[StatusWrite]) -> WrittenVersions:
        out: WrittenVersions = []
        for namespace, name, resource_version, status in writes:
            try:
                out.append(
                    self.write_status(namespace, name, resource_version=resource_version, status=status)
                )
            except (NotFoundError, ConflictError, ValidationError):
                out.append(None)
        return out

    def batch(self) -> AbstractContextManager[None]:
        """The API has no transactions: each write of the block is made at once."""
        return contextlib.nullcontext()

    def delete(
        self, namespace: str | None, name: str, *, resource_version: str | None = None
    ) -> KubeObject | None:
        ns = namespace or DEFAULT_NAMESPACE
        group, version, plural = self._gvp()
        options = k8s.V1DeleteOptions(
            preconditions=k8s.V1Preconditions(resource_version=resource_version) if resource_version else None
        )
        with api_errors(f"delete {self._what(ns, name)}"):
            answer = _object(
                self._api.delete_namespaced_custom_object(group, version, ns, plural, name, body=options)
            )
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
    ) -> KubeWatch:
        from kubedtn.store.kubewatch import KubeWatch

        return KubeWatch(
            self._api,
            self._resource,
            resource_version=resource_version,
            namespace=namespace,
            timeout=timeout,
            types=types,
        )


def _object(answer: object) -> KubeObject:
    """An API answer that is a JSON object (the client types custom objects as ``object``)."""
    if not isinstance(answer, dict):
        raise StoreError(f"the API server answered {type(answer).__name__}, not an object")
    return cast(KubeObject, answer)
