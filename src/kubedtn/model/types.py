"""The resolved Topology types: frozen, numeric, already checked.

Raw Kubernetes-shaped dicts become these through ``kubedtn.model.documents``; every
other layer (dataplane, daemon, lab) works with these types only.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from kubedtn.errors import ValidationError
from kubedtn.model import units
from kubedtn.model.addresses import PEER_LOCALHOST, PEER_PHYSICAL_PREFIX
from kubedtn.model.namespace import DEFAULT_NAMESPACE

# Property name → (LinkProperties field, kind). Kinds: duration, percent, rate, uint.
PROPERTY_FIELDS: Final[dict[str, tuple[str, str]]] = {
    "latency": ("latency_us", "duration"),
    "latency_corr": ("latency_corr", "percent"),
    "jitter": ("jitter_us", "duration"),
    "loss": ("loss", "percent"),
    "loss_corr": ("loss_corr", "percent"),
    "rate": ("rate_bps", "rate"),
    "gap": ("gap", "uint"),
    "duplicate": ("duplicate", "percent"),
    "duplicate_corr": ("duplicate_corr", "percent"),
    "reorder_prob": ("reorder_prob", "percent"),
    "reorder_corr": ("reorder_corr", "percent"),
    "corrupt_prob": ("corrupt_prob", "percent"),
    "corrupt_corr": ("corrupt_corr", "percent"),
}

# A value that only means something when another one is set (netem's own rules:
# jitter/reorder/gap shape a delay; a correlation qualifies its base probability).
PROPERTY_REQUIRES: Final[dict[str, str]] = {
    "jitter": "latency",
    "latency_corr": "latency",
    "reorder_prob": "latency",
    "gap": "reorder_prob",
    "reorder_corr": "reorder_prob",
    "loss_corr": "loss",
    "duplicate_corr": "duplicate",
    "corrupt_corr": "corrupt_prob",
}

_PARSERS: Final[dict[str, tuple[Callable[[str], Any], Callable[[Any], str]]]] = {
    "duration": (units.parse_duration_us, units.format_duration_us),
    "percent": (units.parse_percent, units.format_percent),
    "rate": (units.parse_rate_bps, units.format_rate_bps),
    "uint": (units.parse_uint32, str),
}


# The longest property value accepted: longer than any to_strings writes (a float as
# small as 5e-324 is some 330 digits); a request or Topology carrying megabytes in one
# is refused before it is parsed.
PROPERTY_TEXT_MAX: Final = 512


def property_text(value: object, kind: str) -> str | None:
    """A property value as text, or None when its YAML type is wrong.

    Strings are taken as they are. Integers are taken for percentages, rates and gap
    (kube-dtn's older schema typed rate and gap as integers; the CRD makes those fields
    int-or-string). Floats are refused: the API server would refuse an unquoted ``0.5``
    in an int-or-string field, so a file that passes here also passes there.
    """
    if isinstance(value, str):
        return value
    if kind != "duration" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


@dataclass(frozen=True)
class LinkProperties:
    """Emulated properties of one link end (egress); numeric; 0 means "not set"."""

    latency_us: int = 0
    latency_corr: float = 0.0
    jitter_us: int = 0
    loss: float = 0.0
    loss_corr: float = 0.0
    rate_bps: int = 0
    gap: int = 0
    duplicate: float = 0.0
    duplicate_corr: float = 0.0
    reorder_prob: float = 0.0
    reorder_corr: float = 0.0
    corrupt_prob: float = 0.0
    corrupt_corr: float = 0.0

    def needs_netem(self) -> bool:
        """True when anything but the rate is set (rate alone can be a tbf)."""
        return any(getattr(self, f.name) for f in fields(self) if f.name != "rate_bps")

    def is_empty(self) -> bool:
        # Compared with the all-zero instance: one tuple comparison (this runs for every
        # link of every status written).
        return self == NO_PROPERTIES

    @classmethod
    def from_strings(cls, raw: Mapping[str, object], *, where: str) -> LinkProperties:
        """kube-dtn property strings → numbers; every problem in one ValidationError.

        ``where`` is the path of the mapping, e.g. ``default/r1: spec.links[2].properties``.
        """
        problems: list[str] = []
        values: dict[str, int | float] = {}
        for name, value in raw.items():
            if name not in PROPERTY_FIELDS:
                problems.append(f"{where}.{name}: unknown field; known: {', '.join(PROPERTY_FIELDS)}")
                continue
            attr, kind = PROPERTY_FIELDS[name]
            text = property_text(value, kind)
            if text is not None and len(text) > PROPERTY_TEXT_MAX:
                problems.append(
                    f"{where}.{name}: a value of {len(text)} characters; at most {PROPERTY_TEXT_MAX} "
                    'are accepted (e.g. "10ms", "100Mbit", "0.5%")'
                )
                continue
            if text is None:
                problems.append(
                    f"{where}.{name}: {units.quoted(value)} is not a string"
                    f'{"" if kind == "duration" else " or integer"}; write it quoted, e.g. "{value}"'
                )
                continue
            try:
                values[attr] = _PARSERS[kind][0](text)
            except units.UnitError as e:
                problems.append(f"{where}.{name}: {units.quoted(text)} {e}")
        for name, base in PROPERTY_REQUIRES.items():
            attr, base_attr = PROPERTY_FIELDS[name][0], PROPERTY_FIELDS[base][0]
            # A base that failed to parse has its own line already; do not pile a second on it.
            if values.get(attr) and not values.get(base_attr) and (base not in raw or base_attr in values):
                problems.append(
                    f"{where}.{name}: {units.quoted(raw[name])} needs {base} set (non-zero) on the same link"
                )
        if problems:
            raise ValidationError(problems)
        return cls(**values)  # type: ignore[arg-type]

    def to_strings(self) -> dict[str, str]:
        """Canonical kube-dtn text of the fields that are set (``{"latency": "10ms"}``)."""
        out: dict[str, str] = {}
        for name, (attr, kind) in PROPERTY_FIELDS.items():
            value = getattr(self, attr)
            if value:
                out[name] = _PARSERS[kind][1](value)
        return out


# A link without emulated properties (one shared instance: LinkProperties is immutable).
NO_PROPERTIES: Final = LinkProperties()


class PeerKind(enum.Enum):
    POD = "pod"  # another Topology pod (veth on one node, VXLAN across nodes)
    LOCALHOST = "localhost"  # macvlan on the host interface named by peer_intf
    PHYSICAL = "physical"  # a host outside the cluster, reached by VXLAN: physical/<ip>


def peer_kind_of(peer_pod: str) -> PeerKind:
    if peer_pod == PEER_LOCALHOST:
        return PeerKind.LOCALHOST
    if peer_pod.startswith(PEER_PHYSICAL_PREFIX):
        return PeerKind.PHYSICAL
    return PeerKind.POD


@dataclass(frozen=True)
class Link:
    """One end of a point-to-point link, as seen from the pod that owns the Topology."""

    uid: int
    peer_pod: str
    local_intf: str
    peer_intf: str
    local_ips: tuple[str, ...] = ()
    peer_ips: tuple[str, ...] = ()
    local_mac: str | None = None
    peer_mac: str | None = None
    mtu: int | None = None
    properties: LinkProperties = field(default_factory=LinkProperties)
    # False: TCP over this link never takes the eBPF TCP/IP bypass (kubedtn's, not kube-dtn's),
    # even without properties; both ends say the same.
    bypass: bool = True

    @property
    def peer_kind(self) -> PeerKind:
        return peer_kind_of(self.peer_pod)

    @property
    def physical_ip(self) -> str | None:
        """The host address of a ``physical/<ip>`` peer, else None."""
        if self.peer_kind is PeerKind.PHYSICAL:
            return self.peer_pod[len(PEER_PHYSICAL_PREFIX) :]
        return None


@dataclass(frozen=True)
class Condition:
    """A Kubernetes-style status condition (``type``/``status``/``reason``/``message``)."""

    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str = ""
    message: str = ""
    last_transition_time: str = ""  # RFC 3339, e.g. 2024-01-02T03:04:05Z
    observed_generation: int | None = None


@dataclass(frozen=True)
class TopologyStatus:
    """What the daemons observed (kube-dtn's status plus conditions)."""

    src_ip: str = ""  # IP of the node the pod runs on
    net_ns: str = ""  # network namespace path of the pod
    links: tuple[Link, ...] = ()  # links as currently plumbed
    skipped: tuple[str, ...] = ()  # peer pods skipped because they were not up yet
    conditions: tuple[Condition, ...] = ()
    # kubedtn's own: which sandbox the daemon set up. The namespace's identity ("st_dev:st_ino"
    # of the net_ns file), so a path reused by another namespace is never taken for it, and
    # the runtime's container id of the sandbox, so a late DEL of an old one is told apart.
    # Empty when not known (an older daemon, or a CRD that prunes them: then paths decide).
    net_ns_id: str = ""
    container_id: str = ""


@dataclass(frozen=True)
class Topology:
    """The links of one pod (one ``kubedtn.io/v1`` Topology object)."""

    name: str
    namespace: str = DEFAULT_NAMESPACE
    links: tuple[Link, ...] = ()
    status: TopologyStatus = field(default_factory=TopologyStatus)
    resource_version: str = ""
    generation: int = 0
    # Carried through conversions untouched; not part of equality's hash (dicts are not hashable).
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        """``namespace/name``, the prefix of every error about this object."""
        return f"{self.namespace}/{self.name}"

    @functools.cached_property  # (a peer's link is looked up once per link of the pod)
    def links_by_uid(self) -> Mapping[int, Link]:
        """The links by uid (the first of a uid listed twice, which validation refuses)."""
        out: dict[int, Link] = {}
        for link in self.links:
            out.setdefault(link.uid, link)
        return out
