"""The dataplane: links and their emulated properties in network namespaces.

The only package that speaks netlink. Specs in (``VethSpec``, ``VxlanSpec``,
``MacvlanSpec`` of ``Endpoint`` s), a ``Dataplane`` that makes the kernel match them and
reads back what exists (``LiveInterface``), pure decisions (``qdisc_plan``,
``qdisc_actions``, ``plan_apply``) testable without root, and bulk namespace
creation/deletion like ``ip netns add/del``.
"""

from kubedtn.dataplane.engine import KUBEDTN_GROUP, ApplyReport, Dataplane, LinkResult
from kubedtn.dataplane.errors import (
    ApplyError,
    DataplaneError,
    NamespaceNotFoundError,
    NetemMissingError,
    NotOursError,
    VniInUseError,
)
from kubedtn.dataplane.live import Counters, LiveInterface, VxlanInfo
from kubedtn.dataplane.netns import create_namespaces, delete_namespaces, namespace_exists
from kubedtn.dataplane.plan import ApplyPlan, LinkPlan, plan_apply
from kubedtn.dataplane.qdisc import (
    LiveQdisc,
    NetemParams,
    QdiscAction,
    QdiscSpec,
    TbfParams,
    properties_of,
    qdisc_actions,
    qdisc_plan,
)
from kubedtn.dataplane.specs import (
    Endpoint,
    InterfaceRef,
    LinkSpec,
    MacvlanSpec,
    VethSpec,
    VxlanSpec,
    validate_links,
)

__all__ = [
    "KUBEDTN_GROUP",
    "ApplyError",
    "ApplyPlan",
    "ApplyReport",
    "Counters",
    "Dataplane",
    "DataplaneError",
    "Endpoint",
    "InterfaceRef",
    "LinkPlan",
    "LinkResult",
    "LinkSpec",
    "LiveInterface",
    "LiveQdisc",
    "MacvlanSpec",
    "NamespaceNotFoundError",
    "NetemMissingError",
    "NetemParams",
    "NotOursError",
    "QdiscAction",
    "QdiscSpec",
    "TbfParams",
    "VethSpec",
    "VniInUseError",
    "VxlanInfo",
    "VxlanSpec",
    "create_namespaces",
    "delete_namespaces",
    "namespace_exists",
    "plan_apply",
    "properties_of",
    "qdisc_actions",
    "qdisc_plan",
    "validate_links",
]
