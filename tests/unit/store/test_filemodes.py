"""The store's file and SQLite's -wal and -shm beside it are readable by their owner only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedtn.store import SqliteStore
from tests.support.filemodes import mode, usual_umask
from tests.unit.store.test_sqlite import topology


@pytest.fixture(autouse=True)
def _umask_022() -> Iterator[None]:
    with usual_umask():
        yield


def _files(db: Path) -> list[Path]:
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]


def test_a_new_store_and_its_wal_and_shm_are_0600(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with SqliteStore(db) as store:
        store.create(topology("r1"))
        assert {str(p): mode(p) for p in _files(db)} == {str(p): 0o600 for p in _files(db)}


def test_an_older_store_made_with_the_umask_is_narrowed_when_opened(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    with SqliteStore(db) as store:
        store.create(topology("r1"))
        for path in _files(db):
            path.chmod(0o644)  # as a kubedtn before this change left them
    with SqliteStore(db) as store:
        assert store.get("default", "r1")["metadata"]["name"] == "r1"
        assert {str(p): mode(p) for p in _files(db)} == {str(p): 0o600 for p in _files(db)}
