"""WAL checkpoints run beside the writers (kubedtn.store.checkpoint), and the log stays bounded."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from kubedtn.store import SqliteStore
from kubedtn.store.checkpoint import (
    COMMITS_BETWEEN,
    WAL_KEEP_BYTES,
    WAL_LIMIT_BYTES,
    Checkpointer,
    checkpointer_for,
)


def _big_topology(name: str, size: int) -> dict[str, object]:
    return {
        "apiVersion": "kubedtn.io/v1",
        "kind": "Topology",
        "metadata": {"name": name, "annotations": {"filler": "x" * size}},
        "spec": {"links": []},
    }


def _wal_bytes(path: Path) -> int:
    return os.stat(f"{path}-wal").st_size


def test_a_daemons_store_leaves_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "store.db", background_checkpoints=True) as store:
        conn = store._db.connection()
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == WAL_KEEP_BYTES


def test_other_stores_keep_sqlites_own_checkpoints(store: SqliteStore) -> None:
    conn = store._db.connection()
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == WAL_KEEP_BYTES
    assert store._db.checkpointer is None


def test_one_checkpointer_per_file_and_process(tmp_path: Path) -> None:
    path = str(tmp_path / "a.db")
    assert checkpointer_for(path) is checkpointer_for(str(tmp_path / "." / "a.db"))
    assert checkpointer_for(path) is not checkpointer_for(str(tmp_path / "b.db"))


def test_a_long_log_is_checkpointed_in_the_background_and_then_cut_back(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with SqliteStore(path, background_checkpoints=True) as store:
        checkpointer = checkpointer_for(str(path))
        before = checkpointer.runs
        # Past the limit: without checkpoints the log would only grow.
        for i in range(12):
            store.create(_big_topology(f"t{i}", 512 * 1024))
        checkpointer.wait(timeout=30)
        assert checkpointer.runs > before
        assert _wal_bytes(path) > WAL_LIMIT_BYTES
        # Small writes go on: within a few commits a checkpoint copies the whole log, and
        # the write after it starts the log again, cut back to WAL_KEEP_BYTES.
        for i in range(3 * COMMITS_BETWEEN):
            store.create(_big_topology(f"small{i}", 10))
            checkpointer.wait(timeout=30)
            if _wal_bytes(path) <= WAL_KEEP_BYTES:
                break
        assert _wal_bytes(path) <= WAL_KEEP_BYTES
        # Nothing was lost on the way, as another connection (a fresh reader) sees it.
        with sqlite3.connect(path) as reader:
            (count,) = reader.execute("SELECT count(*) FROM objects").fetchone()
        assert count == 12 + i + 1


def test_a_log_that_stays_long_is_not_checkpointed_after_every_commit(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with SqliteStore(path, background_checkpoints=True) as store:
        checkpointer = Checkpointer(str(path), limit=0)  # "too long" from the first byte
        store._db.checkpointer = checkpointer
        for i in range(2 * COMMITS_BETWEEN):
            store.create(_big_topology(f"t{i}", 10))
            checkpointer.wait(timeout=30)
        assert checkpointer.runs == 2


def test_a_short_log_starts_no_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with SqliteStore(path, background_checkpoints=True) as store:
        checkpointer = Checkpointer(str(path), limit=WAL_LIMIT_BYTES)
        store._db.checkpointer = checkpointer
        store.create(_big_topology("small", 10))
        checkpointer.wait(timeout=30)
        assert checkpointer.runs == 0


def test_a_busy_or_missing_file_is_left_for_the_next_commit(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "store.db"
    checkpointer = Checkpointer(str(missing), limit=0)
    checkpointer.after_commit()  # no log file: nothing to do
    checkpointer.wait(timeout=30)
    assert checkpointer.runs == 0


def test_a_due_checkpoint_waits_for_a_pause_in_the_commits(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with SqliteStore(path, background_checkpoints=True) as store:
        patient = Checkpointer(str(path), limit=0, quiet=60, patience=1.0)
        store._db.checkpointer = patient
        store.create(_big_topology("t", 10))  # due at once (limit 0), but no pause yet
        patient.wait(timeout=0.05)
        assert patient.runs == 0
        patient.wait(timeout=30)  # (after its patience, it runs anyway)
        assert patient.runs == 1
        hasty = Checkpointer(str(path), limit=0, quiet=60, patience=0.05)  # waits 50 ms at most
        store._db.checkpointer = hasty
        store.create(_big_topology("u", 10))
        hasty.wait(timeout=30)
        assert hasty.runs == 1


def test_a_checkpoint_that_fails_is_reported_until_one_succeeds(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "store.db"  # SQLite cannot open it: not a busy file
    cp = Checkpointer(str(missing))
    cp._checkpoint()
    assert cp.failing and cp.failures == 1 and "unable to open database file" in cp.last_error
    assert str(missing) in cp.last_error
    missing.parent.mkdir()
    cp._checkpoint()
    assert not cp.failing and cp.failures == 1 and cp.runs == 1
