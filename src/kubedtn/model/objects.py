"""Kubernetes-shaped dicts ↔ resolved Topology types, with every single-object check.

Parsing *is* validation here (resolve before use): ``topology_from_dict`` walks the raw
object once, collects every problem as one line naming the object, the field path, the
bad value and what is accepted, and either returns a checked ``Topology`` or raises
``ValidationError`` with all the lines. Cross-object rules live in
``kubedtn.model.validate``.

Besides ``kubedtn.io/v1`` this reads kube-dtn's ``y-young.github.io/v1`` objects; with
that apiVersion a uid may also be a numeric string. ``topology_to_dict`` always writes
``kubedtn.io/v1``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Final, TypeVar

from kubedtn.errors import ValidationError
from kubedtn.model import addresses, names
from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.model.types import (
    NO_PROPERTIES,
    Condition,
    Link,
    LinkProperties,
    PeerKind,
    Topology,
    TopologyStatus,
    peer_kind_of,
)
from kubedtn.model.units import UnitError, quoted

API_GROUP: Final = "kubedtn.io"
API_VERSION: Final = f"{API_GROUP}/v1"
KIND: Final = "Topology"
# Put on every Topology (by the controller) so that its links are removed before it goes.
LINKS_FINALIZER: Final = "kubedtn.io/links"
KUBE_DTN_API_VERSION: Final = "y-young.github.io/v1"
TOPOLOGY_API_VERSIONS: Final = (API_VERSION, KUBE_DTN_API_VERSION)

LINK_REQUIRED: Final = ("uid", "peer_pod", "local_intf", "peer_intf")
LINK_FIELDS: Final = (
    *LINK_REQUIRED,
    "local_ip",
    "peer_ip",
    "local_mac",
    "peer_mac",
    "mtu",
    "properties",
    "bypass",
)
SPEC_FIELDS: Final = ("links",)
STATUS_FIELDS: Final = ("src_ip", "net_ns", "links", "skipped", "conditions", "net_ns_id", "container_id")
CONDITION_REQUIRED: Final = ("type", "status")
CONDITION_FIELDS: Final = (
    *CONDITION_REQUIRED,
    "reason",
    "message",
    "lastTransitionTime",
    "observedGeneration",
)
CONDITION_STATUSES: Final = ("True", "False", "Unknown")

MTU_MIN: Final = 68  # IPv4's minimum
MTU_MAX: Final = 65535
MTU_IPV6_MIN: Final = 1280  # the kernel drops IPv6 from a device below this
BYPASS_ACCEPTS: Final = "true (the default: TCP over this link may skip the TCP/IP stack) or false"
MTU_ACCEPTS: Final = f"an MTU: an integer {MTU_MIN}..{MTU_MAX} (at least {MTU_IPV6_MIN} with IPv6 addresses)"

T = TypeVar("T")


def is_topology(obj: object) -> bool:
    """True for a Topology of either API group (judged by kind, so bad apiVersions get reported)."""
    return isinstance(obj, Mapping) and obj.get("kind") == KIND


def object_key(obj: Mapping[str, Any], *, default_namespace: str = DEFAULT_NAMESPACE) -> str:
    """``namespace/name`` of a raw object, for error lines even when the metadata is bad."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name")
    ns = meta.get("namespace") or default_namespace
    return f"{ns}/{name if isinstance(name, str) and name else '<no name>'}"


class _Collector:
    """Problems of one object; each line starts with ``namespace/name: path:``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.problems: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(f"{self.key}: {path}: {message}")

    def bad(self, path: str, value: object, phrase: str) -> None:
        self.add(path, f"{quoted(value)} {phrase}")

    def unknown_fields(self, path: str, raw: Mapping[str, Any], known: tuple[str, ...]) -> None:
        for name in raw:
            if name not in known:
                self.add(f"{path}.{name}" if path else str(name), f"unknown field; known: {', '.join(known)}")

    def mapping(self, path: str, value: object) -> Mapping[str, Any] | None:
        if value is None:
            return {}
        if isinstance(value, Mapping):
            return value
        self.bad(path, value, "is not a mapping")
        return None

    def sequence(self, path: str, value: object) -> list[Any]:
        if value is None:
            return []
        if isinstance(value, list):
            return value
        self.bad(path, value, "is not a list")
        return []

    def string(self, path: str, value: object, *, required: bool = False, accepts: str = "") -> str | None:
        if value is None:
            if required:
                self.add(path, f"is required{': ' + accepts if accepts else ''}")
            return None
        if isinstance(value, str):
            return value
        self.bad(path, value, f"is not a string{': ' + accepts if accepts else ''}")
        return None

    def integer(self, path: str, value: object, *, lo: int, hi: int, accepts: str) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            if lo <= value <= hi:
                return value
            self.bad(path, value, f"is out of range: {accepts}")
            return None
        self.bad(path, value, f"is not an integer: {accepts}")
        return None

    def parsed(self, path: str, text: str, parse: Callable[[str], T]) -> T | None:
        try:
            return parse(text)
        except UnitError as e:
            self.bad(path, text, str(e))
            return None


def _string_map(c: _Collector, path: str, value: object) -> Mapping[str, str]:
    raw = c.mapping(path, value) or {}
    out: dict[str, str] = {}
    for k, v in raw.items():
        if isinstance(k, str) and isinstance(v, str):
            out[k] = v
        else:
            c.bad(f"{path}.{k}", v, "is not a string")
    return out


def _parse_uid(c: _Collector, path: str, value: object, *, compat: bool) -> int | None:
    if value is None:
        c.add(path, f"is required: {names.UID_ACCEPTS}")
        return None
    if compat and isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return c.integer(path, value, lo=names.UID_MIN, hi=names.UID_MAX, accepts=names.UID_ACCEPTS)


def _parse_peer(c: _Collector, path: str, value: object) -> str | None:
    peer = c.string(path, value, required=True, accepts=addresses.PEER_ACCEPTS)
    if peer is None:
        return None
    kind = peer_kind_of(peer)
    if kind is PeerKind.PHYSICAL:
        ip = c.parsed(
            path, peer, lambda t: addresses.parse_physical_ip(t[len(addresses.PEER_PHYSICAL_PREFIX) :])
        )
        return None if ip is None else addresses.PEER_PHYSICAL_PREFIX + ip
    if kind is PeerKind.POD and names.pod_name_problem(peer):
        c.bad(path, peer, f"is not {addresses.PEER_ACCEPTS}")
        return None
    return peer


def _parse_intf(c: _Collector, path: str, value: object, *, reserved: bool) -> str | None:
    name = c.string(path, value, required=True, accepts=names.IFNAME_ACCEPTS)
    if name is None:
        return None
    problem = names.interface_name_problem(name, reserved=reserved)
    if problem:
        c.bad(path, name, problem)
        return None
    return name


def _parse_optional(c: _Collector, path: str, value: object, parse: Callable[[str], T]) -> T | None:
    """An optional string field; kube-dtn writes absent strings as "", so "" is absent too."""
    text = c.string(path, value)
    if not text:
        return None
    return c.parsed(path, text, parse)


_LINK_FIELD_SET: Final = frozenset(LINK_FIELDS)


def _optional_text(value: object, parse: Callable[[str], T]) -> T | None:
    """``_parse_optional`` for a value with nothing to report (UnitError otherwise)."""
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise UnitError("is not a string")
    return parse(value)


def _plain_link(raw: object) -> Link | None:
    """The Link of a link that ``_parse_link`` would find nothing wrong with, decided without
    composing any field path or message (a Topology's links nearly always are such); None
    leaves the link to ``_parse_link``, which says what is wrong. Every check of
    ``_parse_link`` is made here too, or the link is left to it (physical peers, properties
    or a uid given as a string, for instance)."""
    if (
        type(raw) is not dict
        or not _LINK_FIELD_SET.issuperset(raw)
        or raw.get("properties") not in (None, {})
    ):
        return None
    uid, peer, local, far = raw.get("uid"), raw.get("peer_pod"), raw.get("local_intf"), raw.get("peer_intf")
    if type(uid) is not int or not names.UID_MIN <= uid <= names.UID_MAX:
        return None
    if type(peer) is not str or type(local) is not str or type(far) is not str:
        return None
    kind = peer_kind_of(peer)
    if kind is PeerKind.PHYSICAL or (kind is PeerKind.POD and names.pod_name_problem(peer)):
        return None
    if names.interface_name_problem(local, reserved=True) or names.interface_name_problem(
        far, reserved=kind is PeerKind.POD
    ):
        return None
    mtu = raw.get("mtu")
    if mtu is not None and (type(mtu) is not int or not MTU_MIN <= mtu <= MTU_MAX):
        return None
    bypass = raw.get("bypass", True)
    if type(bypass) is not bool:
        return None
    try:
        local_ips = _optional_text(raw.get("local_ip"), addresses.parse_cidr_list) or ()
        peer_ips = _optional_text(raw.get("peer_ip"), addresses.parse_cidr_list) or ()
        local_mac = _optional_text(raw.get("local_mac"), addresses.parse_mac)
        peer_mac = _optional_text(raw.get("peer_mac"), addresses.parse_mac)
    except UnitError:
        return None
    if local_ips and peer_ips and not set(local_ips).isdisjoint(peer_ips):
        return None
    if (
        mtu is not None
        and mtu < MTU_IPV6_MIN
        and any(addresses.cidr_version(ip) == 6 for ip in (*local_ips, *peer_ips))
    ):
        return None
    if local_mac is not None and local_mac == peer_mac:
        return None
    return Link(
        uid=uid,
        peer_pod=peer,
        local_intf=local,
        peer_intf=far,
        local_ips=local_ips,
        peer_ips=peer_ips,
        local_mac=local_mac,
        peer_mac=peer_mac,
        mtu=mtu,
        properties=NO_PROPERTIES,
        bypass=bypass,
    )


def _parse_link(c: _Collector, path: str, raw: object, *, compat: bool) -> Link | None:
    return _plain_link(raw) or _checked_link(c, path, raw, compat=compat)


def _checked_link(c: _Collector, path: str, raw: object, *, compat: bool) -> Link | None:
    """The link, every field checked with its path: the problems go to ``c``."""
    link = c.mapping(path, raw)
    if link is None:
        return None
    c.unknown_fields(path, link, LINK_FIELDS)
    uid = _parse_uid(c, f"{path}.uid", link.get("uid"), compat=compat)
    peer_pod = _parse_peer(c, f"{path}.peer_pod", link.get("peer_pod"))
    local_intf = _parse_intf(c, f"{path}.local_intf", link.get("local_intf"), reserved=True)
    # A "localhost" or physical peer interface is a host's (it may well be eth0).
    pod_peer = peer_pod is not None and peer_kind_of(peer_pod) is PeerKind.POD
    peer_intf = _parse_intf(c, f"{path}.peer_intf", link.get("peer_intf"), reserved=pod_peer)
    local_ips = _parse_optional(c, f"{path}.local_ip", link.get("local_ip"), addresses.parse_cidr_list)
    peer_ips = _parse_optional(c, f"{path}.peer_ip", link.get("peer_ip"), addresses.parse_cidr_list)
    local_mac = _parse_optional(c, f"{path}.local_mac", link.get("local_mac"), addresses.parse_mac)
    peer_mac = _parse_optional(c, f"{path}.peer_mac", link.get("peer_mac"), addresses.parse_mac)
    mtu: int | None = None
    if link.get("mtu") is not None:
        mtu = c.integer(f"{path}.mtu", link["mtu"], lo=MTU_MIN, hi=MTU_MAX, accepts=MTU_ACCEPTS)
    bypass = link.get("bypass", True)
    if type(bypass) is not bool:
        c.bad(f"{path}.bypass", bypass, f"is not a boolean; accepted: {BYPASS_ACCEPTS}")
        bypass = True
    properties = NO_PROPERTIES
    raw_props = c.mapping(f"{path}.properties", link.get("properties"))
    if raw_props:
        try:
            properties = LinkProperties.from_strings(raw_props, where=f"{c.key}: {path}.properties")
        except ValidationError as e:
            c.problems.extend(e.problems)

    shared = set(local_ips or ()) & set(peer_ips or ())
    if shared:
        c.add(
            f"{path}.peer_ip", f"{quoted(link.get('peer_ip'))} repeats local_ip {', '.join(sorted(shared))}"
        )
    if mtu is not None and mtu < MTU_IPV6_MIN:
        v6 = [ip for ip in (*(local_ips or ()), *(peer_ips or ())) if addresses.cidr_version(ip) == 6]
        if v6:
            c.bad(f"{path}.mtu", mtu, f"is below {MTU_IPV6_MIN}, the minimum for IPv6 ({v6[0]})")
    if local_mac is not None and local_mac == peer_mac:
        c.add(f"{path}.peer_mac", f"{quoted(local_mac)} is the same as local_mac")

    if uid is None or peer_pod is None or local_intf is None or peer_intf is None:
        return None
    return Link(
        uid=uid,
        peer_pod=peer_pod,
        local_intf=local_intf,
        peer_intf=peer_intf,
        local_ips=local_ips or (),
        peer_ips=peer_ips or (),
        local_mac=local_mac,
        peer_mac=peer_mac,
        mtu=mtu,
        properties=properties,
        bypass=bypass,
    )


def _parse_links(
    c: _Collector, path: str, raw: object, *, compat: bool, own_name: str | None
) -> tuple[list[Link], set[int]]:
    """The links without problems, and the uids of links that have some."""
    links: list[Link] = []
    broken: set[int] = set()
    first_uid: dict[int, int] = {}
    first_intf: dict[str, tuple[int, int]] = {}  # interface → (index, uid) of its first link
    for i, item in enumerate(c.sequence(path, raw)):
        before = len(c.problems)
        link = _parse_link(c, f"{path}[{i}]", item, compat=compat)
        uid = item.get("uid") if isinstance(item, Mapping) else None
        if link is None:
            names.naming_uid(c.problems, uid, start=before, uid_path=f"{path}[{i}].uid:")
            if isinstance(uid, int):
                broken.add(uid)
            continue
        if link.uid in first_uid:
            c.bad(f"{path}[{i}].uid", link.uid, f"is already used by {path}[{first_uid[link.uid]}]")
        else:
            first_uid[link.uid] = i
        if own_name is not None and link.peer_pod == own_name:
            c.bad(f"{path}[{i}].peer_pod", link.peer_pod, "is this pod itself; a link joins two pods")
        names.naming_uid(c.problems, link.uid, start=before, uid_path=f"{path}[{i}].uid:")
        if link.local_intf in first_intf:
            j, other = first_intf[link.local_intf]
            c.bad(
                f"{path}[{i}].local_intf",
                link.local_intf,
                f"is already used by {path}[{j}] (uid {other}); this link is uid {link.uid}",
            )
        else:
            first_intf[link.local_intf] = (i, link.uid)
        if len(c.problems) > before:
            broken.add(link.uid)
        else:
            links.append(link)
    return links, broken


def _parse_condition(c: _Collector, path: str, raw: object) -> Condition | None:
    cond = c.mapping(path, raw)
    if cond is None:
        return None
    c.unknown_fields(path, cond, CONDITION_FIELDS)
    ctype = c.string(f"{path}.type", cond.get("type"), required=True)
    status = c.string(f"{path}.status", cond.get("status"), required=True)
    if status is not None and status not in CONDITION_STATUSES:
        c.bad(f"{path}.status", status, f"is not one of {', '.join(CONDITION_STATUSES)}")
        status = None
    reason = c.string(f"{path}.reason", cond.get("reason")) or ""
    message = c.string(f"{path}.message", cond.get("message")) or ""
    when = c.string(f"{path}.lastTransitionTime", cond.get("lastTransitionTime")) or ""
    gen: int | None = None
    if cond.get("observedGeneration") is not None:
        gen = c.integer(
            f"{path}.observedGeneration",
            cond["observedGeneration"],
            lo=0,
            hi=2**63 - 1,
            accepts="an integer ≥ 0",
        )
    if ctype is None or status is None:
        return None
    return Condition(
        type=ctype,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=when,
        observed_generation=gen,
    )


def _parse_status(c: _Collector, raw: object, *, compat: bool) -> TopologyStatus:
    status = c.mapping("status", raw)
    if not status:
        return TopologyStatus()
    c.unknown_fields("status", status, STATUS_FIELDS)
    skipped = []
    for i, item in enumerate(c.sequence("status.skipped", status.get("skipped"))):
        text = c.string(f"status.skipped[{i}]", item)
        if text is not None:
            skipped.append(text)
    conditions = [
        cond
        for i, item in enumerate(c.sequence("status.conditions", status.get("conditions")))
        if (cond := _parse_condition(c, f"status.conditions[{i}]", item)) is not None
    ]
    return TopologyStatus(
        src_ip=c.string("status.src_ip", status.get("src_ip")) or "",
        net_ns=c.string("status.net_ns", status.get("net_ns")) or "",
        links=tuple(_parse_links(c, "status.links", status.get("links"), compat=compat, own_name=None)[0]),
        skipped=tuple(skipped),
        conditions=tuple(conditions),
        net_ns_id=c.string("status.net_ns_id", status.get("net_ns_id")) or "",
        container_id=c.string("status.container_id", status.get("container_id")) or "",
    )


@dataclass(frozen=True)
class ParsedTopology:
    """The outcome of checking one raw object, also when it has problems.

    ``topology`` is None only when the object has no usable name; with problems it holds
    just the links that have none (so rules across objects can still be checked), and
    ``broken_uids`` names the links left out.
    """

    topology: Topology | None
    problems: tuple[str, ...]
    broken_uids: frozenset[int] = frozenset()


def parse_topology(obj: object, *, default_namespace: str = DEFAULT_NAMESPACE) -> ParsedTopology:
    """Check one raw Topology object (either API group), collecting every problem."""
    if not isinstance(obj, Mapping):
        return ParsedTopology(
            None, (f"{quoted(obj)} is not a Kubernetes object (a mapping with apiVersion, kind, metadata)",)
        )
    c = _Collector(object_key(obj, default_namespace=default_namespace))
    api_version = obj.get("apiVersion")
    if api_version not in TOPOLOGY_API_VERSIONS:
        c.bad("apiVersion", api_version, f"is not one of {', '.join(TOPOLOGY_API_VERSIONS)}")
    if obj.get("kind") != KIND:
        c.bad("kind", obj.get("kind"), f"is not {KIND}")
    compat = api_version == KUBE_DTN_API_VERSION
    c.unknown_fields("", obj, ("apiVersion", "kind", "metadata", "spec", "status"))

    meta = c.mapping("metadata", obj.get("metadata")) or {}
    name = c.string("metadata.name", meta.get("name"), required=True, accepts=names.POD_NAME_ACCEPTS)
    if name is not None and names.pod_name_problem(name):
        c.bad("metadata.name", name, f"is not {names.POD_NAME_ACCEPTS} (a Topology is named after its pod)")
        name = None
    namespace = c.string("metadata.namespace", meta.get("namespace")) or default_namespace
    if names.namespace_problem(namespace):
        c.bad("metadata.namespace", namespace, f"is not {names.NAMESPACE_ACCEPTS}")
    generation = meta.get("generation") or 0
    if not isinstance(generation, int) or isinstance(generation, bool):
        c.bad("metadata.generation", generation, "is not an integer")
        generation = 0
    resource_version = c.string("metadata.resourceVersion", meta.get("resourceVersion")) or ""
    labels = _string_map(c, "metadata.labels", meta.get("labels"))
    annotations = _string_map(c, "metadata.annotations", meta.get("annotations"))

    spec = c.mapping("spec", obj.get("spec")) or {}
    c.unknown_fields("spec", spec, SPEC_FIELDS)
    links, broken = _parse_links(c, "spec.links", spec.get("links"), compat=compat, own_name=name)
    status = _parse_status(c, obj.get("status"), compat=compat)
    topology = None
    if name is not None:
        topology = Topology(
            name=name,
            namespace=namespace,
            links=tuple(links),
            status=status,
            resource_version=resource_version,
            generation=generation,
            labels=labels,
            annotations=annotations,
        )
    return ParsedTopology(topology, tuple(c.problems), frozenset(broken))


def reparse_status(
    base: ParsedTopology, obj: Mapping[str, Any], *, default_namespace: str = DEFAULT_NAMESPACE
) -> ParsedTopology:
    """``parse_topology(obj)`` when ``base`` is the parse of an earlier version of ``obj``
    with the same apiVersion, metadata (but resourceVersion) and spec: only the status is
    checked again. A status write changes nothing else, and the spec is the costly part."""
    if base.problems or base.topology is None:
        return parse_topology(obj, default_namespace=default_namespace)
    c = _Collector(object_key(obj, default_namespace=default_namespace))
    status = _parse_status(c, obj.get("status"), compat=obj.get("apiVersion") == KUBE_DTN_API_VERSION)
    rv = (obj.get("metadata") or {}).get("resourceVersion")
    if c.problems or not isinstance(rv, str):
        return parse_topology(obj, default_namespace=default_namespace)  # every problem, in order
    return replace(base, topology=replace(base.topology, status=status, resource_version=rv))


def status_summary(obj: Mapping[str, Any], *, default_namespace: str = DEFAULT_NAMESPACE) -> TopologyStatus:
    """Where a stored Topology's pod is and its conditions: its status without ``links`` and
    ``skipped`` (checking those costs as much as the spec), for readers that know the spec
    already; ValidationError lists every problem of the fields read."""
    c = _Collector(object_key(obj, default_namespace=default_namespace))
    raw = obj.get("status")
    status = c.mapping("status", raw) or {}
    conditions = tuple(
        cond
        for i, item in enumerate(c.sequence("status.conditions", status.get("conditions")))
        if (cond := _parse_condition(c, f"status.conditions[{i}]", item)) is not None
    )
    summary = TopologyStatus(
        src_ip=c.string("status.src_ip", status.get("src_ip")) or "",
        net_ns=c.string("status.net_ns", status.get("net_ns")) or "",
        conditions=conditions,
    )
    if c.problems:
        raise ValidationError(list(c.problems))
    return summary


def topology_problems(
    obj: object, *, default_namespace: str = DEFAULT_NAMESPACE
) -> tuple[Topology | None, list[str]]:
    """Check one raw Topology object: the Topology (None when there are problems) and every problem."""
    parsed = parse_topology(obj, default_namespace=default_namespace)
    if parsed.problems:
        return None, list(parsed.problems)
    return parsed.topology, []


def topology_from_dict(obj: object, *, default_namespace: str = DEFAULT_NAMESPACE) -> Topology:
    """A raw Topology (either API group) → checked Topology; ValidationError lists every problem."""
    topo, problems = topology_problems(obj, default_namespace=default_namespace)
    if problems or topo is None:
        raise ValidationError(problems or ["not a Topology"])
    return topo


def link_from_dict(raw: object, *, where: str = "link") -> Link:
    """One raw link (e.g. from a gRPC or status payload) → checked Link."""
    c = _Collector(where)
    link = _parse_link(c, "link", raw, compat=True)
    if c.problems or link is None:
        raise ValidationError(c.problems or [f"{where}: not a link"])
    return link


# ---- to dicts ----------------------------------------------------------------------------


def link_to_dict(link: Link) -> dict[str, Any]:
    """A Link in kube-dtn's field names; optional fields only when set."""
    out: dict[str, Any] = {
        "uid": link.uid,
        "peer_pod": link.peer_pod,
        "local_intf": link.local_intf,
        "peer_intf": link.peer_intf,
    }
    if link.local_ips:
        out["local_ip"] = addresses.format_cidr_list(link.local_ips)
    if link.peer_ips:
        out["peer_ip"] = addresses.format_cidr_list(link.peer_ips)
    if link.local_mac:
        out["local_mac"] = link.local_mac
    if link.peer_mac:
        out["peer_mac"] = link.peer_mac
    if link.mtu is not None:
        out["mtu"] = link.mtu
    if not link.properties.is_empty():
        out["properties"] = link.properties.to_strings()
    if not link.bypass:
        out["bypass"] = False
    return out


def condition_to_dict(cond: Condition) -> dict[str, Any]:
    out: dict[str, Any] = {"type": cond.type, "status": cond.status}
    for key, value in (
        ("reason", cond.reason),
        ("message", cond.message),
        ("lastTransitionTime", cond.last_transition_time),
        ("observedGeneration", cond.observed_generation),
    ):
        if value not in ("", None):
            out[key] = value
    return out


def status_to_dict(status: TopologyStatus) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if status.src_ip:
        out["src_ip"] = status.src_ip
    if status.net_ns:
        out["net_ns"] = status.net_ns
    if status.links:
        out["links"] = [link_to_dict(link) for link in status.links]
    if status.skipped:
        out["skipped"] = list(status.skipped)
    if status.conditions:
        out["conditions"] = [condition_to_dict(cond) for cond in status.conditions]
    if status.net_ns_id:
        out["net_ns_id"] = status.net_ns_id
    if status.container_id:
        out["container_id"] = status.container_id
    return out


def topology_to_dict(topo: Topology, *, with_status: bool = True) -> dict[str, Any]:
    """A Topology as a ``kubedtn.io/v1`` object (plain dicts and lists, ready for YAML/JSON)."""
    meta: dict[str, Any] = {"name": topo.name, "namespace": topo.namespace}
    if topo.labels:
        meta["labels"] = dict(topo.labels)
    if topo.annotations:
        meta["annotations"] = dict(topo.annotations)
    if topo.resource_version:
        meta["resourceVersion"] = topo.resource_version
    if topo.generation:
        meta["generation"] = topo.generation
    out: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": meta,
        "spec": {"links": [link_to_dict(link) for link in topo.links]},
    }
    status = status_to_dict(topo.status)
    if with_status and status:
        out["status"] = status
    return out


def running_at(obj: Mapping[str, Any]) -> str:
    """The node IP a stored Topology says its pod runs at ("" when not running: both
    ``status.src_ip`` and ``status.net_ns`` are needed), read straight from the raw object:
    the daemon's follower asks this of every event, most of them status writes, and the
    controller of every Topology a Node's change concerns, without parsing them."""
    status = obj.get("status") or {}
    if not isinstance(status, Mapping) or not status.get("net_ns"):
        return ""
    return str(status.get("src_ip") or "")
