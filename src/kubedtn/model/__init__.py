"""The Topology model: types, unit parsing, validation, documents, CRD schema.

Plain Python: the standard library plus PyYAML (a departure from "stdlib only" —
loading topology files needs YAML). No kubernetes, grpc or pyroute2 here.

The types below are imported on first use, not with the package: the CNI plugin imports
``kubedtn.model.namespace`` and must not pay for dataclasses and enum on its fast path.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from kubedtn.model.types import Condition, Link, LinkProperties, PeerKind, Topology, TopologyStatus

__all__ = ["Condition", "Link", "LinkProperties", "PeerKind", "Topology", "TopologyStatus"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from kubedtn.model import types

        return getattr(types, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
