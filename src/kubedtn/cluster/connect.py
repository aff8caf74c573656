"""The cluster a ``kubedtn topo`` command talks to: kubeconfig, context, namespace, API group."""

from __future__ import annotations

from dataclasses import dataclass

from kubedtn.errors import KubedtnError
from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.store.base import ObjectStore
from kubedtn.store.resource import Resource, topology_resource


@dataclass(frozen=True)
class Cluster:
    """A store of Topologies in one cluster, and what to say about where it is."""

    store: ObjectStore
    server: str  # the API server's URL, for messages
    context: str  # the kubeconfig context used ("" when none is named)
    namespace: str  # objects that name no namespace go here

    @property
    def resource(self) -> Resource:
        return self.store.resource

    def unreachable(self, error: Exception) -> str:
        """One line for an API server that does not answer: which server, which context, why."""
        cause: BaseException = error
        while cause.__cause__ is not None:
            cause = cause.__cause__
        why = str(getattr(cause, "reason", None) or cause)
        if "Connection refused" in why:
            why = "connection refused"
        elif "timed out" in why.lower():
            why = "timed out"
        context = f" (kubeconfig context {self.context})" if self.context else ""
        return f"the Kubernetes API server {self.server}{context} cannot be reached: {why}"


def connect(*, kubeconfig: str | None, context: str | None, namespace: str | None, group: str) -> Cluster:
    """The Topologies of the cluster the kubeconfig (``$KUBECONFIG``, ``~/.kube/config``) names."""
    try:
        # The kubernetes client is imported only by the commands that talk to a cluster.
        from kubernetes import config as k8s_config

        from kubedtn.store.kube import KubeStore, api_client, context_namespace
    except ImportError as e:
        raise KubedtnError(
            f"kubedtn topo needs the Python package {e.name or 'kubernetes'} to talk to a cluster; "
            "install it (pip install kubernetes) or use a kubedtn built with it"
        ) from e
    client = api_client(kubeconfig=kubeconfig, context=context)
    # Not the client's own retries: an unreachable server is reported at once, not after three.
    client.configuration.retries = False
    chosen = context or ""
    if not chosen:
        try:
            chosen = str(k8s_config.list_kube_config_contexts(config_file=kubeconfig)[1].get("name", ""))  # type: ignore[no-untyped-call]
        except (k8s_config.ConfigException, OSError):
            chosen = ""
    ns = namespace or context_namespace(kubeconfig=kubeconfig, context=context) or DEFAULT_NAMESPACE
    store = KubeStore(client, resource=topology_resource(group))
    return Cluster(store=store, server=str(client.configuration.host), context=chosen, namespace=ns)
