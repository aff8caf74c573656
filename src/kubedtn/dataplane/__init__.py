"""The dataplane: links and their emulated properties in network namespaces.

The only package that speaks netlink. Specs in (``VethSpec``, ``VxlanSpec``,
``MacvlanSpec`` of ``Endpoint`` s), a ``Dataplane`` that makes the kernel match them and
reads back what exists (``LiveInterface``), pure decisions (``qdisc_plan``,
``qdisc_actions``, ``plan_apply``) testable without root, and bulk namespace
creation/deletion like ``ip netns add/del``.

Modules:

* ``api``      — the contract: the ``Dataplane`` Protocol, ``LinkResult``, ``ApplyReport``;
* ``specs``    — what is wanted: link specs of endpoints, checked before any kernel call;
* ``engine``   — ``NetlinkDataplane``, the kernel's ``Dataplane``: apply, set properties;
* ``plan``     — pure: what exists + what is wanted → create/keep/update/replace/refuse;
* ``qdisc``    — pure: link properties → netem/tbf qdiscs, and the changes to get there;
* ``bpfmark``  — the TCP/IP bypass's marker on an interface's egress (clsact, bpf filter);
* ``requests`` — the netlink requests of a plan, and what their failures mean;
* ``removal``  — deleting our interfaces by name or by group;
* ``reading``  — a namespace's interfaces read back (``LiveInterface``, in ``live``);
* ``session``  — sockets and fds of the namespaces of one call, batches sent and their errors;
* ``rtnl``     — rtnetlink messages encoded (our codec), replies decoded;
* ``netlink``  — the netlink socket: batched requests, dumps, per-request errors;
* ``netns``    — namespaces made, entered and deleted in bulk;
* ``addr``     — address parsing for bulk work;
* ``errors``   — the dataplane's error kinds and errno advice.

Importing the package costs nothing: each name is imported from its module when it is
first used (``kubedtn lab`` commands want ``create_namespaces`` without the engine, and
every command pays for what it imports).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kubedtn.dataplane.api import ApplyReport, Dataplane, LinkResult
    from kubedtn.dataplane.engine import KUBEDTN_GROUP, NetlinkDataplane
    from kubedtn.dataplane.errors import (
        ApplyError,
        DataplaneError,
        NamespaceNotFoundError,
        NetemMissingError,
        NotOursError,
        VniInUseError,
    )
    from kubedtn.dataplane.live import Counters, LiveInterface, VxlanInfo
    from kubedtn.dataplane.netns import (
        create_namespaces,
        delete_namespaces,
        namespace_exists,
        namespace_id,
        netns_key,
    )
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

_MODULE_OF: dict[str, str] = {
    "ApplyError": "kubedtn.dataplane.errors",
    "ApplyPlan": "kubedtn.dataplane.plan",
    "ApplyReport": "kubedtn.dataplane.api",
    "Counters": "kubedtn.dataplane.live",
    "Dataplane": "kubedtn.dataplane.api",
    "DataplaneError": "kubedtn.dataplane.errors",
    "Endpoint": "kubedtn.dataplane.specs",
    "InterfaceRef": "kubedtn.dataplane.specs",
    "KUBEDTN_GROUP": "kubedtn.dataplane.engine",
    "LinkPlan": "kubedtn.dataplane.plan",
    "LinkResult": "kubedtn.dataplane.api",
    "LinkSpec": "kubedtn.dataplane.specs",
    "LiveInterface": "kubedtn.dataplane.live",
    "LiveQdisc": "kubedtn.dataplane.qdisc",
    "NetlinkDataplane": "kubedtn.dataplane.engine",
    "MacvlanSpec": "kubedtn.dataplane.specs",
    "NamespaceNotFoundError": "kubedtn.dataplane.errors",
    "NetemMissingError": "kubedtn.dataplane.errors",
    "NetemParams": "kubedtn.dataplane.qdisc",
    "NotOursError": "kubedtn.dataplane.errors",
    "QdiscAction": "kubedtn.dataplane.qdisc",
    "QdiscSpec": "kubedtn.dataplane.qdisc",
    "TbfParams": "kubedtn.dataplane.qdisc",
    "VethSpec": "kubedtn.dataplane.specs",
    "VniInUseError": "kubedtn.dataplane.errors",
    "VxlanInfo": "kubedtn.dataplane.live",
    "VxlanSpec": "kubedtn.dataplane.specs",
    "create_namespaces": "kubedtn.dataplane.netns",
    "delete_namespaces": "kubedtn.dataplane.netns",
    "namespace_exists": "kubedtn.dataplane.netns",
    "namespace_id": "kubedtn.dataplane.netns",
    "netns_key": "kubedtn.dataplane.netns",
    "plan_apply": "kubedtn.dataplane.plan",
    "properties_of": "kubedtn.dataplane.qdisc",
    "qdisc_actions": "kubedtn.dataplane.qdisc",
    "qdisc_plan": "kubedtn.dataplane.qdisc",
    "validate_links": "kubedtn.dataplane.specs",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup does not come here
    return value


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
    "NetlinkDataplane",
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
    "namespace_id",
    "netns_key",
    "plan_apply",
    "properties_of",
    "qdisc_actions",
    "qdisc_plan",
    "validate_links",
]
