"""The Topology objects a set of files asks for, in the API group they will be written in.

The files are read as ``kubedtn topo validate`` reads them (kube-dtn's
``y-young.github.io/v1`` objects are converted on the fly) and every problem is found
before anything is written. Objects of other kinds (the Pods of kube-dtn's samples) are
left out and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubedtn.model import documents
from kubedtn.model.objects import topology_to_dict
from kubedtn.model.types import Topology
from kubedtn.store.resource import Resource


@dataclass(frozen=True)
class Desired:
    """Checked Topologies of the files, each with the object to write, and what was left out."""

    topologies: tuple[Topology, ...]
    objects: tuple[dict[str, Any], ...]
    others: tuple[documents.Document, ...]


def object_for(topology: Topology, resource: Resource) -> dict[str, Any]:
    """What to write for a Topology: its spec, name, namespace, labels and annotations.

    Both groups take the same fields (kube-dtn's names), so an object for kube-dtn's
    group keeps kube-dtn's shape with its apiVersion.
    """
    obj = topology_to_dict(topology, with_status=False)
    for server_owned in ("resourceVersion", "generation"):
        obj["metadata"].pop(server_owned, None)
    obj["apiVersion"] = resource.api_version
    return obj


def desired(docs: Sequence[documents.Document], *, namespace: str, resource: Resource) -> Desired:
    """The files' Topologies; ValidationError with every problem (per object and field) if any."""
    bundle = documents.bundle_documents(docs, default_namespace=namespace)
    bundle.raise_for_problems()
    return Desired(
        bundle.topologies,
        tuple(object_for(t, resource) for t in bundle.topologies),
        bundle.others,
    )
