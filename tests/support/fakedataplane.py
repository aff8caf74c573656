"""A ``Dataplane`` that keeps links in memory: the daemon's decisions tested without root.

It records every call, holds one ``LiveInterface`` per link end it was asked to make, and
can be told to refuse the links of chosen uids. Namespaces are paths it was told exist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet

from kubedtn.dataplane import (
    ApplyReport,
    DataplaneError,
    Endpoint,
    InterfaceRef,
    LinkResult,
    LinkSpec,
    LiveInterface,
    NamespaceNotFoundError,
    VxlanInfo,
    VxlanSpec,
)
from kubedtn.dataplane.live import ALIAS_PREFIX
from kubedtn.model import LinkProperties


class FakeDataplane:
    """In-memory links (see the module docstring)."""

    def __init__(self, namespaces: Iterable[str] = ()) -> None:
        self.namespaces = set(namespaces)
        self.lives: dict[str, int] = {}  # path -> times it was made again (recreate)
        self.ends: dict[tuple[str, str], LiveInterface] = {}  # (netns, name) -> interface
        self.applied: list[list[LinkSpec]] = []
        self.removed: list[InterfaceRef] = []
        self.refuse: set[int] = set()  # uids whose links fail

    def apply(
        self, links: Sequence[LinkSpec], *, prune: Iterable[str] = (), strict: bool = True
    ) -> ApplyReport:
        self.applied.append(list(links))
        results = []
        for spec in links:
            missing = [ep.netns for ep in spec.endpoints if ep.netns not in self.namespaces]
            if spec.uid in self.refuse or missing:
                error = (
                    NamespaceNotFoundError(f"{missing[0]} does not exist")
                    if missing
                    else DataplaneError(f"link {spec.uid}: refused by the test")
                )
                results.append(LinkResult(spec.uid, "failed", str(error), error=error))
                continue
            for ep in spec.endpoints:
                self.ends[(ep.netns, ep.name)] = _interface(spec, ep)
            results.append(LinkResult(spec.uid, "created"))
        return ApplyReport(tuple(results))

    def set_properties(
        self,
        updates: Mapping[InterfaceRef, LinkProperties],
        *,
        unbypassed: AbstractSet[InterfaceRef] = frozenset(),
    ) -> int:
        for ref, props in updates.items():
            live = self.ends[(ref.netns, ref.name)]
            self.ends[(ref.netns, ref.name)] = dataclasses.replace(live, properties=props)
        return len(updates)

    def remove(self, refs: Iterable[InterfaceRef]) -> list[InterfaceRef]:
        gone = [ref for ref in refs if self.ends.pop((ref.netns, ref.name), None) is not None]
        self.removed += gone
        return gone

    def remove_owned(self, netns: Iterable[str]) -> None:
        doomed = set(netns)
        self.remove([InterfaceRef(ns, name) for ns, name in list(self.ends) if ns in doomed])

    def read(self, netns: str, *, owned_only: bool = False, known: Iterable[str] = ()) -> list[LiveInterface]:
        if netns not in self.namespaces:
            raise NamespaceNotFoundError(f"{netns} does not exist")
        return [live for (ns, _), live in sorted(self.ends.items()) if ns == netns]

    def namespace_exists(self, path: str) -> bool:
        return path in self.namespaces

    def namespace_id(self, path: str) -> str:
        return f"fake:{path}:{self.lives.get(path, 0)}" if path in self.namespaces else ""

    def recreate(self, path: str) -> None:
        """The namespace at ``path`` replaced by a new one (its interfaces gone with the old)."""
        self.namespaces.add(path)
        self.lives[path] = self.lives.get(path, 0) + 1
        for ns, name in [k for k in self.ends if k[0] == path]:
            del self.ends[(ns, name)]

    def names(self, netns: str) -> set[str]:
        """The names of the interfaces this fake holds in ``netns``."""
        return {name for ns, name in self.ends if ns == netns}


def _interface(spec: LinkSpec, ep: Endpoint) -> LiveInterface:
    vxlan = None
    if isinstance(spec, VxlanSpec):
        vxlan = VxlanInfo(spec.vni, spec.remote, spec.local, 4789, 0, learning=False)
    return LiveInterface(
        netns=ep.netns,
        name=ep.name,
        ifindex=0,
        kind=spec.kind,
        up=True,
        oper_state="up",
        mtu=1500,
        mac=None,
        group=0,
        alias=f"{ALIAS_PREFIX}{spec.uid}",
        vxlan=vxlan,
        addresses=ep.addresses,
        properties=ep.properties,
    )
