"""What every job of the link manager shares on one node: the store's records of its pods,
the link locks, the node itself and the clock that stamps status changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kubedtn.daemon.locks import LinkLocks
from kubedtn.daemon.plan import NodeInfo
from kubedtn.daemon.records import PodRecords


@dataclass(frozen=True)
class NodeContext:
    records: PodRecords
    locks: LinkLocks
    node: NodeInfo
    clock: Callable[[], str]
