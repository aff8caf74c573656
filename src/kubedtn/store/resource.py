"""What kind of object a store holds: the group/version/plural/kind a Kubernetes client needs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Resource:
    """A Kubernetes resource type, as the API server names it.

    The store is generic over kinds; this descriptor is all it needs to fill in
    ``apiVersion``/``kind``, scope objects by namespace, and word its errors.
    """

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``group/version``, or just ``version`` for the core group (``""``)."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """``plural.group`` (``topologies.kubedtn.io``): unique per resource, used as a storage key."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        """Lower-case kind, the word used in messages (``topology default/r1 not found``)."""
        return self.kind.lower()


TOPOLOGY = Resource(group="kubedtn.io", version="v1", plural="topologies", kind="Topology")
POD = Resource(group="", version="v1", plural="pods", kind="Pod")
NODE = Resource(group="", version="v1", plural="nodes", kind="Node", namespaced=False)
EVENT = Resource(group="", version="v1", plural="events", kind="Event")
LEASE = Resource(group="coordination.k8s.io", version="v1", plural="leases", kind="Lease")


# kube-dtn's Topology: same version, plural and kind in its own group. A cluster still on
# kube-dtn's CRD keeps its objects there, in kube-dtn's shape.
KUBE_DTN_TOPOLOGY = Resource(group="y-young.github.io", version="v1", plural="topologies", kind="Topology")

TOPOLOGY_GROUPS: tuple[str, ...] = (TOPOLOGY.group, KUBE_DTN_TOPOLOGY.group)
"""The API groups a Topology can be served in; the first is the default (``--api-group``)."""


def topology_resource(group: str) -> Resource:
    """The Topology resource of an API group (``kubedtn.io`` or kube-dtn's ``y-young.github.io``)."""
    for resource in (TOPOLOGY, KUBE_DTN_TOPOLOGY):
        if resource.group == group:
            return resource
    raise ValueError(f"API group {group!r}: Topologies are served in {' or '.join(TOPOLOGY_GROUPS)}")
