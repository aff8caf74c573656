"""The embedded store: one SQLite file shared by the CLI, the daemon and the controller.

Concurrency: every read-modify-write runs in one ``BEGIN IMMEDIATE`` transaction
(writers queue on SQLite's lock, up to ``busy_timeout``), reads see a snapshot (WAL),
so several processes and threads can use one file at once. Each thread gets its own
connection. A single counter in the ``meta`` table is the resourceVersion of every
resource kept in the file, and every write appends one row to ``events``, which is
what watches read; compaction drops old events, and a watch from before the
compaction horizon gets ExpiredError (Kubernetes' 410 Gone).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kubedtn.errors import KubedtnError
from kubedtn.store import objects
from kubedtn.store.base import EventType, KnownVersion, ObjectList, StatusWrite, WatchEvent, WrittenVersions
from kubedtn.store.checkpoint import WAL_KEEP_BYTES, Checkpointer, checkpointer_for
from kubedtn.store.errors import (
    AlreadyExistsError,
    ConflictError,
    ExpiredError,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
)
from kubedtn.store.objects import KubeObject
from kubedtn.store.resource import TOPOLOGY, Resource
from kubedtn.store.selectors import SelectorLike, to_selector
from kubedtn.store.watching import EventBatch, Notifier, PollingWatch, notifier_for

DEFAULT_STORE_PATH = "/var/lib/kubedtn/store.db"
STORE_ENV = "KUBEDTN_STORE"
SCHEMA_VERSION = 1
# Events read per fetch: bounds memory when a watcher is far behind.
_FETCH_LIMIT = 500
# Seconds between tries to begin a write transaction while another writer has the lock.
_LOCK_POLL = 0.0005
# Objects looked up per statement (up to three parameters each; old SQLite allows 999 in all).
_KEYS_PER_QUERY = 300


def _is_busy(e: sqlite3.Error) -> bool:
    """Another connection holds the lock (SQLITE_BUSY, or SQLITE_LOCKED within one
    process), told by the error's result code: its primary code is the low byte of an
    extended one such as SQLITE_BUSY_SNAPSHOT."""
    return (getattr(e, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _same_json(stored: str | None, text: str) -> bool:
    """Whether SQLite's text of a stored value says what ``text`` says. Both are compact
    JSON, so equal values are nearly always equal strings; values of different lengths are
    taken as different without parsing them (a status written again though equal in value,
    e.g. "1.0" against "1", costs one write, not a wrong one)."""
    if stored is None:
        return False
    return stored == text or (len(stored) == len(text) and json.loads(stored) == json.loads(text))


@dataclass(frozen=True)
class SqliteSettings:
    """A store's tunables (SqliteStore's keyword arguments), kept once: its siblings
    (``for_resource``) get the same."""

    max_events: int
    max_event_age: float | None
    compact_every: int  # at least 1
    busy_timeout: float
    poll_min: float
    poll_max: float
    clock: Callable[[], float]
    background_checkpoints: bool


class _Prepare(Protocol):
    """objects.prepare_update or objects.prepare_status_update."""

    def __call__(
        self, resource: Resource, stored: Mapping[str, Any], body: Mapping[str, Any], *, rv: int
    ) -> KubeObject | None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('rv', 0), ('compacted_rv', 0);
CREATE TABLE IF NOT EXISTS objects (
    resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (resource, namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    rv INTEGER PRIMARY KEY, resource TEXT NOT NULL, namespace TEXT NOT NULL,
    type TEXT NOT NULL, body TEXT NOT NULL, created REAL NOT NULL
);
"""


def default_store_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$KUBEDTN_STORE`` when set, else ``/var/lib/kubedtn/store.db``."""
    env = os.environ if environ is None else environ
    return Path(env.get(STORE_ENV) or DEFAULT_STORE_PATH)


class SqliteStore:
    """An :class:`~kubedtn.store.base.ObjectStore` for one resource in a SQLite file.

    Several stores (for other resources, other threads or other processes) may use the
    same file; :meth:`for_resource` opens a sibling with the same settings.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        resource: Resource = TOPOLOGY,
        max_events: int = 10_000,
        max_event_age: float | None = 24 * 3600.0,
        compact_every: int = 100,
        busy_timeout: float = 30.0,
        poll_min: float = 0.005,
        poll_max: float = 0.1,
        clock: Callable[[], float] = time.time,
        background_checkpoints: bool = False,
    ) -> None:
        self._path = Path(path) if path is not None else default_store_path()
        self._resource = resource
        self._settings = SqliteSettings(
            max_events=max_events,
            max_event_age=max_event_age,
            compact_every=max(1, compact_every),
            busy_timeout=busy_timeout,
            poll_min=poll_min,
            poll_max=poll_max,
            clock=clock,
            background_checkpoints=background_checkpoints,
        )
        self._local = threading.local()
        self._connections: list[tuple[int, sqlite3.Connection]] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._create_parent_directory()
        self._notifier: Notifier = notifier_for(str(self._path))
        # A process that answers requests (a daemon) checkpoints the log in the background,
        # between requests; others keep SQLite's own checkpoints, inside the commit that
        # makes the log too long (a short-lived CLI process has no "between").
        self._checkpointer: Checkpointer | None = (
            checkpointer_for(str(self._path)) if background_checkpoints else None
        )
        self._initialise()

    # ---- plumbing ---------------------------------------------------------------------

    @property
    def resource(self) -> Resource:
        return self._resource

    @property
    def path(self) -> Path:
        return self._path

    def __repr__(self) -> str:
        return f"SqliteStore({str(self._path)!r}, resource={self._resource.key})"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def for_resource(self, resource: Resource) -> SqliteStore:
        """A store for another resource in the same file (same resourceVersion counter)."""
        return SqliteStore(self._path, resource=resource, **vars(self._settings))

    def _create_parent_directory(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"store {self._path}: cannot create directory {self._path.parent}: {e.strerror}; "
                f"set {STORE_ENV} or pass another path"
            ) from e

    @contextlib.contextmanager
    def _database_errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as e:
            text = str(e)
            if _is_busy(e):
                raise StoreUnavailableError(
                    f"store {self._path}: {action}: {text} (another process holds the lock; "
                    f"waited up to {self._settings.busy_timeout:g}s)",
                    delay=1.0,
                ) from e
            raise StoreError(f"store {self._path}: {action} failed: {text}") from e
        except sqlite3.Error as e:
            raise StoreError(f"store {self._path}: {action} failed: {e}") from e

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"store {self._path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        # A connection inherited through fork() must not be used (nor closed) by the child.
        if conn is not None and self._local.pid == os.getpid():
            return conn
        with self._database_errors("open"):
            conn = sqlite3.connect(
                self._path, timeout=self._settings.busy_timeout, isolation_level=None, check_same_thread=False
            )
            # WAL never loses committed data to a crash of the process; NORMAL skips the
            # fsync per commit (a power cut may lose the last commits, not corrupt the file).
            conn.execute("PRAGMA synchronous=NORMAL")
            # The log is cut back when it starts again from the top (a long one was needed once).
            conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
            if self._checkpointer is not None:  # (see kubedtn.store.checkpoint)
                conn.execute("PRAGMA wal_autocheckpoint=0")
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._connections_lock:
            self._connections.append((os.getpid(), conn))
        return conn

    def _initialise(self) -> None:
        conn = self._connection()
        with self._database_errors("initialise"):
            self._enable_wal(conn)
            self._begin_immediate(conn)
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"store {self._path}: schema version {version} was written by a newer kubedtn "
                        f"(this one knows {SCHEMA_VERSION})"
                    )
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """Switch a new file to WAL (a setting stored in the file, so done once per file).

        SQLite reports a busy lock at once for this switch, without its busy handler, when
        several processes open a fresh file together: retry until ``busy_timeout``.
        """
        deadline = time.monotonic() + self._settings.busy_timeout
        pause = 0.001
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                    return
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as e:
                if not _is_busy(e) or time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.05)

    def _begin_immediate(self, conn: sqlite3.Connection) -> None:
        """BEGIN IMMEDIATE, waiting for another writer's transaction to end for up to
        ``busy_timeout``.

        SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 then 100 ms
        between tries, so a writer that meets another's batch may sleep on long after that
        batch committed (two node daemons recording at once lost 30-60 ms so). Writers here
        hold the lock for milliseconds: poll every half millisecond instead.
        """
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            deadline = time.monotonic() + self._settings.busy_timeout
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as e:
                    if not _is_busy(e) or time.monotonic() > deadline:
                        raise
                time.sleep(_LOCK_POLL)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._settings.busy_timeout * 1000)}")

    def close(self) -> None:
        """Close this process's connections of this store; later calls raise StoreError."""
        self._closed = True
        with self._connections_lock:
            mine = [c for pid, c in self._connections if pid == os.getpid()]
            self._connections.clear()
        for conn in mine:
            conn.close()

    def _in_batch(self) -> bool:
        return bool(getattr(self._local, "batch", False)) and self._local.pid == os.getpid()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction for this thread's writes in the block (each in
        its own savepoint, so a failed one is undone alone); nested blocks join the outer one.

        The transaction begins at the block's first write, not at its start: a block that
        computes before it writes (or writes nothing) does not hold the store's one write
        lock meanwhile — other daemons' writes go on."""
        if self._in_batch():
            yield
            return
        conn = self._connection()
        self._local.batch, self._local.begun = True, False
        try:
            yield
        except BaseException:
            self._local.batch = False
            if self._local.begun:
                with self._database_errors("batch"):
                    conn.execute("ROLLBACK")
            raise
        self._local.batch = False
        if self._local.begun:
            with self._database_errors("batch"):
                conn.execute("COMMIT")
            self._notifier.notify()
            if self._checkpointer is not None:
                self._checkpointer.after_commit()

    @contextlib.contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        conn = self._connection()
        if self._in_batch():
            with self._database_errors(action):
                if not self._local.begun:
                    self._begin_immediate(conn)
                    self._local.begun = True
                conn.execute("SAVEPOINT kubedtn_write")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK TO kubedtn_write")
                    conn.execute("RELEASE kubedtn_write")
                    raise
                conn.execute("RELEASE kubedtn_write")
            return
        with self._database_errors(action):
            self._begin_immediate(conn)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        self._notifier.notify()
        if self._checkpointer is not None:
            self._checkpointer.after_commit()

    @contextlib.contextmanager
    def _read(self, action: str) -> Iterator[sqlite3.Connection]:
        """A snapshot: every statement inside sees the same committed state."""
        conn = self._connection()
        if self._in_batch() and self._local.begun:  # in the batch's transaction: sees its writes
            with self._database_errors(action):
                yield conn
            return
        with self._database_errors(action):
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    # ---- rows -------------------------------------------------------------------------

    @staticmethod
    def _meta(conn: sqlite3.Connection, key: str) -> int:
        value: int = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
        return value

    def _load(self, conn: sqlite3.Connection, namespace: str, name: str) -> KubeObject | None:
        row = conn.execute(
            "SELECT body FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
            (self._resource.key, namespace, name),
        ).fetchone()
        if row is None:
            return None
        loaded: KubeObject = json.loads(row[0])
        return loaded

    def _load_or_raise(self, conn: sqlite3.Connection, namespace: str, name: str) -> KubeObject:
        stored = self._load(conn, namespace, name)
        if stored is None:
            raise NotFoundError(f"{objects.describe(self._resource, namespace, name)} not found")
        return stored

    def _record(self, conn: sqlite3.Connection, *, rv: int, kind: EventType, obj: KubeObject) -> None:
        """Save the object's new state (or its removal) and the event, and advance the counter."""
        namespace, name = objects.object_key(self._resource, obj)
        body = json.dumps(obj, separators=(",", ":"))
        if kind is EventType.DELETED:
            conn.execute(
                "DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
                (self._resource.key, namespace, name),
            )
        else:
            conn.execute(
                "INSERT OR REPLACE INTO objects (resource, namespace, name, body) VALUES (?, ?, ?, ?)",
                (self._resource.key, namespace, name, body),
            )
        conn.execute(
            "INSERT INTO events (rv, resource, namespace, type, body, created) VALUES (?, ?, ?, ?, ?, ?)",
            (rv, self._resource.key, namespace, kind.value, body, self._settings.clock()),
        )
        self._advance(conn, rv)

    def _advance(self, conn: sqlite3.Connection, rv: int, *, since: int | None = None) -> None:
        """Records ``rv`` as the newest version (``since``: the one before a jump of several)."""
        conn.execute("UPDATE meta SET value = ? WHERE key = 'rv'", (rv,))
        before = rv - 1 if since is None else since
        if (
            rv // self._settings.compact_every > before // self._settings.compact_every
        ):  # a multiple was passed
            self._compact(conn, rv)

    def _compact(self, conn: sqlite3.Connection, rv: int) -> None:
        horizon = rv - self._settings.max_events
        if self._settings.max_event_age is not None:
            (aged,) = conn.execute(
                "SELECT max(rv) FROM events WHERE created < ?",
                (self._settings.clock() - self._settings.max_event_age,),
            ).fetchone()
            horizon = max(horizon, aged or 0)
        if horizon > self._meta(conn, "compacted_rv"):
            conn.execute("DELETE FROM events WHERE rv <= ?", (horizon,))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'compacted_rv'", (horizon,))

    def compact(self) -> int:
        """Drop events past the limits now (writes also do it every ``compact_every`` commits).
        Returns the compaction horizon: watches must start at or after it."""
        with self._write("compact") as conn:
            self._compact(conn, self._meta(conn, "rv"))
            return self._meta(conn, "compacted_rv")

    # ---- ObjectStore ------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> KubeObject:
        ns = objects.scope_namespace(self._resource, namespace, name=name)
        with self._database_errors("get"):
            return self._load_or_raise(self._connection(), ns, name)

    def get_if_changed(self, namespace: str | None, name: str, resource_version: str) -> KubeObject | None:
        # SQLite reads the version out of the stored JSON itself (json_extract, in C): an
        # unchanged object costs no transfer and no json.loads of its body.
        ns = objects.scope_namespace(self._resource, namespace, name=name)
        with self._database_errors("get"):
            row = (
                self._connection()
                .execute(
                    "SELECT CASE WHEN json_extract(body, '$.metadata.resourceVersion') = ? THEN NULL "
                    "ELSE body END FROM objects WHERE resource = ? AND namespace = ? AND name = ?",
                    (resource_version, self._resource.key, ns, name),
                )
                .fetchone()
            )
        if row is None:
            raise NotFoundError(f"{objects.describe(self._resource, ns, name)} not found")
        if row[0] is None:
            return None
        loaded: KubeObject = json.loads(row[0])
        return loaded

    def get_changed(self, known: Sequence[KnownVersion]) -> dict[tuple[str, str], KubeObject | None]:
        # As get_if_changed (versions compared inside SQLite), a chunk of keys per statement,
        # every chunk in one read transaction.
        wanted = [
            (objects.scope_namespace(self._resource, namespace, name=name), name, rv)
            for namespace, name, rv in known
        ]
        if not wanted:
            return {}
        rows: list[tuple[str, str, str | None]] = []
        with self._read("get") as conn:
            for start in range(0, len(wanted), _KEYS_PER_QUERY):
                chunk = wanted[start : start + _KEYS_PER_QUERY]
                rows += conn.execute(
                    "WITH k(namespace, name, rv) AS (VALUES "
                    f"{', '.join(['(?, ?, ?)'] * len(chunk))}) "
                    "SELECT o.namespace, o.name, CASE WHEN json_extract(o.body, "
                    "'$.metadata.resourceVersion') = k.rv THEN NULL ELSE o.body END "
                    "FROM k JOIN objects o ON o.resource = ? AND o.namespace = k.namespace "
                    "AND o.name = k.name",
                    (*(part for key in chunk for part in key), self._resource.key),
                ).fetchall()
        return {(ns, name): None if body is None else json.loads(body) for ns, name, body in rows}

    def list(
        self, namespace: str | None = None, label_selector: SelectorLike = None
    ) -> tuple[ObjectList, str]:
        selector = to_selector(label_selector)
        query = "SELECT body FROM objects WHERE resource = ?"
        params: tuple[str, ...] = (self._resource.key,)
        if namespace and self._resource.namespaced:
            query += " AND namespace = ?"
            params += (namespace,)
        with self._read("list") as conn:
            rows = conn.execute(query + " ORDER BY namespace, name", params).fetchall()
            rv = self._meta(conn, "rv")
        items = [json.loads(body) for (body,) in rows]
        return [o for o in items if selector.matches(o["metadata"].get("labels"))], str(rv)

    def create(self, obj: Mapping[str, Any]) -> KubeObject:
        body = objects.normalise_body(self._resource, obj)
        namespace, name = objects.object_key(self._resource, body)
        with self._write("create") as conn:
            if self._load(conn, namespace, name) is not None:
                raise AlreadyExistsError(
                    f"{objects.describe(self._resource, namespace, name)} already exists"
                )
            rv = self._meta(conn, "rv") + 1
            new = objects.prepare_create(
                self._resource, body, rv=rv, uid=str(uuid.uuid4()), now=self._settings.clock()
            )
            self._record(conn, rv=rv, kind=EventType.ADDED, obj=new)
        return new

    def update(self, obj: Mapping[str, Any]) -> KubeObject:
        body = objects.normalise_body(self._resource, obj)
        return self._rewrite(body, action="update", prepare=objects.prepare_update)

    def update_status(self, obj: Mapping[str, Any]) -> KubeObject:
        body = objects.normalise_status_body(self._resource, obj)
        return self._rewrite(body, action="update_status", prepare=objects.prepare_status_update)

    def write_status(
        self, namespace: str | None, name: str, *, resource_version: str, status: Mapping[str, Any]
    ) -> str:
        (rv,) = self.write_statuses([(namespace, name, resource_version, status)])
        if rv is not None:
            return rv
        # Absent, stale or malformed: the full update_status raises the precise error.
        ns = objects.scope_namespace(self._resource, namespace, name=name)
        meta = {"name": name, "namespace": ns, "resourceVersion": resource_version}
        return str(self.update_status({"metadata": meta, "status": status})["metadata"]["resourceVersion"])

    def write_statuses(self, writes: Sequence[StatusWrite]) -> WrittenVersions:
        # SQLite edits the stored JSON itself (json_set) and copies it into the event: the
        # objects' bodies never pass through Python (no json.loads/dumps of the specs). One
        # read of every current version, then one statement per kind of change for all.
        texts: list[tuple[tuple[str, str], str, str] | None] = []
        for namespace, name, resource_version, status in writes:
            try:
                ns = objects.scope_namespace(self._resource, namespace, name=name)
                text = json.dumps(status, separators=(",", ":")) if isinstance(status, Mapping) else None
            except (KubedtnError, TypeError, ValueError):
                text = None  # write_status / update_status say what is wrong with it
            texts.append(None if text is None else ((ns, name), resource_version, text))
        keys = list({t[0] for t in texts if t is not None})
        results: WrittenVersions = [None] * len(writes)
        if not keys:
            return results
        with self._write("update_status") as conn:
            current = self._versions_and_statuses(conn, keys)
            first = rv = self._meta(conn, "rv")
            updates: list[tuple[str, str, str, str, str]] = []
            for i, item in enumerate(texts):
                if item is None or (found := current.get(item[0])) is None or found[0] != item[1]:
                    continue  # malformed, absent or stale: left to the caller
                key, _, text = item
                if _same_json(found[1], text):
                    results[i] = item[1]  # already this status: nothing is written
                    continue
                rv += 1
                current[key] = (str(rv), text)  # a second write of the object in the list is stale
                updates.append((str(rv), text, self._resource.key, *key))
                results[i] = str(rv)
            if updates:
                conn.executemany(
                    "UPDATE objects SET body = json_set(body, '$.metadata.resourceVersion', ?, "
                    "'$.status', json(?)) WHERE resource = ? AND namespace = ? AND name = ?",
                    updates,
                )
                created = self._settings.clock()
                conn.executemany(
                    "INSERT INTO events (rv, resource, namespace, type, body, created) SELECT ?, "
                    "resource, namespace, ?, body, ? FROM objects "
                    "WHERE resource = ? AND namespace = ? AND name = ?",
                    [(int(u[0]), EventType.MODIFIED.value, created, *u[2:]) for u in updates],
                )
                self._advance(conn, rv, since=first)
        return results

    def _versions_and_statuses(
        self, conn: sqlite3.Connection, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], tuple[str, str | None]]:
        """(namespace, name) → (resourceVersion, status as stored JSON text) of those that exist."""
        out: dict[tuple[str, str], tuple[str, str | None]] = {}
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            rows = conn.execute(
                "SELECT namespace, name, json_extract(body, '$.metadata.resourceVersion'), "
                "json_extract(body, '$.status') FROM objects WHERE resource = ? AND (namespace, name) IN "
                f"(VALUES {', '.join(['(?, ?)'] * len(chunk))})",
                (self._resource.key, *(part for key in chunk for part in key)),
            ).fetchall()
            out.update({(ns, name): (rv, status) for ns, name, rv, status in rows})
        return out

    def _rewrite(self, body: KubeObject, *, action: str, prepare: _Prepare) -> KubeObject:
        """update/update_status of a body already normalised (checked, and the caller's own copy)."""
        namespace, name = objects.object_key(self._resource, body)
        with self._write(action) as conn:
            stored = self._load_or_raise(conn, namespace, name)
            rv = self._meta(conn, "rv") + 1
            new = prepare(self._resource, stored, body, rv=rv)
            if new is None:
                return stored
            # Removing the last finalizer of an object being deleted completes the deletion.
            kind = EventType.DELETED if objects.is_finalized(new) else EventType.MODIFIED
            self._record(conn, rv=rv, kind=kind, obj=new)
        return new

    def delete(
        self, namespace: str | None, name: str, *, resource_version: str | None = None
    ) -> KubeObject | None:
        ns = objects.scope_namespace(self._resource, namespace, name=name)
        what = objects.describe(self._resource, ns, name)
        with self._write("delete") as conn:
            stored = self._load_or_raise(conn, ns, name)
            current = stored["metadata"]["resourceVersion"]
            if resource_version is not None and objects.parse_resource_version(
                resource_version, what=what
            ) != int(current):
                raise ConflictError(
                    f"{what}: resourceVersion {resource_version} is stale, current is {current} "
                    "(delete precondition failed)"
                )
            rv = self._meta(conn, "rv") + 1
            if stored["metadata"].get("finalizers"):
                if stored["metadata"].get("deletionTimestamp"):
                    return stored
                marked = objects.mark_deleting(stored, rv=rv, now=self._settings.clock())
                self._record(conn, rv=rv, kind=EventType.MODIFIED, obj=marked)
                return marked
            self._record(conn, rv=rv, kind=EventType.DELETED, obj=objects.with_resource_version(stored, rv))
        return None

    def watch(
        self,
        *,
        resource_version: str | None = None,
        namespace: str | None = None,
        timeout: float | None = None,
        types: Collection[EventType] | None = None,
    ) -> PollingWatch:
        namespace = namespace if self._resource.namespaced else None
        kinds = None if types is None else sorted(t.value for t in types)
        initial: EventBatch = []
        if resource_version in (None, "0"):
            items, listed = self.list(namespace=namespace)
            if kinds is None or EventType.ADDED.value in kinds:
                initial = [WatchEvent(EventType.ADDED, o) for o in items]
            start = int(listed)
        else:
            start = objects.parse_resource_version(resource_version, what=f"watch of {self._resource.plural}")
            with self._read("watch") as conn:
                self._check_not_expired(conn, start)
        return PollingWatch(
            fetch=lambda position: self._events_after(position, namespace, kinds),
            start=start,
            notifier=self._notifier,
            changed=self._data_version_probe(),
            initial=initial,
            timeout=timeout,
            poll_min=self._settings.poll_min,
            poll_max=self._settings.poll_max,
        )

    # ---- watch plumbing ---------------------------------------------------------------

    def _check_not_expired(self, conn: sqlite3.Connection, position: int) -> None:
        compacted = self._meta(conn, "compacted_rv")
        if position < compacted:
            raise ExpiredError(
                f"watch of {self._resource.plural} from resourceVersion {position}: too old, the events "
                f"up to {compacted} were compacted ({self._retention()}); "
                "list again and watch from the list's resourceVersion",
                resource_version=position,
                oldest=compacted,
            )

    def _retention(self) -> str:
        kept = f"the store keeps the last {self._settings.max_events} events"
        return (
            kept
            if self._settings.max_event_age is None
            else f"{kept}, for at most {self._settings.max_event_age:g}s"
        )

    def _events_after(
        self, position: int, namespace: str | None, kinds: Sequence[str] | None = None
    ) -> tuple[EventBatch, int]:
        query = "SELECT rv, type, body FROM events WHERE rv > ? AND resource = ?"
        params: tuple[object, ...] = (position, self._resource.key)
        if namespace:
            query += " AND namespace = ?"
            params += (namespace,)
        if kinds is not None:  # (the other events' bodies are never read)
            query += f" AND type IN ({', '.join('?' * len(kinds))})"
            params += tuple(kinds)
        with self._read("watch") as conn:
            self._check_not_expired(conn, position)
            rows = conn.execute(query + f" ORDER BY rv LIMIT {_FETCH_LIMIT}", params).fetchall()
            current = self._meta(conn, "rv")
        events = [WatchEvent(EventType(kind), json.loads(body)) for _, kind, body in rows]
        # With all events of this snapshot seen, jump to its resourceVersion: a watcher of a
        # quiet resource then never falls behind the compaction of busy ones.
        # (Never backwards: a watch may start from a resourceVersion the store has not reached.)
        return events, rows[-1][0] if len(rows) == _FETCH_LIMIT else max(position, current)

    def _data_version_probe(self) -> Callable[[], bool]:
        """True when another connection committed since the last call (SQLite's data_version)."""
        last: dict[str, object] = {}

        def changed() -> bool:
            conn = self._connection()
            with self._database_errors("watch"):
                version = conn.execute("PRAGMA data_version").fetchone()[0]
            now = (id(conn), version)
            moved = last.get("seen") != now
            last["seen"] = now
            return moved

        return changed
