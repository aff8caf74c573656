"""The dataplane's contract: what a caller (the daemon, the lab) may ask of a dataplane.

``Dataplane`` is a Protocol: the kernel's implementation is
``kubedtn.dataplane.engine.NetlinkDataplane``; tests of the daemon's decisions pass a fake
that keeps links in memory, so they run without root.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Literal, Protocol

from kubedtn.dataplane.errors import DataplaneError
from kubedtn.dataplane.live import LiveInterface
from kubedtn.dataplane.specs import InterfaceRef, LinkSpec
from kubedtn.model import LinkProperties

Outcome = Literal["created", "kept", "updated", "replaced", "failed"]


@dataclass(frozen=True)
class LinkResult:
    """What apply did with one link; ``error`` is set when it failed."""

    uid: int
    outcome: Outcome
    detail: str = ""  # what changed / why replaced / the error
    ifindexes: tuple[int, ...] = ()  # of its interfaces in their namespaces (endpoint order)
    error: DataplaneError | None = None


@dataclass(frozen=True)
class ApplyReport:
    results: tuple[LinkResult, ...]
    pruned: tuple[InterfaceRef, ...] = ()
    changes: int = 0  # netlink requests sent that change state (0: nothing was touched)

    @property
    def failed(self) -> tuple[LinkResult, ...]:
        return tuple(r for r in self.results if r.outcome == "failed")

    def result(self, uid: int) -> LinkResult:
        return next(r for r in self.results if r.uid == uid)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out


class Dataplane(Protocol):
    """Links and their properties in network namespaces (paths such as /run/netns/x)."""

    def apply(
        self, links: Sequence[LinkSpec], *, prune: Iterable[str] = (), strict: bool = True
    ) -> ApplyReport:
        """Make the kernel hold exactly these links (idempotent); ``prune``: namespaces where
        our interfaces that are no end of ``links`` go. ``strict``: a failed link raises
        ApplyError after the others were applied; else it is only reported."""
        ...

    def set_properties(
        self,
        updates: Mapping[InterfaceRef, LinkProperties],
        *,
        unbypassed: AbstractSet[InterfaceRef] = frozenset(),
    ) -> int:
        """Change existing interfaces' emulated properties in place; requests sent.
        ``unbypassed``: interfaces whose link opted out of the TCP/IP bypass (they keep its
        marker without properties)."""
        ...

    def remove(self, refs: Iterable[InterfaceRef]) -> list[InterfaceRef]:
        """Delete our interfaces by name (gone already: done); the refs that existed."""
        ...

    def remove_owned(self, netns: Iterable[str]) -> None:
        """Delete every interface of ours in these namespaces (missing ones skipped)."""
        ...

    def read(self, netns: str, *, owned_only: bool = False, known: Iterable[str] = ()) -> list[LiveInterface]:
        """The interfaces of a namespace as they are; ``known``: namespaces recognised as
        where a veth's other end lives (``LiveInterface.peer_netns``)."""
        ...

    def namespace_exists(self, path: str) -> bool:
        """Whether ``path`` is a network namespace."""
        ...

    def namespace_id(self, path: str) -> str:
        """The identity of the namespace at ``path`` ("" when there is none): a path reused
        by another namespace gives another identity."""
        ...
