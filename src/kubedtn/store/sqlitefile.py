"""One SQLite file of the store: per-thread connections, WAL, and the write transactions
every store of the file shares (``BEGIN IMMEDIATE``, batches, savepoints).

``SqliteStore`` (``kubedtn.store.sqlite``) holds the objects' semantics; this class holds
what it takes to use one file from many threads and processes at once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from kubedtn.store.checkpoint import WAL_KEEP_BYTES, Checkpointer, checkpointer_for
from kubedtn.store.errors import StoreError, StoreUnavailableError
from kubedtn.store.watching import Notifier, notifier_for

STORE_ENV = "KUBEDTN_STORE"
STORE_FILE_MODE = 0o600  # the file and its -wal/-shm (see SqliteFile._make_private)
SCHEMA_VERSION = 1
# Seconds between tries to begin a write transaction while another writer has the lock.
_LOCK_POLL = 0.0005

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


def _is_busy(e: sqlite3.Error) -> bool:
    """Another connection holds the lock (SQLITE_BUSY, or SQLITE_LOCKED within one
    process), told by the error's result code: its primary code is the low byte of an
    extended one such as SQLITE_BUSY_SNAPSHOT."""
    return (getattr(e, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _is_full(e: sqlite3.Error) -> bool:
    """The disk holding the store is full (SQLITE_FULL): temporary, unlike a corrupt file."""
    return (getattr(e, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL


def read_meta(conn: sqlite3.Connection, key: str) -> int:
    """A counter of the ``meta`` table (``rv``, ``compacted_rv``)."""
    value: int = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]
    return value


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

    def retention(self) -> str:
        kept = f"the store keeps the last {self.max_events} events"
        return kept if self.max_event_age is None else f"{kept}, for at most {self.max_event_age:g}s"


class SqliteFile:
    """The file, its connections and its transactions (see the module docstring)."""

    def __init__(self, path: Path, settings: SqliteSettings) -> None:
        self.path = path
        self.settings = settings
        self._local = threading.local()
        self._connections: list[tuple[int, sqlite3.Connection]] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._create_parent_directory()
        self._make_private()
        self.notifier: Notifier = notifier_for(str(path))
        # A process that answers requests (a daemon) checkpoints the log in the background,
        # between requests; others keep SQLite's own checkpoints, inside the commit that
        # makes the log too long (a short-lived CLI process has no "between").
        self.checkpointer: Checkpointer | None = (
            checkpointer_for(str(path)) if settings.background_checkpoints else None
        )
        self._initialise()

    def _create_parent_directory(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"store {self.path}: cannot create directory {self.path.parent}: {e.strerror}; "
                f"set {STORE_ENV} or pass another path"
            ) from e

    def _make_private(self) -> None:
        """The file, and the -wal and -shm SQLite keeps beside it, readable by its owner only:
        the store holds every pod's namespace path and the nodes' addresses.

        SQLite creates the -wal and -shm files with the main file's mode, so creating that
        one 0600 is enough for a new store; an older store's files are narrowed here.
        """
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, STORE_FILE_MODE)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                return  # a reader without write access: SQLite reports what it can do
            raise StoreError(f"store {self.path}: cannot create the file: {e.strerror}") from e
        try:
            _narrow(lambda: os.fchmod(fd, STORE_FILE_MODE))
        finally:
            os.close(fd)
        for suffix in ("-wal", "-shm"):
            _narrow(partial(os.chmod, f"{self.path}{suffix}", STORE_FILE_MODE))

    @contextlib.contextmanager
    def errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as e:
            text = str(e)
            if _is_busy(e):
                raise StoreUnavailableError(
                    f"store {self.path}: {action}: {text} (another process holds the lock; "
                    f"waited up to {self.settings.busy_timeout:g}s)",
                    delay=1.0,
                ) from e
            if _is_full(e):
                raise StoreUnavailableError(
                    f"store {self.path}: {action}: no space left on the device holding it ({text}); "
                    "nothing was written: free space there and try again",
                    delay=5.0,
                ) from e
            raise StoreError(f"store {self.path}: {action} failed: {text}") from e
        except sqlite3.Error as e:
            raise StoreError(f"store {self.path}: {action} failed: {e}") from e

    def connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        # A connection inherited through fork() must not be used (nor closed) by the child.
        if conn is not None and self._local.pid == os.getpid():
            return conn
        with self.errors("open"):
            conn = sqlite3.connect(
                self.path, timeout=self.settings.busy_timeout, isolation_level=None, check_same_thread=False
            )
            # WAL never loses committed data to a crash of the process; NORMAL skips the
            # fsync per commit (a power cut may lose the last commits, not corrupt the file).
            conn.execute("PRAGMA synchronous=NORMAL")
            # The log is cut back when it starts again from the top (a long one was needed once).
            conn.execute(f"PRAGMA journal_size_limit={WAL_KEEP_BYTES}")
            if self.checkpointer is not None:  # (see kubedtn.store.checkpoint)
                conn.execute("PRAGMA wal_autocheckpoint=0")
        self._local.conn, self._local.pid = conn, os.getpid()
        with self._connections_lock:
            self._connections.append((os.getpid(), conn))
        return conn

    def _initialise(self) -> None:
        conn = self.connection()
        with self.errors("initialise"):
            self._enable_wal(conn)
            self._begin_immediate(conn)
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        f"store {self.path}: schema version {version} was written by a newer kubedtn "
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
        deadline = time.monotonic() + self.settings.busy_timeout
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
        batch committed (two node daemons recording at once lost time so). Writers here
        hold the lock for milliseconds: poll every half millisecond instead.
        """
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            deadline = time.monotonic() + self.settings.busy_timeout
            while True:
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as e:
                    if not _is_busy(e) or time.monotonic() > deadline:
                        raise
                time.sleep(_LOCK_POLL)
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.settings.busy_timeout * 1000)}")

    def close(self) -> None:
        """Close this process's connections of this store; later calls raise StoreError."""
        self._closed = True
        with self._connections_lock:
            mine = [c for pid, c in self._connections if pid == os.getpid()]
            self._connections.clear()
        for conn in mine:
            conn.close()

    def in_batch(self) -> bool:
        return bool(getattr(self._local, "batch", False)) and self._local.pid == os.getpid()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` transaction for this thread's writes in the block (each in
        its own savepoint, so a failed one is undone alone); nested blocks join the outer one.

        The transaction begins at the block's first write, not at its start: a block that
        computes before it writes (or writes nothing) does not hold the store's one write
        lock meanwhile — other daemons' writes go on."""
        if self.in_batch():
            yield
            return
        conn = self.connection()
        self._local.batch, self._local.begun = True, False
        try:
            yield
        except BaseException:
            self._local.batch = False
            if self._local.begun:
                with self.errors("batch"):
                    conn.execute("ROLLBACK")
            raise
        self._local.batch = False
        if self._local.begun:
            with self.errors("batch"):
                conn.execute("COMMIT")
            self.notifier.notify()
            if self.checkpointer is not None:
                self.checkpointer.after_commit()

    @contextlib.contextmanager
    def write(self, action: str) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        if self.in_batch():
            with self.errors(action):
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
        with self.errors(action):
            self._begin_immediate(conn)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        self.notifier.notify()
        if self.checkpointer is not None:
            self.checkpointer.after_commit()

    @contextlib.contextmanager
    def read(self, action: str) -> Iterator[sqlite3.Connection]:
        """A snapshot: every statement inside sees the same committed state."""
        conn = self.connection()
        if self.in_batch() and self._local.begun:  # in the batch's transaction: sees its writes
            with self.errors(action):
                yield conn
            return
        with self.errors(action):
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def data_version_probe(self) -> Callable[[], bool]:
        """True when another connection committed since the last call (SQLite's data_version)."""
        last: dict[str, object] = {}

        def changed() -> bool:
            conn = self.connection()
            with self.errors("watch"):
                version = conn.execute("PRAGMA data_version").fetchone()[0]
            now = (id(conn), version)
            moved = last.get("seen") != now
            last["seen"] = now
            return moved

        return changed


def _narrow(chmod: Callable[[], None]) -> None:
    """Run a chmod; a file that is gone, or someone else's (only its owner may change its
    mode), is left as it is."""
    with contextlib.suppress(FileNotFoundError, PermissionError):
        chmod()
