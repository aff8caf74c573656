"""The topology store: Kubernetes-shaped objects (plain dicts), with an embedded SQLite backend.

Usage::

    from kubedtn.store import open_store, retry_on_conflict

    store = open_store()                        # $KUBEDTN_STORE or /var/lib/kubedtn/store.db
    store.create({"metadata": {"name": "r1"}, "spec": {"links": []}})
    items, rv = store.list()
    for event in store.watch(resource_version=rv, timeout=30):
        ...

The interface is :class:`ObjectStore` (``kubedtn.store.base``); see its docstrings for
the semantics, which follow the Kubernetes API server.

Modules:

* ``base``       — the ``ObjectStore`` interface, watch events and streams;
* ``objects``    — what create/update/update_status/delete do to an object (pure);
* ``resource``   — the kind a store holds (group, version, plural, kind), and the kinds kubedtn uses;
* ``selectors``  — label selectors: parse and match; field selectors as predicates;
* ``errors``     — errors shaped after the API server's statuses (404, 409, 410, ...);
* ``retry``      — retrying a read-modify-write that lost an optimistic-concurrency race;
* ``sqlite``     — the embedded backend: one SQLite file shared by processes;
* ``sqlitefile`` — that file's connections and write transactions;
* ``kube``       — the Kubernetes backend: any resource (custom, core, cluster-scoped)
  through the official client;
* ``kuberest``   — a resource's REST paths and one request to them;
* ``kubewatch``  — one API watch as the store's watch stream;
* ``kubecache``  — a watch-fed cache of a resource, and the store that reads from it;
* ``cachewatch`` — watches served from that cache's change log;
* ``watching``   — delivering a store's changes to watchers;
* ``checkpoint`` — WAL checkpoints off the writers' path (the daemon's store);
* ``factory``    — the store a command or process should open;
* ``testing``    — a throwaway store for tests.
"""

from __future__ import annotations

from kubedtn.store.base import (
    EventType,
    KnownVersion,
    ObjectList,
    ObjectStore,
    StatusWrite,
    WatchEvent,
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
)
from kubedtn.store.factory import open_store
from kubedtn.store.objects import KubeObject
from kubedtn.store.resource import TOPOLOGY, Resource
from kubedtn.store.retry import retry_on_conflict
from kubedtn.store.selectors import LabelSelector, parse_label_selector
from kubedtn.store.sqlite import DEFAULT_STORE_PATH, SqliteStore, default_store_path
from kubedtn.store.sqlitefile import STORE_ENV

__all__ = [
    "DEFAULT_STORE_PATH",
    "STORE_ENV",
    "TOPOLOGY",
    "AlreadyExistsError",
    "ConflictError",
    "EventType",
    "ExpiredError",
    "KnownVersion",
    "KubeObject",
    "LabelSelector",
    "NotFoundError",
    "ObjectList",
    "ObjectStore",
    "Resource",
    "SqliteStore",
    "StatusWrite",
    "StoreError",
    "StoreUnavailableError",
    "WatchEvent",
    "WatchStream",
    "WrittenVersions",
    "default_store_path",
    "open_store",
    "parse_label_selector",
    "retry_on_conflict",
]
