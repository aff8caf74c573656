"""The Topology model: types, unit parsing, validation, documents, CRD schema.

Modules:

* ``types``     — the resolved Topology types: frozen, numeric, already checked;
* ``objects``   — Kubernetes-shaped dicts ↔ those types, with every single-object check;
* ``validate``  — checks of one Topology and of a set (a file, a directory, a store);
* ``units``     — link property units: durations, percentages, rates;
* ``addresses`` — interface CIDRs, MAC addresses, link peers;
* ``names``     — name rules (interfaces, Kubernetes objects), VNIs from link uids;
* ``documents`` — topology files: YAML/JSON, ``kind: List``, kube-dtn conversion;
* ``yamlload``  — YAML streams loaded fast, with exactly PyYAML's result;
* ``crd``       — the Topology CustomResourceDefinition, generated from the model.

Plain Python: the standard library plus PyYAML (a departure from "stdlib only" —
loading topology files needs YAML). No kubernetes, grpc or pyroute2 here.
"""

from kubedtn.model.types import Condition, Link, LinkProperties, PeerKind, Topology, TopologyStatus

__all__ = ["Condition", "Link", "LinkProperties", "PeerKind", "Topology", "TopologyStatus"]
