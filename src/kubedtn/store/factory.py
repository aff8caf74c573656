"""Open the store a command or process should use, as the ObjectStore interface."""

from __future__ import annotations

import os

from kubedtn.store.base import ObjectStore
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
