"""Fixtures of the daemon's root tests: throwaway namespaces, a store, a manager on them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.plan import NodeInfo
from kubedtn.dataplane import ApplyReport, LinkSpec, NetlinkDataplane
from kubedtn.store import SqliteStore
from tests.support.daemon import kubedtn_daemon
from tests.support.netns import pool

HOST_IP = "203.0.113.7"
__all__ = ["HOST_IP", "CountingDataplane", "kubedtn_daemon", "pool"]  # the last two: fixtures


class CountingDataplane(NetlinkDataplane):
    """The real dataplane, counting apply calls (to prove batching)."""

    def __init__(self) -> None:
        super().__init__()
        self.applies = 0

    def apply(self, links: Sequence[LinkSpec], **kw: object) -> ApplyReport:
        self.applies += 1
        return super().apply(links, **kw)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "store.db")
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def dataplane() -> CountingDataplane:
    return CountingDataplane()


@pytest.fixture
def manager(store: SqliteStore, dataplane: CountingDataplane) -> LinkManager:
    return LinkManager(store=store, dataplane=dataplane, node=NodeInfo(ip=HOST_IP))
