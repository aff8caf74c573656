"""The netlink requests of a plan, and what their failures mean.

``create_request`` makes a link (every interface created directly in its namespace, with
its chosen ifindex); ``config_steps`` configures one end (addresses, qdiscs before the
interface goes up, then MTU/MAC/alias/gso_max_segs/up); ``failure_error`` turns a kernel refusal into
our error kinds (a taken VNI, missing netem).
"""

from __future__ import annotations

import errno

from kubedtn.dataplane import rtnl
from kubedtn.dataplane.bpfmark import marker_requests, unmark_request
from kubedtn.dataplane.errors import DataplaneError, NetemMissingError, VniInUseError, explain
from kubedtn.dataplane.netlink import Failure, Request
from kubedtn.dataplane.plan import EndPlan, LinkPlan
from kubedtn.dataplane.session import Session, Step
from kubedtn.dataplane.specs import VethSpec, VxlanSpec
from kubedtn.model import LinkProperties


def netem_needs(props: LinkProperties) -> str:
    names = [
        ("latency", props.latency_us),
        ("jitter", props.jitter_us),
        ("loss", props.loss),
        ("duplicate", props.duplicate),
        ("reorder", props.reorder_prob),
        ("corrupt", props.corrupt_prob),
        ("gap", props.gap),
    ]
    return ", ".join(n for n, v in names if v) or "netem properties"


def failure_error(step: Step, failure: Failure) -> DataplaneError:
    if step.netem_hint and failure.code == errno.ENOENT:
        return NetemMissingError(step.netem_hint)
    advice = explain(failure.code)
    if vni_taken(step, failure):
        assert isinstance(step.tag, int)
        return VniInUseError(f"{step.request.what}: {failure.cause}", vni=step.tag)
    return DataplaneError(f"{step.request.what}: {failure.cause}" + (f" — {advice}" if advice else ""))


def vni_taken(step: Step, failure: Failure) -> bool:
    """A VXLAN create refused because its VNI is in use on the node (the kernel's extack
    says so; a name or index race gives the same errno without it)."""
    return step.tag is not None and failure.code == errno.EEXIST and "VNI" in failure.message


def create_request(session: Session, lp: LinkPlan, *, group: int) -> Request:
    """The request creating the link; sent from its first end's namespace (a veth) or
    the node namespace (VXLAN, macvlan)."""
    link = lp.link
    label = session.labels
    if isinstance(link, VethSpec):
        a, b = lp.ends
        what = f"create veth {label[a.ns]}/{a.name} <-> {label[b.ns]}/{b.name}"
        return rtnl.create_veth(
            index=a.ifindex,
            name=link.a.name,
            mtu=link.a.mtu,
            mac=link.a.mac,
            peer_index=b.ifindex,
            peer_name=link.b.name,
            peer_mtu=link.b.mtu,
            peer_mac=link.b.mac,
            peer_netns_fd=session.fd(b.ns),
            group=group,
            what=what,
        )
    (end,) = lp.ends
    assert lp.node is not None
    ep = link.endpoint
    where = f"{label[end.ns]}/{end.name}"
    device = rtnl.NewDevice(
        index=end.ifindex,
        name=ep.name,
        mtu=ep.mtu,
        mac=ep.mac,
        netns_fd=session.fd(end.ns),
        group=group,
    )
    if isinstance(link, VxlanSpec):
        what = f"create vxlan {where} (vni {link.vni} to {link.remote} via {link.underlay})"
        return rtnl.create_vxlan(
            device,
            vni=link.vni,
            remote=link.remote,
            local=link.local,
            underlay_index=lp.node_ifindex,
            port=link.port,
            what=what,
        )
    what = f"create macvlan {where} on {link.parent}"
    return rtnl.create_macvlan(device, parent_index=lp.node_ifindex, what=what)


def config_steps(
    link: int, end: EndPlan, props: LinkProperties, ns: str, *, marker_fd: int | None = None
) -> list[Step]:
    """Addresses, qdiscs, the bypass marker (``marker_fd``: the loaded marker program), then
    MTU/MAC/alias/gso_max_segs/up: the marker is on before the interface carries traffic."""
    where = f"{ns}/{end.name}"
    steps = [
        Step(
            rtnl.delete_address(end.ifindex, a, what=f"remove address {a} from {where}"),
            link,
            missing_ok=True,
        )
        for a in end.del_addresses
    ]
    steps += [
        Step(rtnl.add_address(end.ifindex, a, what=f"add address {a} to {where}"), link)
        for a in end.add_addresses
    ]
    if end.qdiscs:
        hint = f"netem is not in this kernel: {netem_needs(props)} cannot be applied to {where}"
        steps += [
            Step(
                rtnl.qdisc_request(end.ifindex, q, what=f"{q.op} {q.kind} qdisc on {where}"),
                link,
                missing_ok=q.op == "delete",
                netem_hint=hint if q.kind == "netem" and q.op == "replace" else None,
            )
            for q in end.qdiscs
        ]
    if end.marker == "clear":
        steps.append(Step(unmark_request(end.ifindex, where=where), link, missing_ok=True))
    elif end.marker is not None:
        if marker_fd is None:
            raise ValueError("the bypass marker program is not loaded")
        steps += [
            Step(r, link)
            for r in marker_requests(end.ifindex, marker_fd, where=where, clsact=end.marker == "add")
        ]
    if end.up or any(v is not None for v in (end.mtu, end.mac, end.alias, end.gso_max_segs)):
        steps.append(
            Step(
                rtnl.set_link(
                    end.ifindex,
                    up=True if end.up else None,
                    mtu=end.mtu,
                    mac=end.mac,
                    alias=end.alias,
                    gso_max_segs=end.gso_max_segs,
                    what=f"set up/mtu/mac/alias/gso_max_segs of {where}",
                ),
                link,
            )
        )
    return steps
