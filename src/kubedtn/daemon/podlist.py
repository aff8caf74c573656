"""The node-local list of topology pods, ``<state dir>/topology-pods.json``.

``{"pods": ["<namespace>/<name>", ...]}``: every Topology in the store (a node cannot
know where pods will be scheduled). The CNI plugin reads only this file to let every
other pod pass through at once, even while the daemon is down. It is rewritten
atomically (temp file + rename) at start and whenever the set of Topologies changes; a
store watch of ADDED and DELETED events drives it (status writes change nothing here).
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

from kubedtn.daemon.logs import EventLog
from kubedtn.errors import KubedtnError
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


def _key(obj: dict[str, object]) -> str:
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    return f"{meta.get('namespace', 'default')}/{meta['name']}"


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
        self.writes = 0

    def sync(self) -> str:
        """List the store and write the file; returns the list's resourceVersion."""
        items, rv = self.store.list()
        self._keys = {_key(o) for o in items}
        self._write()
        return rv

    def _write(self) -> None:
        write_pod_list(self.path, self._keys)
        self.writes += 1
        log.info("topology pod list written", action="pod-list", pods=len(self._keys), path=str(self.path))

    def start(self) -> None:
        rv = self.sync()
        self._thread = threading.Thread(target=self._run, args=(rv,), name="kubedtn-podlist", daemon=True)
        self._thread.start()

    def _run(self, rv: str) -> None:
        while not self._stopped.is_set():
            try:
                rv = self._follow(rv)
            except ExpiredError:
                log.info("pod list watch expired; listing again", action="pod-list")
                rv = self.sync()
            except KubedtnError as e:
                log.error("pod list watch failed; retrying", action="pod-list", error=e)
                if self._stopped.wait(1.0):
                    return
                try:
                    rv = self.sync()
                except KubedtnError:
                    continue

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
                rv = str(event.object["metadata"]["resourceVersion"])
                key = _key(event.object)
                if self._on_object is not None and event.type is EventType.ADDED:
                    self._on_object(event.object)
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
