"""WAL checkpoints of a store file, off the writers' path.

SQLite's default is that the commit which grows the write-ahead log past 1000 pages
copies the log back into the database file and syncs it, inside that commit. Measured
on this project's VMs, a commit of 200 status writes took 2-3 ms, and 14-15 ms when it
also did the checkpoint (every third such commit). That commit is often the last step of
a request someone waits for (a daemon recording the links it just made). So the store's
connections turn automatic checkpoints off (``PRAGMA wal_autocheckpoint=0``). After each
commit the writer looks at the log's size, one ``stat``. When the log is past the limit,
a background thread of the process runs a PASSIVE checkpoint on its own connection.
PASSIVE never waits for other readers or writers, so it blocks nobody; what it cannot
copy now, a later checkpoint copies.

The log file does not shrink by itself: the first write after a complete checkpoint
starts it again from the top. So the connections also set ``journal_size_limit``, which
cuts the file back at that moment (to ``WAL_KEEP_BYTES``, below the limit). A log that
stays long because writes never pause is checkpointed every ``COMMITS_BETWEEN`` commits
of this process, not after every one.

Every process that writes does this, so the log stays bounded as long as someone
writes. When the last connection to the file closes, SQLite checkpoints the log anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from typing import Final

log = logging.getLogger(__name__)

# SQLite's own default limit: 1000 pages of 4 KiB.
WAL_LIMIT_BYTES: Final = 4 * 1024 * 1024
# What a log file restarted from the top is cut back to (journal_size_limit).
WAL_KEEP_BYTES: Final = 1024 * 1024
# Commits of this process between two checkpoints while the log stays past the limit.
COMMITS_BETWEEN: Final = 4


class Checkpointer:
    """Checkpoints one database file from a background thread when its log is past ``limit``."""

    def __init__(self, path: str, *, limit: int = WAL_LIMIT_BYTES) -> None:
        self._path = path
        self._wal = path + "-wal"
        self._limit = limit
        self._lock = threading.Lock()
        self._running = False
        self._commits = COMMITS_BETWEEN  # since the last checkpoint began (the first may run at once)
        self._thread: threading.Thread | None = None
        self.runs = 0  # checkpoints done by this process (for tests and curiosity)

    def after_commit(self) -> None:
        """Called by a writer after its commit: start a checkpoint when the log is too long."""
        with self._lock:
            self._commits += 1
            if self._running or self._commits < COMMITS_BETWEEN:
                return
        try:
            size = os.stat(self._wal).st_size
        except OSError:
            return  # no log (yet, or any more)
        if size < self._limit:
            return
        with self._lock:
            if self._running:
                return
            self._running, self._commits = True, 0
            self._thread = threading.Thread(target=self._run, name="kubedtn-store-checkpoint", daemon=True)
            self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Until the checkpoint started last (if any) has ended."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        try:
            with contextlib.closing(sqlite3.connect(self._path, timeout=0, isolation_level=None)) as conn:
                conn.execute("PRAGMA wal_autocheckpoint=0")
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.runs += 1
        except sqlite3.Error as e:
            # Busy (another process checkpoints) or gone: the next commit tries again.
            log.debug("store checkpoint of %s not done: %s", self._path, e)
        finally:
            with self._lock:
                self._running = False


_checkpointers: dict[tuple[int, str], Checkpointer] = {}
_checkpointers_lock = threading.Lock()


def checkpointer_for(path: str) -> Checkpointer:
    """The one Checkpointer of this process for a database file."""
    key = (os.getpid(), os.path.realpath(path))
    with _checkpointers_lock:
        return _checkpointers.setdefault(key, Checkpointer(key[1]))
