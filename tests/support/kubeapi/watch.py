"""A watch stream: JSON lines of {type, object} from a resourceVersion on.

API Conventions, "Concurrency Control and Consistency": a watch starts at the resourceVersion it
is given, so that nothing between a list and the watch is missed; without one (or with "0") it
first sends the current objects as ADDED. Too old a version gives an ERROR event carrying a 410
Expired Status; bookmarks carry only a resourceVersion; `timeoutSeconds` ends the stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.support.kubeapi.errors import ApiError
from tests.support.kubeapi.faults import OpenWatch
from tests.support.kubeapi.resources import ResourceType
from tests.support.kubeapi.selectors import Predicate
from tests.support.kubeapi.storage import Event, Store

WriteLine = Callable[[dict[str, Any]], None]


@dataclass
class WatchRequest:
    rt: ResourceType
    namespace: str | None
    since: int | None  # None: send the current state first
    matches: Predicate
    bookmarks: bool
    timeout: float | None
    # sendInitialEvents=true (the "watch list" client-go uses): the state as ADDED events, then a
    # BOOKMARK annotated k8s.io/initial-events-end, whatever resourceVersion was asked for.
    initial_events: bool = False


def _in_view(req: WatchRequest, obj: dict[str, Any] | None) -> bool:
    if obj is None:
        return False
    if req.namespace is not None and obj["metadata"].get("namespace") != req.namespace:
        return False
    return req.matches(obj)


def _translate(req: WatchRequest, event: Event) -> dict[str, Any] | None:
    """The event as this watch sees it: selections turn edits into arrivals and departures."""
    now, before = _in_view(req, event.obj), _in_view(req, event.prev)
    if event.type == "DELETED":
        return {"type": "DELETED", "object": event.obj} if now or before else None
    if now and not before:
        return {"type": "ADDED", "object": event.obj}
    if before and not now:
        return {"type": "DELETED", "object": event.obj}
    return {"type": event.type, "object": event.obj} if now else None


def _bookmark(rt: ResourceType, rv: int, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if annotations:
        meta["annotations"] = annotations
    return {"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}}


def stream(
    store: Store, req: WatchRequest, handle: OpenWatch, write: WriteLine, bookmark_every: float
) -> None:
    """Write events until the timeout, a stop (drop, server stop) or a write failure."""
    rt = req.rt
    clock = time.monotonic
    deadline = clock() + req.timeout if req.timeout else None
    if req.since is None or req.initial_events:
        items, cursor = store.objects(rt, req.namespace)
        for obj in items:
            if req.matches(obj):
                write({"type": "ADDED", "object": obj})
        if req.initial_events:
            write(_bookmark(rt, cursor, {"k8s.io/initial-events-end": "true"}))
    else:
        cursor = req.since
    next_bookmark = clock() + bookmark_every
    while not handle.stop.is_set():
        try:
            events, reached = store.events_after((rt.group, rt.plural), cursor)
        except ApiError as e:
            write({"type": "ERROR", "object": e.status()})
            return
        for event in events:
            line = _translate(req, event)
            if line is not None:
                write(line)
        cursor = reached
        now = clock()
        if req.bookmarks and now >= next_bookmark:
            write(_bookmark(rt, cursor))
            next_bookmark = now + bookmark_every
        if deadline is not None and now >= deadline:
            return
        wait_until = min(t for t in (deadline, next_bookmark if req.bookmarks else None, now + 1.0) if t)
        _wait(store, handle, cursor, max(0.0, wait_until - now))


def _wait(store: Store, handle: OpenWatch, seen: int, timeout: float) -> None:
    """Until something newer than `seen` is written, the watch is stopped, or `timeout`."""
    with store.cond:
        store.cond.wait_for(lambda: store.resource_version > seen or handle.stop.is_set(), timeout)
