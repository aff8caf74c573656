"""The resource types the double serves: built-in ones and those CustomResourceDefinitions add."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.support.kubeapi.errors import invalid

# Every kind answers these two field selectors (API Conventions, "Lists and Simple kinds":
# most lists should support filtering by fields).
_COMMON_FIELDS = frozenset({"metadata.name", "metadata.namespace"})
_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    status_subresource: bool = False
    # Built-in kinds take strategic merge patch; custom resources refuse it (415), as the real
    # server does, so that kubectl falls back to JSON merge patch.
    builtin: bool = True
    field_labels: frozenset[str] = _COMMON_FIELDS

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> tuple[str, str]:
        return (self.group, self.version)

    def discovery(self) -> list[dict[str, Any]]:
        """This type's entries in an APIResourceList (the resource and its status subresource)."""
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular or self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": _VERBS,
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        entries = [entry]
        if self.status_subresource:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        return entries


BUILTINS: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "pods",
        "Pod",
        True,
        "pod",
        ("po",),
        True,
        field_labels=_COMMON_FIELDS | {"spec.nodeName", "status.phase", "spec.restartPolicy"},
    ),
    ResourceType("", "v1", "nodes", "Node", False, "node", ("no",), True),
    ResourceType("", "v1", "namespaces", "Namespace", False, "namespace", ("ns",), True),
    ResourceType(
        "",
        "v1",
        "events",
        "Event",
        True,
        "event",
        ("ev",),
        field_labels=_COMMON_FIELDS
        | {
            "involvedObject.kind",
            "involvedObject.name",
            "involvedObject.namespace",
            "involvedObject.uid",
            "reason",
            "type",
        },
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, "lease"),
    # What the manifests (manifests/, `make deploy`) are made of; stored as sent (no defaults).
    ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, "serviceaccount", ("sa",)),
    ResourceType("", "v1", "services", "Service", True, "service", ("svc",), True),
    ResourceType("", "v1", "secrets", "Secret", True, "secret"),
    ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, "daemonset", ("ds",), True),
    ResourceType("apps", "v1", "deployments", "Deployment", True, "deployment", ("deploy",), True),
    ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, "clusterrole"),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        False,
        "clusterrolebinding",
    ),
    ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True, "role"),
    ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, "rolebinding"),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        "customresourcedefinition",
        ("crd", "crds"),
        True,
    ),
)


def types_of_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The resource types one CustomResourceDefinition serves (one per served version)."""
    name = crd.get("metadata", {}).get("name", "")
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    group, plural, kind = spec.get("group", ""), names.get("plural", ""), names.get("kind", "")
    for path, value in (("spec.group", group), ("spec.names.plural", plural), ("spec.names.kind", kind)):
        if not value:
            raise invalid(
                "CustomResourceDefinition", name, path, value, "a non-empty name", "apiextensions.k8s.io"
            )
    if name != f"{plural}.{group}":
        raise invalid(
            "CustomResourceDefinition",
            name,
            "metadata.name",
            name,
            f"must be {plural}.{group}",
            "apiextensions.k8s.io",
        )
    scope = spec.get("scope", "Namespaced")
    return [
        ResourceType(
            group,
            version["name"],
            plural,
            kind,
            scope == "Namespaced",
            names.get("singular", kind.lower()),
            tuple(names.get("shortNames", ())),
            "status" in (version.get("subresources") or {}),
            builtin=False,
        )
        for version in spec.get("versions", [])
        if version.get("served", True)
    ]


@dataclass
class Registry:
    """Resource types by (group, version, plural); CRDs add and remove theirs at run time."""

    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.add(BUILTINS)

    def add(self, types: Iterable[ResourceType]) -> None:
        with self._lock:
            for rt in types:
                self._types[(rt.group, rt.version, rt.plural)] = rt

    def remove_group_resource(self, group: str, plural: str) -> None:
        with self._lock:
            for key in [k for k in self._types if k[0] == group and k[2] == plural]:
                del self._types[key]

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        with self._lock:
            return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def group_versions(self) -> dict[str, list[str]]:
        """Served versions per group, in registration order (the core group is "")."""
        out: dict[str, list[str]] = {}
        for rt in self.all():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out
