"""Fixtures of the daemon's root tests: throwaway namespaces, a store, a manager on them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path

import pytest

from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.plan import NodeInfo
from kubedtn.dataplane import ApplyReport, InterfaceRef, LinkSpec, LiveInterface, NetlinkDataplane
from kubedtn.model import LinkProperties
from kubedtn.store import SqliteStore
from tests.support.daemon import kubedtn_daemon
from tests.support.netns import pool

HOST_IP = "203.0.113.7"
__all__ = ["HOST_IP", "CountingDataplane", "kubedtn_daemon", "pool"]  # the last two: fixtures


class CountingDataplane:
    """The kernel's dataplane, counting apply calls (to prove batching)."""

    def __init__(self) -> None:
        self.kernel = NetlinkDataplane()
        self.applies = 0

    def apply(
        self, links: Sequence[LinkSpec], *, prune: Iterable[str] = (), strict: bool = True
    ) -> ApplyReport:
        self.applies += 1
        return self.kernel.apply(links, prune=prune, strict=strict)

    def set_properties(
        self,
        updates: Mapping[InterfaceRef, LinkProperties],
        *,
        unbypassed: AbstractSet[InterfaceRef] = frozenset(),
    ) -> int:
        return self.kernel.set_properties(updates, unbypassed=unbypassed)

    def remove(self, refs: Iterable[InterfaceRef]) -> list[InterfaceRef]:
        return self.kernel.remove(refs)

    def remove_owned(self, netns: Iterable[str]) -> None:
        self.kernel.remove_owned(netns)

    def read(self, netns: str, *, owned_only: bool = False, known: Iterable[str] = ()) -> list[LiveInterface]:
        return self.kernel.read(netns, owned_only=owned_only, known=known)

    def namespace_exists(self, path: str) -> bool:
        return self.kernel.namespace_exists(path)

    def namespace_id(self, path: str) -> str:
        return self.kernel.namespace_id(path)


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
