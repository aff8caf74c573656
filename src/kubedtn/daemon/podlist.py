"""The node-local list of topology pods, ``<state dir>/topology-pods.json``.

``{"pods": ["<namespace>/<name>", ...]}``: every Topology in the store (a node cannot
know where pods will be scheduled). The CNI plugin reads only this file to let every
other pod pass through at once, even while the daemon is down. It is rewritten
atomically (temp file + rename) at start and whenever the set of Topologies changes; a
store watch of ADDED and DELETED events drives it (status writes change nothing here).

Faults are the thread's own, never its death: an object it cannot read (no name, a
metadata that is not a mapping) is logged and left out, the others listed; a write that
fails (a full disk, a read-only directory) is logged and tried again with backoff, as is
a watch or a list that fails. ``health`` says which (the daemon's Status reports it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kubedtn.daemon.health import Backoff, JobHealth
from kubedtn.daemon.logs import EventLog
from kubedtn.errors import KubedtnError, ValidationError
from kubedtn.store import EventType, ExpiredError, ObjectStore, WatchStream

log = EventLog(logging.getLogger(__name__))

# A watch wakes at least this often to notice a stop request from a signal handler.
_WATCH_TIMEOUT = 30.0


def write_pod_list(path: Path, keys: Iterable[str]) -> None:
    """Write the list atomically: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"pods": sorted(set(keys))}, indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def read_pod_list(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        pods: list[str] = json.load(f)["pods"]
    return pods


def _key(obj: object) -> str:
    """``namespace/name`` of a stored object; ValidationError naming what is wrong."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        raise ValidationError(f"an object whose metadata is {type(meta).__name__}, not a mapping")
    namespace, name = meta.get("namespace", "default"), meta.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str) or not name:
        raise ValidationError(f"an object named {namespace!r}/{name!r}: its name is not a string")
    return f"{namespace}/{name}"


def _version(obj: object, default: str) -> str:
    """An event's resourceVersion (``default`` when its object has none)."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return str(meta["resourceVersion"]) if isinstance(meta, dict) and "resourceVersion" in meta else default


def _named(obj: object) -> str:
    """What a log line can say of an object it cannot key."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if isinstance(meta, dict):
        return f"{meta.get('namespace', 'default')!s}/{meta.get('name')!s}"
    return repr(obj)[:80]


class PodListWriter:
    """Keeps the pod list file equal to the store's Topologies (a thread; ``stop()`` ends it).

    ``on_object`` is also given every object the watch brings in new (the daemon checks new
    Topologies there, while whoever writes them is still writing, so that SetupPod finds
    them checked). Changes are not handed on: most are status writes, which a daemon reads
    cheaply when it needs them, and parsing each as it comes cost the daemon's other threads
    their turn (a node's status writes reach every daemon)."""

    def __init__(
        self, *, store: ObjectStore, path: Path, on_object: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.store = store
        self.path = path
        self._on_object = on_object
        self._keys: set[str] = set()
        self._stopped = threading.Event()
        self._stream_lock = threading.Lock()
        self._stream: WatchStream | None = None
        self._thread: threading.Thread | None = None
        self._unwritten = False  # the file lags the keys (its last write failed)
        self.health = JobHealth("pod-list")
        self.writes = 0

    def sync(self) -> str:
        """List the store and write the file; returns the list's resourceVersion."""
        items, rv = self.store.list()
        keys = set()
        for obj in items:
            key = self._read(obj, new=False)
            if key is not None:
                keys.add(key)
        self._keys = keys
        self._write()
        return rv

    def _read(self, obj: dict[str, Any], *, new: bool) -> str | None:
        """The object's key (None, logged and reported, when it has none); ``new`` ones are
        handed to ``on_object``, whose failure is the object's alone."""
        try:
            key = _key(obj)
        except ValidationError as e:
            log.error("pod list: a stored object left out", action="pod-list", object=_named(obj), error=e)
            self.health.failed(f"{_named(obj)}: left out of the pod list: {e}")
            return None
        if new and self._on_object is not None:
            try:
                self._on_object(obj)
            except Exception as e:  # (a check of one object; the list goes on)
                log.error("pod list: a new Topology could not be checked", pod=key, error=repr(e))
                self.health.failed(f"{key}: cannot be checked: {e!r}")
        return key

    def _write(self) -> None:
        try:
            write_pod_list(self.path, self._keys)
        except OSError as e:
            self._unwritten = True
            raise OSError(e.errno, f"cannot write the topology pod list {self.path}: {e.strerror}") from e
        self._unwritten = False
        self.writes += 1
        self.health.ok()
        log.info("topology pod list written", action="pod-list", pods=len(self._keys), path=str(self.path))

    def start(self) -> None:
        """List, write and follow; a first list or write that fails is logged and tried again
        by the thread (the daemon serves meanwhile: the plugin falls back to asking it)."""
        rv: str | None
        try:
            rv = self.sync()
        except Exception as e:  # (KubedtnError, OSError, or a bug: the thread tries again)
            log.error("pod list not written; trying again", action="pod-list", error=repr(e))
            self.health.failed(e)
            rv = None
        self._thread = threading.Thread(target=self._run, args=(rv,), name="kubedtn-podlist", daemon=True)
        self._thread.start()

    def _run(self, rv: str | None) -> None:
        backoff = Backoff()
        failed = rv is None
        while not self._stopped.is_set():
            try:
                if failed and self._stopped.wait(backoff.next()):
                    break
                failed = False
                if rv is None:
                    rv = self.sync()
                elif self._unwritten:
                    self._write()
                backoff.reset()
                rv = self._follow(rv)
            except ExpiredError:
                log.info("pod list watch expired; listing again", action="pod-list")
                rv = None
            except (KubedtnError, OSError) as e:
                log.error("pod list: failed; trying again", action="pod-list", error=e)
                self.health.failed(e)
                failed = True
                if not isinstance(e, OSError):
                    rv = None  # the watch or list: list again
            except Exception as e:  # a bug: the thread must not die of it
                log.error("pod list: crashed; listing again", action="pod-list", exc_info=True)
                self.health.failed(f"internal error: {e!r}")
                failed, rv = True, None
        self.health.stopped()

    def _follow(self, rv: str) -> str:
        # Status writes (MODIFIED) change nothing here, and they are most of the events: a
        # node daemon recording 1000 links wrote 200 of them, 3 KB each, which every
        # daemon's watch then loaded in the middle of its own work.
        stream = self.store.watch(
            resource_version=rv, timeout=_WATCH_TIMEOUT, types=(EventType.ADDED, EventType.DELETED)
        )
        with self._stream_lock:
            if self._stopped.is_set():
                return rv
            self._stream = stream
        changed = False
        try:
            for event in stream:
                rv = _version(event.object, rv)
                key = self._read(event.object, new=event.type is EventType.ADDED)
                if key is None:
                    continue
                if event.type is EventType.ADDED and key not in self._keys:
                    self._keys.add(key)
                    changed = True
                elif event.type is EventType.DELETED and key in self._keys:
                    self._keys.discard(key)
                    changed = True
                # One write per burst, not per event: a lab of 200 pods arrives as 200
                # events in one fetch. A pod is listed once the events that brought it in
                # have all been read, which is before the watch sleeps again.
                if changed and not stream.pending:
                    self._write()
                    changed = False
            if not stream.pending:  # (past the status writes skipped since the last event)
                rv = str(stream.position)
        finally:
            if changed:  # stopped mid-burst: what was read is still written
                self._write()
            with self._stream_lock:
                self._stream = None
        return rv

    def stop(self) -> None:
        self._stopped.set()
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
