"""``kubedtn physical add|del --link-file F``: the host end of a link to a physical host.

A pod's link with ``peer_pod: physical/<host ip>`` is a VXLAN end in the pod toward the
host; the host's end is made here, on the host (kube-dtn's CLI job). The file (kube-dtn's
format)::

    link:                        # the pod's link, as in its Topology
      uid: 100
      peer_pod: physical/10.0.0.55   # this host's IP (the VXLAN source here)
      local_intf: veth1          # the pod's interface
      peer_intf: veth1           # the interface made on this host
      local_ip: 34.34.34.3/24    # the pod's address
      peer_ip: 34.34.34.4/24     # this host's address on the link
    remote_ip: 10.0.0.232        # the node the pod runs on (the VXLAN remote)

``add`` makes a VXLAN ``peer_intf`` with the link's VNI (the daemon's scheme for the
pod's Kubernetes namespace and the uid), from the interface holding the host IP toward
``remote_ip``, with ``peer_ip``, up; running it again keeps a correct end and replaces a
wrong one. ``del`` removes exactly that interface (only if kubedtn made it). Both work in
the host's namespace, or in a named one (``--netns``: tests and simulated hosts).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubedtn.dataplane import Endpoint, InterfaceRef, NetlinkDataplane, VxlanSpec
from kubedtn.dataplane.netns import netns_path
from kubedtn.errors import ValidationError
from kubedtn.model import PeerKind
from kubedtn.model import names as model_names
from kubedtn.model.objects import link_from_dict

HOST_NETNS = "/proc/self/ns/net"  # this process's namespace: the host's, unless --netns


@dataclass(frozen=True)
class PhysicalLink:
    """The host end to make: what the file says, checked."""

    uid: int
    host_ip: str  # this host's underlay address (from peer_pod)
    node_ip: str  # remote_ip: the node of the pod
    intf: str  # peer_intf
    addresses: tuple[str, ...]  # peer_ip


def parse_link_file(path: str) -> PhysicalLink:
    """The file's link; ValidationError naming the file, the field, the value and what is accepted."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise ValidationError(f"--link-file {path}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ValidationError(f"--link-file {path}: not YAML: {e}") from None
    return physical_link_of(raw, where=path)


def physical_link_of(raw: object, *, where: str) -> PhysicalLink:
    if not isinstance(raw, Mapping):
        raise ValidationError(f"{where}: not a mapping with 'link' and 'remote_ip'")
    problems: list[str] = []
    unknown = sorted(set(map(str, raw)) - {"link", "remote_ip"})
    if unknown:
        problems.append(f"{where}: unknown fields {', '.join(unknown)} (accepted: link, remote_ip)")
    link = None
    try:
        link = link_from_dict(raw.get("link"), where=where)
    except ValidationError as e:
        problems += e.problems
    if link is not None and link.peer_kind is not PeerKind.PHYSICAL:
        problems.append(f"{where}: link.peer_pod: {link.peer_pod!r} is not physical/<IP of this host>")
    node_ip = _ip(raw.get("remote_ip"), f"{where}: remote_ip", problems)
    host_ip = _ip(link.physical_ip, f"{where}: link.peer_pod", problems) if link is not None else None
    if node_ip and host_ip and ipaddress.ip_address(node_ip).version != ipaddress.ip_address(host_ip).version:
        problems.append(f"{where}: remote_ip {node_ip} and the host IP {host_ip} are not the same IP version")
    if problems:
        raise ValidationError(problems)
    assert link is not None and node_ip and host_ip
    return PhysicalLink(link.uid, host_ip, node_ip, link.peer_intf, link.peer_ips)


def _ip(value: object, where: str, problems: list[str]) -> str | None:
    if value is None:
        problems.append(f"{where}: missing; give the IP address of the node the pod runs on")
        return None
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        problems.append(f"{where}: {value!r} is not an IPv4 or IPv6 address")
        return None


def _host_netns(netns: str | None) -> str:
    """--netns (a name or a path), else this process's own namespace: the host's."""
    return netns_path(netns) if netns else HOST_NETNS


def _underlay(dataplane: NetlinkDataplane, ns: str, host_ip: str) -> str:
    iface = dataplane.holder_of(ns, host_ip)
    if iface is not None:
        return iface.name
    raise ValidationError(
        f"link.peer_pod: physical/{host_ip}: {host_ip} is on no interface of "
        f"{'this host' if ns == HOST_NETNS else ns}; the file must name this host's address"
    )


def spec_of(link: PhysicalLink, *, netns: str, namespace: str, underlay: str) -> VxlanSpec:
    return VxlanSpec(
        uid=link.uid,
        endpoint=Endpoint(netns=netns, name=link.intf, addresses=link.addresses),
        vni=model_names.vni_for_link(namespace, link.uid),
        remote=link.node_ip,
        local=link.host_ip,
        underlay=underlay,
        node_netns=netns,
    )


def add(link: PhysicalLink, *, netns: str | None, namespace: str) -> VxlanSpec:
    """Makes (or corrects) the host end; the spec it applied."""
    why = model_names.namespace_problem(namespace)
    if why:
        raise ValidationError(f"--namespace: {namespace!r} {why}")
    ns = _host_netns(netns)
    dataplane = NetlinkDataplane()
    spec = spec_of(link, netns=ns, namespace=namespace, underlay=_underlay(dataplane, ns, link.host_ip))
    dataplane.apply([spec])
    return spec


def delete(link: PhysicalLink, *, netns: str | None) -> bool:
    """Removes the host end (only kubedtn's); True when it existed."""
    return bool(NetlinkDataplane().remove([InterfaceRef(_host_netns(netns), link.intf)]))


def describe(spec: VxlanSpec) -> dict[str, Any]:
    return {
        "interface": spec.endpoint.name,
        "vni": spec.vni,
        "remote": spec.remote,
        "local": spec.local,
        "dev": spec.underlay,
        "addresses": list(spec.endpoint.addresses),
    }
