"""A watch of a resource in the Kubernetes API, as the store's ``WatchStream``.

One HTTP watch request, read line by line (each line one ``{"type", "object"}`` event).
``BOOKMARK`` events only move ``position`` (the resourceVersion everything up to which was
seen); an ``ERROR`` event with code 410 (the server compacted the events after the start)
is ``ExpiredError``, the cue to list again. ``stop()`` from another thread shuts the
connection down, so a reader blocked on it returns at once.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Collection, Iterator
from typing import Any

from kubedtn.store.base import EventType, WatchEvent
from kubedtn.store.errors import ExpiredError, StoreUnavailableError
from kubedtn.store.resource import Resource


class KubeWatch:
    """The store's WatchStream over one API watch (see the module docstring)."""

    def __init__(
        self,
        response: Any,
        resource: Resource,
        *,
        resource_version: str | None,
        types: Collection[EventType] | None,
    ) -> None:
        """``response``: the open answer of a watch request (``KubeStore.watch`` makes it)."""
        self._resource = resource
        self._types = None if types is None else frozenset(types)
        self._position = int(resource_version) if resource_version and resource_version.isdigit() else 0
        self._stopped = threading.Event()
        self._response = response  # urllib3's HTTPResponse, read as it streams
        self._lines = self._read_lines()

    @property
    def pending(self) -> int:
        return 0  # events are read from the connection one at a time, none held back

    @property
    def position(self) -> int:
        return self._position

    def stop(self) -> None:
        """End the stream (from any thread); a reader blocked on it returns at once."""
        self._stopped.set()
        # (shutdown refuses a response whose connection went back to the pool already)
        with contextlib.suppress(ValueError, RuntimeError, OSError):
            self._response.shutdown()
        self._response.release_conn()

    def __iter__(self) -> Iterator[WatchEvent]:
        return self

    def __next__(self) -> WatchEvent:
        for line in self._lines:
            event = self._event(line)
            if event is not None:
                return event
        raise StopIteration

    def _read_lines(self) -> Iterator[bytes]:
        buffer = b""
        try:
            for chunk in self._response.stream(64 * 1024, decode_content=False):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                yield from (line for line in lines if line.strip())
        except Exception as e:
            if self._stopped.is_set():
                return
            raise StoreUnavailableError(
                f"watch {self._resource.plural}: the connection broke: {e}", delay=1.0
            ) from e
        finally:
            self._response.release_conn()

    def _event(self, line: bytes) -> WatchEvent | None:
        """The event of one line; None for what only moves ``position`` or is filtered out."""
        raw = json.loads(line)
        kind, obj = raw.get("type"), raw.get("object") or {}
        if kind == "ERROR":
            code, message = obj.get("code"), obj.get("message", "")
            if code == 410:
                raise ExpiredError(
                    f"watch of {self._resource.plural} from resourceVersion {self._position}: {message}; "
                    "list again and watch from the list's resourceVersion",
                    resource_version=self._position,
                    oldest=0,
                )
            raise StoreUnavailableError(f"watch {self._resource.plural}: {code}: {message}", delay=1.0)
        version = obj.get("metadata", {}).get("resourceVersion", "")
        if version.isdigit():
            self._position = max(self._position, int(version))
        if kind == "BOOKMARK":
            return None
        event_type = EventType(kind)
        if self._types is not None and event_type not in self._types:
            return None
        obj.setdefault("apiVersion", self._resource.api_version)
        obj.setdefault("kind", self._resource.kind)
        return WatchEvent(event_type, obj)
