"""URL paths of the Kubernetes REST API, taken apart."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.kubeapi import errors
from tests.support.kubeapi.resources import Registry, ResourceType

# Subresources of a namespace object, not resources inside the namespace.
_NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True)
class Target:
    """A resource URL: a collection (name "") or one object, maybe a subresource of it."""

    rt: ResourceType
    namespace: str | None  # None: across all namespaces (or cluster-scoped)
    name: str = ""
    subresource: str = ""

    @property
    def ns(self) -> str:
        return self.namespace or ""


def split_group_version(parts: list[str]) -> tuple[str, str, list[str]] | None:
    """("", "v1", rest) for /api/v1/..., (group, version, rest) for /apis/g/v/...; else None."""
    if len(parts) >= 2 and parts[0] == "api":
        return "", parts[1], parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def target(registry: Registry, group: str, version: str, rest: list[str]) -> Target:
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise errors.not_found("paths", "/".join(rest))
    rt = registry.find(group, version, rest[0])
    if rt is None:
        gv = f"{group}/{version}" if group else version
        raise errors.ApiError(
            404,
            "NotFound",
            f"the server could not find the requested resource ({rest[0]} is not served in {gv})",
        )
    if rt.namespaced and namespace is None and len(rest) > 1:
        raise errors.not_found(rt.plural, rest[1], rt.group)
    if not rt.namespaced and namespace is not None:
        raise errors.bad_request(f"{rt.plural} are cluster-scoped: no namespace {namespace!r} in the path")
    subresource = rest[2] if len(rest) == 3 else ""
    if subresource and not (subresource == "status" and rt.status_subresource):
        raise errors.not_found(f"{rt.plural}/{subresource}", rest[1], rt.group)
    return Target(rt, namespace, rest[1] if len(rest) > 1 else "", subresource)
