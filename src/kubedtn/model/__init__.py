"""The Topology model: types, unit parsing, validation, documents, CRD schema.

Modules:

* ``types``     — the resolved Topology types: frozen, numeric, already checked;
* ``objects``   — Kubernetes-shaped dicts ↔ those types, with every single-object check;
* ``validate``  — checks of one Topology and of a set (a file, a directory, a store);
* ``units``     — link property units: durations, percentages, rates;
* ``addresses`` — interface CIDRs, MAC addresses, link peers;
* ``names``     — name rules (interfaces, Kubernetes objects), VNIs from link uids;
* ``namespace`` — the default Kubernetes namespace, in a module free of imports;
* ``podref``    — a pod named by namespace and name (CNI plugin, daemon, lab);
* ``documents`` — topology files: YAML/JSON, ``kind: List``, kube-dtn conversion;
* ``yamlload``  — YAML streams loaded fast, with exactly PyYAML's result;
* ``crd``       — the Topology CustomResourceDefinition, generated from the model.

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
