"""The Topology model: types, unit parsing, validation, documents, CRD schema.

Plain Python: the standard library plus PyYAML (a departure from "stdlib only" —
loading topology files needs YAML). No kubernetes, grpc or pyroute2 here.
"""

from kubedtn.model.types import Condition, Link, LinkProperties, PeerKind, Topology, TopologyStatus

__all__ = ["Condition", "Link", "LinkProperties", "PeerKind", "Topology", "TopologyStatus"]
