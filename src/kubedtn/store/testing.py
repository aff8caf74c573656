"""A throwaway store for tests of modules that use one (daemon, lab)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubedtn.store.resource import TOPOLOGY, Resource
from kubedtn.store.sqlite import SqliteStore


@contextlib.contextmanager
def temp_store(
    resource: Resource = TOPOLOGY, *, directory: str | Path | None = None, **settings: Any
) -> Iterator[SqliteStore]:
    """A SqliteStore on a fresh file in a temporary directory, removed afterwards.

    ``settings`` go to SqliteStore (e.g. ``max_events=5`` to provoke ExpiredError). Other
    processes may open ``store.path`` while the block runs.
    """
    with tempfile.TemporaryDirectory(prefix="kubedtn-store-", dir=directory) as tmp:
        store = SqliteStore(Path(tmp) / "store.db", resource=resource, **settings)
        try:
            yield store
        finally:
            store.close()
