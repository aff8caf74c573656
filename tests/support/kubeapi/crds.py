"""CustomResourceDefinitions: writing one serves its resource, deleting one takes it away."""

from __future__ import annotations

from typing import Any

from tests.support.kubeapi.resources import Registry, ResourceType, types_of_crd
from tests.support.kubeapi.storage import Store

CRD_GROUP, CRD_PLURAL = "apiextensions.k8s.io", "customresourcedefinitions"


def is_crd(rt: ResourceType) -> bool:
    return (rt.group, rt.plural) == (CRD_GROUP, CRD_PLURAL)


def established_status(crd: dict[str, Any]) -> dict[str, Any]:
    """The status the real server reports once it serves the CRD (what `kubectl wait` looks at)."""
    conditions = [
        {
            "type": t,
            "status": "True",
            "reason": r,
            "message": m,
            "lastTransitionTime": crd["metadata"]["creationTimestamp"],
        }
        for t, r, m in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    return {
        "conditions": conditions,
        "acceptedNames": crd["spec"]["names"],
        "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")],
    }


def served(registry: Registry, store: Store, crd_rt: ResourceType, crd: dict[str, Any]) -> None:
    """A CRD was created or changed: serve its versions and mark it established."""
    spec = crd["spec"]
    registry.remove_group_resource(spec["group"], spec["names"]["plural"])
    registry.add(types_of_crd(crd))
    if crd.get("status", {}).get("conditions") is None:
        status = established_status(crd)
        store.update(crd_rt, "", crd["metadata"]["name"], lambda cur: cur | {"status": status}, "status")


def withdrawn(registry: Registry, store: Store, crd: dict[str, Any]) -> None:
    """A CRD is gone: its resource is no longer served and its objects are deleted."""
    group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    registry.remove_group_resource(group, plural)
    store.drop_resource(group, plural)


def schemas(store: Store, crd_rt: ResourceType) -> dict[tuple[str, str, str], Any]:
    """The openAPIV3Schema of every served CRD version, by (group, version, kind)."""
    out: dict[tuple[str, str, str], Any] = {}
    for crd in store.objects(crd_rt, None)[0]:
        spec = crd["spec"]
        for version in spec.get("versions", []):
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                out[(spec["group"], version["name"], spec["names"]["kind"])] = schema
    return out
