"""A watch-fed cache of one resource in the Kubernetes API (an informer, cut to what the
daemon needs), and the store that reads from it.

The cache lists the objects, then watches from the list's resourceVersion and applies each
event; on 410 Gone (``ExpiredError``) it lists again; when the API cannot be reached it
retries with backoff (1, 2, 4, ... 30 s) while reads keep answering from what it has, so a
daemon's links stay up through an API outage and every change made meanwhile arrives with
the next list or watch. ``CachedKubeStore`` reads from the cache and writes to the API;
each write's answer goes into the cache at once, so a daemon reads its own writes. Its
``watch`` is served from the cache's event log (``kubedtn.store.cachewatch``): the
daemon's readers share the one API watch.

Any resource works (Topologies, Pods, Nodes, ...; cluster-scoped ones are keyed with
namespace ""). A cache can hold a selection only (``field_selector="spec.nodeName=n1"``,
``label_selector``), as client-go's filtered informers do. Handlers
(``add_handler(fn)``, ``fn(EventType, object)``) hear of each change on the informer's
thread: each watch event, and after a list, the difference from what the cache held (so a
change missed while the watch was down still arrives, as ADDED, MODIFIED or DELETED). They
must be quick (a controller enqueues a key) and not raise; an exception is logged.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from kubedtn.errors import KubedtnError
from kubedtn.store.base import Changed, EventType, KnownVersion, ObjectList, WatchStream
from kubedtn.store.cachewatch import ChangeLog
from kubedtn.store.errors import ExpiredError, NotFoundError, StoreUnavailableError
from kubedtn.store.kube import KubeStore
from kubedtn.store.objects import KubeObject
from kubedtn.store.resource import Resource
from kubedtn.store.selectors import SelectorLike, field_matcher, to_selector

log = logging.getLogger(__name__)

BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
WATCH_TIMEOUT_S = 300.0  # each watch request ends after this; the next starts where it ended

Key = tuple[str, str]
Handler = Callable[[EventType, KubeObject], None]


def _version(obj: Mapping[str, Any]) -> int:
    text = str(obj.get("metadata", {}).get("resourceVersion", ""))
    return int(text) if text.isdigit() else 0


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return str(meta.get("namespace", "")), str(meta["name"])


class ObjectCache:
    """The objects of one resource as the last list and the watch since say (module docstring)."""

    def __init__(
        self,
        store: KubeStore,
        *,
        backoff: Sequence[float] = BACKOFF_S,
        field_selector: str | None = None,
        label_selector: SelectorLike = None,
    ) -> None:
        self._store = store
        self._backoff = tuple(backoff)
        self._field_selector = field_selector
        self._label_selector = label_selector
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()
        self._objects: dict[Key, KubeObject] = {}
        self._position = 0
        self._synced = threading.Event()
        self.events = ChangeLog()
        self._stopping = threading.Event()
        self._watch: WatchStream | None = None
        self._thread = threading.Thread(target=self._run, name="kubedtn-informer", daemon=True)
        self.relists = 0  # lists after the first (410 Gone, or the API back after an outage)

    def add_handler(self, handler: Handler) -> None:
        """Call ``handler(type, object)`` for each change from now on (module docstring);
        add handlers before start() to hear of the first list's objects too."""
        self._handlers.append(handler)

    def start(self) -> None:
        self._thread.start()

    def wait_synced(self, timeout: float | None = None) -> bool:
        """Whether the first list has arrived (within ``timeout`` seconds)."""
        return self._synced.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        watch = self._watch
        if watch is not None:
            watch.stop()
        self._thread.join(timeout=10)

    # ---- reads -----------------------------------------------------------------------------

    def get(self, key: Key) -> KubeObject | None:
        with self._lock:
            obj = self._objects.get(key)
            return None if obj is None else copy.deepcopy(obj)

    def snapshot(self, keys: Collection[Key]) -> dict[Key, KubeObject]:
        """The cached objects of ``keys`` that exist, read under one lock (one moment)."""
        with self._lock:
            return {k: copy.deepcopy(self._objects[k]) for k in keys if k in self._objects}

    def items(self) -> tuple[list[KubeObject], int]:
        with self._lock:
            return [copy.deepcopy(o) for _, o in sorted(self._objects.items())], self._position

    # ---- updates ---------------------------------------------------------------------------

    def remember(self, obj: Mapping[str, Any]) -> None:
        """An object as a write of ours answered: kept unless the cache has a newer one."""
        key = _key(obj)
        with self._lock:
            held = self._objects.get(key)
            if held is None or _version(held) <= _version(obj):
                self._objects[key] = copy.deepcopy(dict(obj))

    def forget(self, key: Key) -> None:
        with self._lock:
            self._objects.pop(key, None)

    def _apply(self, kind: EventType, obj: KubeObject) -> None:
        key = _key(obj)
        with self._lock:
            if kind is EventType.DELETED:
                self._objects.pop(key, None)
            else:
                held = self._objects.get(key)
                if held is None or _version(held) <= _version(obj):
                    self._objects[key] = obj
            self._position = max(self._position, _version(obj))
            self.events.append(kind, copy.deepcopy(obj), _version(obj))
        self._notify([(kind, obj)])

    def _relist(self) -> None:
        items, version = self._store.list(
            label_selector=self._label_selector, field_selector=self._field_selector
        )
        fresh = {_key(o): o for o in items}
        with self._lock:
            old, self._objects = self._objects, fresh
            self._position = int(version) if version.isdigit() else 0
            self.events.restart(self._position)
        changes = [(EventType.DELETED, o) for k, o in old.items() if k not in fresh]
        for key, obj in fresh.items():
            held = old.get(key)
            if held is None:
                changes.append((EventType.ADDED, obj))
            elif _version(held) != _version(obj):
                changes.append((EventType.MODIFIED, obj))
        self._notify(changes)
        self._synced.set()

    def _notify(self, changes: Sequence[tuple[EventType, KubeObject]]) -> None:
        for handler in self._handlers:
            for kind, obj in changes:
                try:
                    handler(kind, copy.deepcopy(obj))
                except Exception:
                    log.exception("a handler of %s failed on %s", self._store.resource.plural, _key(obj))

    def _run(self) -> None:
        failures = 0
        listed = False
        while not self._stopping.is_set():
            try:
                if not listed:
                    self._relist()
                    listed = True
                self._watch_once()
                failures = 0
            except ExpiredError:
                log.info("watch of %s expired; listing again", self._store.resource.plural)
                listed = False
                self.relists += 1
            except KubedtnError as e:
                # Unavailable, or an answer that may change (a 404 until the CRD is installed,
                # a 403 until the RBAC is): an informer that gave up would serve stale objects
                # for ever.
                if self._stopping.is_set():
                    return
                pause = self._backoff[min(failures, len(self._backoff) - 1)]
                failures += 1
                what = "unavailable" if isinstance(e, StoreUnavailableError) else "refusing"
                log.warning("the API is %s (%s); trying again in %.0fs", what, e, pause)
                if listed and failures > 1:
                    listed = False  # changes may have been compacted away meanwhile: list again
                    self.relists += 1
                self._stopping.wait(pause)

    def _watch_once(self) -> None:
        watch = self._store.watch(
            resource_version=str(self._position),
            timeout=WATCH_TIMEOUT_S,
            field_selector=self._field_selector,
            label_selector=self._label_selector,
        )
        self._watch = watch
        if self._stopping.is_set():  # stop() came before the watch was there to be stopped
            watch.stop()
            return
        try:
            for event in watch:
                self._apply(event.type, event.object)
            with self._lock:
                self._position = max(self._position, watch.position)
                self.events.advance(self._position)
        finally:
            self._watch = None
            watch.stop()


class CachedKubeStore(KubeStore):
    """A KubeStore whose reads are answered by an ObjectCache (module docstring)."""

    cached = True  # the reads come from the watch-fed cache (ObjectStore.cached)

    def __init__(
        self,
        client: Any,
        *,
        resource: Resource,
        backoff: Sequence[float] = BACKOFF_S,
        field_selector: str | None = None,
        label_selector: SelectorLike = None,
        handlers: Sequence[Handler] = (),
    ) -> None:
        """The cache starts at once; ``handlers`` are added before it does (module docstring)."""
        super().__init__(client, resource=resource)
        self.cache = ObjectCache(
            KubeStore(client, resource=resource),
            backoff=backoff,
            field_selector=field_selector,
            label_selector=label_selector,
        )
        for handler in handlers:
            self.cache.add_handler(handler)
        self.cache.start()

    def close(self) -> None:
        self.cache.stop()
        super().close()

    def get(self, namespace: str | None, name: str) -> KubeObject:
        obj = self.cache.get((self._ns(namespace), name))
        if obj is None:
            raise NotFoundError(f"{self._what(namespace, name)} not found")
        return obj

    def get_changed(self, known: Sequence[KnownVersion], *, latest: bool = False) -> Changed:
        if latest:
            return super().get_changed(known)
        keys = {(self._ns(ns), name): version for ns, name, version in known}
        held = self.cache.snapshot(keys)
        return {
            key: (None if keys[key] and obj["metadata"].get("resourceVersion") == keys[key] else obj)
            for key, obj in held.items()
        }

    def list(
        self,
        namespace: str | None = None,
        label_selector: SelectorLike = None,
        *,
        field_selector: str | None = None,
    ) -> tuple[ObjectList, str]:
        """The cached objects (of the cache's selection) that match, as the API would list them."""
        selector = to_selector(label_selector)
        fields = field_matcher(field_selector)
        items, position = self.cache.items()
        chosen = [
            o
            for o in items
            if (not namespace or not self._resource.namespaced or o["metadata"].get("namespace") == namespace)
            and selector.matches(o["metadata"].get("labels") or {})
            and fields(o)
        ]
        return chosen, str(position)

    # Writes go to the API; their answers go into the cache.

    def create(self, obj: Mapping[str, Any]) -> KubeObject:
        created = super().create(obj)
        self.cache.remember(created)
        return created

    def update(self, obj: Mapping[str, Any]) -> KubeObject:
        done = super().update(obj)
        self.cache.remember(done)
        return done

    def update_status(self, obj: Mapping[str, Any]) -> KubeObject:
        done = super().update_status(obj)
        self.cache.remember(done)
        return done

    def delete(
        self, namespace: str | None, name: str, *, resource_version: str | None = None
    ) -> KubeObject | None:
        held = super().delete(namespace, name, resource_version=resource_version)
        if held is None:
            self.cache.forget((self._ns(namespace), name))
        else:
            self.cache.remember(held)
        return held

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
        """A watch of the cache's events (``kubedtn.store.cachewatch``): of everything the
        cache holds (its own selection), so narrowing it further is refused."""
        if namespace or field_selector or label_selector:
            raise ValueError("a watch of the cache covers all it holds: no namespace or selector")
        return self.cache.events.watch(resource_version=resource_version, timeout=timeout, types=types)
