"""Kubernetes RBAC, as far as the manifests use it: the request attributes of an API path
(Kubernetes documentation, "Authorization": request verbs and resources) and whether the
rules bound to a ServiceAccount allow them (ClusterRoles everywhere, Roles in their
namespace; ``resourceNames`` limit a rule to those names)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from tests.unit.manifests.render import Obj

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True)
class Attributes:
    verb: str
    group: str
    resource: str  # with its subresource: "topologies/status"
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        return f"{self.verb} {self.resource}.{self.group or 'core'} {self.name}{where}".replace("  ", " ")


def attributes(method: str, path: str) -> Attributes:
    """What the authorizer sees of a request to a resource path."""
    url = urlsplit(path)
    parts = [p for p in url.path.split("/") if p]
    if parts[:1] == ["api"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"]:
        group, rest = parts[1], parts[3:]
    else:
        raise AssertionError(f"{method} {path}: not a resource path")
    namespace = ""
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    resource, name, sub = [*rest, "", ""][:3]
    if method == "GET":
        watch = parse_qs(url.query).get("watch", [""])[0] in ("true", "1")
        verb = "watch" if watch else "get" if name else "list"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _VERBS[method]
    return Attributes(verb, group, f"{resource}/{sub}" if sub else resource, namespace, name)


@dataclass(frozen=True)
class Grant:
    """One rule, and the namespace it holds in ("" for a ClusterRole's: every one)."""

    rule: Obj
    namespace: str

    def allows(self, a: Attributes) -> bool:
        r = self.rule
        return (
            (not self.namespace or self.namespace == a.namespace)
            and a.group in r.get("apiGroups", [])
            and a.resource in r.get("resources", [])
            and a.verb in r.get("verbs", [])
            and (not r.get("resourceNames") or a.name in r["resourceNames"])
        )


def grants(objects: list[Obj], account: str, namespace: str) -> list[Grant]:
    """The rules bound to ServiceAccount namespace/account by the objects' bindings."""
    roles = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}
    out = []
    for binding in (o for o in objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
        if subject not in binding["subjects"]:
            continue
        where = binding["metadata"].get("namespace", "")
        ref = binding["roleRef"]
        role = roles[(ref["kind"], where if ref["kind"] == "Role" else "", ref["name"])]
        out += [Grant(rule, where) for rule in role["rules"]]
    return out


def granted(grants_: list[Grant]) -> set[tuple[str, str, str]]:
    """(group, resource, verb) of every rule, as a set to compare with what was used."""
    return {
        (group, resource, verb)
        for g in grants_
        for group in g.rule["apiGroups"]
        for resource in g.rule["resources"]
        for verb in g.rule["verbs"]
    }


def refused(requests: list[tuple[str, str]], grants_: list[Grant]) -> list[str]:
    """The requests no rule allows, as the authorizer would word them."""
    return [
        f"{method} {path}: {a}"
        for method, path in requests
        if not any(g.allows(a := attributes(method, path)) for g in grants_)
    ]


def used(requests: list[tuple[str, str]]) -> set[tuple[str, str, str]]:
    return {(a.group, a.resource, a.verb) for a in (attributes(m, p) for m, p in requests)}
