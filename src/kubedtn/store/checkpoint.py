"""WAL checkpoints of a store file, off the writers' path.

SQLite's default is that the commit which grows the write-ahead log past 1000 pages
copies the log back into the database file and syncs it, inside that commit, which then
takes several times as long as the others (the commit that moved checkpoints here has the
numbers). That commit is often the last step of
a request someone waits for (a daemon recording the links it just made). So a daemon's
store (``background_checkpoints``) turns automatic checkpoints off on its connections
(``PRAGMA wal_autocheckpoint=0``). After each
commit the writer looks at the log's size, one ``stat``. When the log is past the limit,
a background thread of the process runs a PASSIVE checkpoint on its own connection, at
the next pause in the process's commits. PASSIVE never waits for other readers or
writers, so it blocks nobody; what it cannot copy now, a later checkpoint copies.

The log file does not shrink by itself: the first write after a complete checkpoint
starts it again from the top. So every store connection sets ``journal_size_limit``, which
cuts the file back at that moment (to ``WAL_KEEP_BYTES``, below the limit). A log that
stays long because writes never pause is checkpointed every ``COMMITS_BETWEEN`` commits
of this process, not after every one.

Other processes (the CLI: short-lived, no pause to wait for) keep SQLite's own
checkpoints, so the log stays bounded as long as anyone writes. When the last
connection to the file closes, SQLite checkpoints the log anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
import time
from typing import Final

log = logging.getLogger(__name__)

# SQLite's own default limit: 1000 pages of 4 KiB.
WAL_LIMIT_BYTES: Final = 4 * 1024 * 1024
# What a log file restarted from the top is cut back to (journal_size_limit).
WAL_KEEP_BYTES: Final = 1024 * 1024
# Commits of this process between two checkpoints while the log stays past the limit.
COMMITS_BETWEEN: Final = 4
# A due checkpoint waits for this long a pause in the process's commits, but no longer
# than PATIENCE_S in all.
QUIET_S: Final = 0.1
PATIENCE_S: Final = 2.0
# SQLITE_BUSY, SQLITE_LOCKED: someone else holds the file now; not a fault.
_BUSY: Final = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class Checkpointer:
    """Checkpoints one database file from a background thread when its log is past ``limit``.

    The thread waits for a pause in this process's commits (``quiet`` seconds, at most
    ``patience``): a request that commits several times, as a daemon's do, is not slowed
    by a checkpoint between its writes."""

    def __init__(
        self, path: str, *, limit: int = WAL_LIMIT_BYTES, quiet: float = QUIET_S, patience: float = PATIENCE_S
    ) -> None:
        self._path = path
        self._wal = path + "-wal"
        self._limit = limit
        self._quiet = quiet
        self._patience = patience
        self._cond = threading.Condition()
        self._wanted = False  # a checkpoint is due (the thread waits for a pause)
        self._running = False
        self._commits = COMMITS_BETWEEN  # since the last checkpoint began (the first may run at once)
        self._last_commit = 0.0
        self._thread: threading.Thread | None = None
        self.runs = 0  # checkpoints done by this process (for tests and curiosity)
        # Checkpoints that failed for another reason than a busy file (a full disk, an I/O
        # error): whether the last one did, the last error, how many (the daemon's Status).
        self.failing = False
        self.last_error = ""
        self.failures = 0

    def after_commit(self) -> None:
        """Called by a writer after its commit: a checkpoint is due when the log is too long."""
        with self._cond:
            self._commits += 1
            self._last_commit = time.monotonic()
            if self._wanted or self._running or self._commits < COMMITS_BETWEEN:
                return
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return  # no log (yet, or any more)
        if size < self._limit:
            return
        with self._cond:
            if self._wanted or self._running:
                return
            self._wanted, self._commits = True, 0
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="kubedtn-store-checkpoint", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def wait(self, timeout: float | None = None) -> None:
        """Until no checkpoint is due or running."""
        with self._cond:
            self._cond.wait_for(lambda: not (self._wanted or self._running), timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._wanted)
                due = time.monotonic()
                while True:
                    now = time.monotonic()
                    pause = now - self._last_commit
                    if pause >= self._quiet or now - due >= self._patience:
                        break
                    self._cond.wait(min(self._quiet - pause, self._patience - (now - due)))
                self._wanted, self._running = False, True
            try:
                self._checkpoint()
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()

    def _checkpoint(self) -> None:
        try:
            with contextlib.closing(sqlite3.connect(self._path, timeout=0, isolation_level=None)) as conn:
                conn.execute("PRAGMA wal_autocheckpoint=0")
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.runs += 1
            self.failing = False
        except sqlite3.Error as e:
            # Busy (another process checkpoints) or gone: a later commit asks again.
            log.debug("store checkpoint of %s not done: %s", self._path, e)
            if getattr(e, "sqlite_errorcode", None) not in _BUSY:
                log.warning("store checkpoint of %s failed: %s", self._path, e)
                self.failing, self.last_error = True, f"checkpoint of {self._path}: {e}"
                self.failures += 1


_checkpointers: dict[tuple[int, str], Checkpointer] = {}
_checkpointers_lock = threading.Lock()


def checkpointer_for(path: str) -> Checkpointer:
    """The one Checkpointer of this process for a database file."""
    key = (os.getpid(), os.path.realpath(path))
    with _checkpointers_lock:
        return _checkpointers.setdefault(key, Checkpointer(key[1]))
