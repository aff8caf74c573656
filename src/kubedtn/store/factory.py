"""Open the store a command or process should use, as the ObjectStore interface: the
embedded SQLite file, or the Kubernetes API through a watch-fed cache (``kubernetes`` is
imported only then)."""

from __future__ import annotations

import os

from kubedtn.store.base import ObjectStore
from kubedtn.store.errors import StoreUnavailableError
from kubedtn.store.resource import TOPOLOGY, Resource
from kubedtn.store.sqlite import SqliteStore


def open_store(
    path: str | os.PathLike[str] | None = None,
    *,
    resource: Resource = TOPOLOGY,
    background_checkpoints: bool = False,
) -> ObjectStore:
    """The embedded SQLite store at ``path`` (default ``$KUBEDTN_STORE`` or /var/lib/kubedtn/store.db).

    Returned as the interface, so callers stay backend-agnostic (the Kubernetes backend
    will be chosen here too); close it with ``close()``. ``background_checkpoints``: for
    a long-lived process that answers requests (see ``kubedtn.store.checkpoint``).
    """
    return SqliteStore(path, resource=resource, background_checkpoints=background_checkpoints)


def open_kube_store(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    resource: Resource = TOPOLOGY,
    sync_timeout: float = 60.0,
) -> ObjectStore:
    """The resource in the Kubernetes API (in a pod: its service account; else the kubeconfig),
    reads answered from a watch-fed cache once its first list is in.

    Raises StoreUnavailableError when the first list does not arrive within ``sync_timeout``
    seconds (the API server unreachable, or the resource not installed)."""
    from kubedtn.store.kube import api_client
    from kubedtn.store.kubecache import CachedKubeStore

    client = api_client(kubeconfig=kubeconfig, context=context)
    store = CachedKubeStore(client, resource=resource)
    if not store.cache.wait_synced(sync_timeout):
        store.close()
        raise StoreUnavailableError(
            f"{resource.key} at {client.configuration.host}: no list within {sync_timeout:.0f}s "
            "(is the API server reachable, and is the CRD installed?)",
            delay=1.0,
        )
    return store
