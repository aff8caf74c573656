"""Protobuf messages ↔ model types, at the gRPC boundary.

Incoming links go through the model's own checks (``link_from_dict``), so a bad link in a
request is refused with the same field-precise lines as a bad Topology file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kubedtn.dataplane import Endpoint
from kubedtn.errors import ValidationError
from kubedtn.model import Link, LinkProperties, Topology
from kubedtn.model.names import VNI_MAX, VXLAN_VNI_BASE, naming_uid, uid_for_vni
from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.model.objects import link_from_dict
from kubedtn.model.types import NO_PROPERTIES, PROPERTY_FIELDS
from kubedtn.proto.v1 import kube_dtn_pb2 as pb

if TYPE_CHECKING:  # the CLI converts links only: it does without the daemon's planning module
    from kubedtn.daemon.plan import RemoteEnd


def properties_to_pb(props: LinkProperties) -> pb.LinkProperties:
    if props.is_empty():  # (most links: a Remote batch of a thousand ends skips the field loop)
        return pb.LinkProperties()
    strings = props.to_strings()
    gap = strings.pop("gap", "")
    return pb.LinkProperties(**strings, gap=int(gap) if gap else 0)


def properties_raw(msg: pb.LinkProperties) -> dict[str, str]:
    """The set fields of a message in kube-dtn's string form (gap is a number on the wire)."""
    out: dict[str, str] = {}
    for name in PROPERTY_FIELDS:
        value = getattr(msg, name)
        if value:
            out[name] = str(value)
    return out


def link_to_pb(link: Link) -> pb.Link:
    return pb.Link(
        peer_pod=link.peer_pod,
        local_intf=link.local_intf,
        peer_intf=link.peer_intf,
        local_ip=link.local_ips[0] if link.local_ips else "",
        peer_ip=link.peer_ips[0] if link.peer_ips else "",
        uid=link.uid,
        properties=properties_to_pb(link.properties),
        local_mac=link.local_mac or "",
        peer_mac=link.peer_mac or "",
        mtu=link.mtu or 0,
        local_ips=link.local_ips,
        peer_ips=link.peer_ips,
        no_bypass=not link.bypass,
    )


def link_from_pb(msg: pb.Link, *, where: str) -> Link:
    """A request's link, checked like a Topology's (ValidationError lines start with ``where``)."""
    raw: dict[str, Any] = {
        "uid": msg.uid,
        "peer_pod": msg.peer_pod,
        "local_intf": msg.local_intf,
        "peer_intf": msg.peer_intf,
    }
    local = ",".join(msg.local_ips) or msg.local_ip
    peer = ",".join(msg.peer_ips) or msg.peer_ip
    for key, value in (
        ("local_ip", local),
        ("peer_ip", peer),
        ("local_mac", msg.local_mac),
        ("peer_mac", msg.peer_mac),
    ):
        if value:
            raw[key] = value
    if msg.mtu:
        raw["mtu"] = msg.mtu
    props = properties_raw(msg.properties)
    if props:
        raw["properties"] = props
    if msg.no_bypass:
        raw["bypass"] = False
    return link_from_dict(raw, where=where)


def links_from_pb(msgs: Any, *, where: str) -> list[Link]:
    """Every link of a request; one ValidationError with the problems of all bad ones."""
    links: list[Link] = []
    problems: list[str] = []
    for i, msg in enumerate(msgs):
        try:
            links.append(link_from_pb(msg, where=f"{where}: links[{i}]"))
        except ValidationError as e:
            start = len(problems)
            problems += e.problems
            naming_uid(problems, msg.uid, start=start, uid_path=f"links[{i}].uid")
    if problems:
        raise ValidationError(problems)
    return links


def pod_to_pb(topo: Topology, *, ready: bool) -> pb.Pod:
    return pb.Pod(
        name=topo.name,
        src_ip=topo.status.src_ip,
        net_ns=topo.status.net_ns,
        kube_ns=topo.namespace,
        links=[link_to_pb(link) for link in topo.links],
        safe=ready,
    )


def _remote_fields(end: RemoteEnd) -> dict[str, Any]:
    ep = end.endpoint
    fields: dict[str, Any] = {
        "net_ns": ep.netns,
        "intf_name": ep.name,
        "intf_ip": ep.addresses[0] if ep.addresses else "",
        "peer_vtep": end.vtep,
        "kube_ns": end.kube_ns,
        "vni": end.vni,
        "name": end.pod,
        "mtu": ep.mtu or 0,
        "intf_ips": ep.addresses,
        "intf_mac": ep.mac or "",
        "link_uid": end.uid,
    }
    if not ep.properties.is_empty():
        fields["properties"] = properties_to_pb(ep.properties)
    return fields


def remote_to_pb(end: RemoteEnd) -> pb.RemotePod:
    return pb.RemotePod(**_remote_fields(end))


def remotes_to_pb(ends: Iterable[RemoteEnd]) -> pb.RemotePods:
    """Many ends in one request, each made in place (building RemotePod messages and
    handing them over copies each: twice the time for a thousand)."""
    request = pb.RemotePods()
    for end in ends:
        request.pods.add(**_remote_fields(end))
    return request


def remote_from_pb(msg: pb.RemotePod, *, node_ip: str) -> RemoteEnd:
    """A peer daemon's request for our end of a cross-node link (kube-dtn peers send no
    link_uid: it is then the uid whose VNI this is, see ``model.names.vni_for_link``).

    A batch brings a thousand of these: each field is read once, and the words for errors
    and the properties' parsing cost nothing when there are none."""
    kube_ns, name, net_ns, vtep, vni = (
        msg.kube_ns or DEFAULT_NAMESPACE,
        msg.name,
        msg.net_ns,
        msg.peer_vtep,
        msg.vni,
    )
    uid = msg.link_uid or uid_for_vni(kube_ns, vni)
    props, props_problems = NO_PROPERTIES, []
    if msg.properties.ByteSize():
        try:
            where = f"Remote.Update {kube_ns}/{name}: properties"
            props = LinkProperties.from_strings(properties_raw(msg.properties), where=where)
        except ValidationError as e:
            props_problems = e.problems
    if uid is None or not net_ns or not vtep or props_problems:
        where = f"Remote.Update {kube_ns}/{name}"
        problems = []
        if not net_ns:
            problems.append(f"{where}: net_ns is empty; give the pod's network namespace path")
        if not vtep:
            problems.append(f"{where}: peer_vtep is empty; give the other node's IP")
        if uid is None:
            problems.append(
                f"{where}: vni {vni} is not a link's VNI ({VXLAN_VNI_BASE}..{VNI_MAX}) "
                "and no link_uid was given"
            )
        raise ValidationError(problems + list(props_problems))
    addresses = tuple(msg.intf_ips) or ((msg.intf_ip,) if msg.intf_ip else ())
    endpoint = Endpoint(
        netns=net_ns,
        name=msg.intf_name,
        addresses=addresses,
        mac=msg.intf_mac or None,
        mtu=msg.mtu or None,
        properties=props,
    )
    from kubedtn.daemon.plan import RemoteEnd

    return RemoteEnd(
        pod=name, kube_ns=kube_ns, node_ip=node_ip, uid=uid, vni=vni, vtep=vtep, endpoint=endpoint
    )
