"""How far a peer daemon's ``Remote`` request is trusted: as far as the store backs it.

Pure decisions (no I/O). A request names a pod of this node and a link uid; everything
else the far end is made of comes from the store, not from the message:

=====================================  ===============================================
the message says                       what is used / required
=====================================  ===============================================
pod (namespace/name)                   recorded running on this node (src_ip = ours)
net_ns                                 the pod's recorded one
link uid                               a link of that pod, to another Topology pod
intf_name, addresses, MAC, MTU,        ignored: built from the two Topologies as the
properties                             asking daemon's plan builds them
vni                                    the link's VNI (``vni_for_link``)
peer_vtep                              the node the peer pod is recorded on; when the
                                       peer is not recorded running yet (its daemon asks
                                       before marking it alive), any IP but this node's
=====================================  ===============================================

A removal (``DeleteMany``) acts on a pod recorded running here only in its recorded
namespace (a stale request about a namespace the pod left does nothing); on a pod
recorded running nowhere (a far end made just before it went down) in the namespace the
request names, which must pass :class:`NetnsGuard`; on an interface that is never ``lo``
or ``eth0``, and only while that is our VXLAN toward the named VTEP with that VNI
(checked on the live interface by ``kubedtn.daemon.farends``).

With mutual TLS (``--tls-cert``), the caller is the node its certificate names (IP SANs;
:class:`Caller`), and an end is made or removed only for that node: its ``peer_vtep`` (the
asking node's IP) must be one of the certificate's IPs (:func:`check_caller`), so a node
can neither make nor take back ends toward another node. With ``--insecure-remote-tcp``
the caller is not known: a request that the store backs is acted on whoever sends it.

A namespace path a ``Local`` request names (SetupPod, SetAlive, CheckPod) must be a file
directly in one of the runtime directories (``--netns-dirs``) or ``/proc/PID/ns/net``, be a
network namespace (opened without following a last symbolic link, without blocking and
only when it is a regular file: never a FIFO or a device), and not the node's own
namespace nor PID 1's (:class:`NetnsGuard`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from kubedtn.daemon.plan import NodeInfo, RemoteEnd, end_problems, far_endpoint, is_alive, peer_key
from kubedtn.dataplane import NamespaceNotFoundError, netns_key
from kubedtn.errors import PermissionDeniedError
from kubedtn.model import PeerKind, Topology
from kubedtn.model.names import interface_name_problem, vni_for_link


def _where(end: RemoteEnd) -> str:
    return f"Remote: {end.kube_ns}/{end.pod} link {end.uid}"


@dataclass(frozen=True)
class Caller:
    """The peer daemon of a Remote request as its verified TLS certificate names it."""

    ips: frozenset[str]  # IP SANs, normalised (``ipaddress``'s text form)
    names: frozenset[str]  # DNS SANs (the node's name: for messages)

    def describe(self) -> str:
        names = ", ".join(sorted(self.names)) or "no name"
        return f"{names} ({', '.join(sorted(self.ips)) or 'no IP'})"


def _normal_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def caller_from_auth(auth: Mapping[str, Sequence[bytes]]) -> Caller:
    """The caller of a TLS call from gRPC's ``context.auth_context()``: its certificate's
    IP SANs (``peer_ip``) and DNS SANs (``peer_dns``). The CA signed them; the server
    verified the chain before the call reached us."""
    ips = {_normal_ip(v.decode(errors="replace")) for v in auth.get("peer_ip", ())}
    names = {v.decode(errors="replace") for v in auth.get("peer_dns", ())}
    return Caller(ips=frozenset(ip for ip in ips if ip is not None), names=frozenset(names))


def check_caller(end: RemoteEnd, caller: Caller | None) -> None:
    """PermissionDeniedError when ``end`` is asked for another node than the caller's
    certificate names (``caller`` None: not authenticated, ``--insecure-remote-tcp``)."""
    if caller is None:
        return
    vtep = _normal_ip(end.vtep)
    if vtep is None or vtep not in caller.ips:
        raise PermissionDeniedError(
            f"{_where(end)}: peer_vtep {end.vtep!r} is not an IP of the caller's certificate "
            f"({caller.describe()}); a node asks for ends toward itself only"
        )


def recorded_here(end: RemoteEnd, pod: Topology | None, *, node: NodeInfo) -> Topology | None:
    """The pod's Topology when the store records it running on this node; None when it is
    recorded running nowhere (its ends went with it: ``DestroyPod`` removes them)."""
    if pod is None:
        raise PermissionDeniedError(
            f"{_where(end)}: no Topology {end.kube_ns}/{end.pod} in the store; this daemon makes "
            "and removes ends only of pods recorded running on its node"
        )
    if not is_alive(pod) and not pod.status.src_ip:
        return None
    if not is_alive(pod) or pod.status.src_ip != node.ip:
        raise PermissionDeniedError(
            f"{_where(end)}: {pod.key} is recorded running on "
            f"{pod.status.src_ip or 'no node'}, not on this node ({node.ip})"
        )
    return pod


def trusted_far_end(
    end: RemoteEnd, pod: Topology | None, peers: dict[str, Topology], *, node: NodeInfo
) -> RemoteEnd:
    """``end`` as the store has it (module table); PermissionDeniedError naming what the
    store does not back. ``peers``: Topologies by ``namespace/name`` (at least the peer)."""
    here = recorded_here(end, pod, node=node)
    if here is None:
        raise PermissionDeniedError(f"{_where(end)}: {end.kube_ns}/{end.pod} is recorded running nowhere")
    if here.status.net_ns != end.endpoint.netns:
        raise PermissionDeniedError(
            f"{_where(end)}: {here.key} is not running in {end.endpoint.netns} on this node "
            f"(recorded: {here.status.net_ns})"
        )
    link = here.links_by_uid.get(end.uid)
    if link is None or link.peer_kind is not PeerKind.POD:
        raise PermissionDeniedError(
            f"{_where(end)}: {here.key} has no link with uid {end.uid} to another pod in the store"
        )
    vni = vni_for_link(here.namespace, end.uid)
    if end.vni != vni:
        raise PermissionDeniedError(f"{_where(end)}: vni {end.vni} is not the link's VNI ({vni})")
    key = peer_key(here, link)
    peer = peers.get(key)
    far = None if peer is None else peer.links_by_uid.get(end.uid)
    if peer is None or far is None:
        raise PermissionDeniedError(
            f"{_where(end)}: the peer {key} has no link with uid {end.uid} in the store"
        )
    problems = end_problems(peer, far, here, link)
    if problems:
        raise PermissionDeniedError(f"{_where(end)}: the store's two ends disagree: {'; '.join(problems)}")
    _check_vtep(end, peer, node=node)
    endpoint = far_endpoint(here, far, link)
    name_problem = interface_name_problem(endpoint.name)
    if name_problem is not None:  # the model refuses these in a Topology already
        raise PermissionDeniedError(f"{_where(end)}: interface {endpoint.name!r} {name_problem}")
    return replace(end, endpoint=endpoint)


def _check_vtep(end: RemoteEnd, peer: Topology, *, node: NodeInfo) -> None:
    try:
        ipaddress.ip_address(end.vtep)
    except ValueError:
        raise PermissionDeniedError(f"{_where(end)}: peer_vtep {end.vtep!r} is not an IP address") from None
    if end.vtep == node.ip:
        raise PermissionDeniedError(f"{_where(end)}: peer_vtep {end.vtep} is this node")
    if is_alive(peer) and end.vtep != peer.status.src_ip:
        raise PermissionDeniedError(
            f"{_where(end)}: peer_vtep {end.vtep} is not the node {peer.key} is recorded "
            f"running on ({peer.status.src_ip})"
        )


def removable_name(end: RemoteEnd) -> str:
    """The interface a removal may touch (never the loopback or the pod's primary one)."""
    name = end.endpoint.name
    problem = interface_name_problem(name)
    if problem is not None:
        raise PermissionDeniedError(f"{_where(end)}: intf_name {name!r} {problem}")
    return name


_PROC_NETNS: Final = re.compile(r"/proc/[1-9][0-9]*/ns/net")
# The node's own namespace and the host's: links made there would be the node's.
NODE_NAMESPACES: Final = ("/proc/self/ns/net", "/proc/1/ns/net")


def netns_path_problem(path: str, dirs: Sequence[str]) -> str | None:
    """Why ``path`` may not name a pod's namespace (None when it may): a file directly in
    one of ``dirs``, or ``/proc/PID/ns/net``."""
    if _PROC_NETNS.fullmatch(path):
        return None
    parent, _, name = path.rpartition("/")
    if path == os.path.normpath(path) and parent in dirs and name not in ("", ".", ".."):
        return None
    return f"is not a file in {', '.join(dirs)} nor /proc/PID/ns/net (--netns-dirs sets the directories)"


class NetnsGuard:
    """Refuses a namespace path outside the allowed places, or naming the node's namespace."""

    def __init__(self, dirs: Sequence[str], *, node_namespaces: Sequence[str] = NODE_NAMESPACES) -> None:
        self.dirs = tuple(dirs)
        self._node: dict[tuple[int, int], str] = {}
        for path in node_namespaces:
            # one this daemon cannot open (PID 1's in a container): nor can a request
            with contextlib.suppress(NamespaceNotFoundError):
                self._node[netns_key(path)] = path

    def check(self, path: str, *, what: str) -> None:
        """PermissionDeniedError naming ``what``."""
        problem = netns_path_problem(path, self.dirs)
        if problem is not None:
            raise PermissionDeniedError(f"{what}: net_ns {path!r} {problem}")
        try:
            key = netns_key(path)
        except NamespaceNotFoundError:
            return  # nothing there (or no namespace): the request fails on it per pod, at once
        node = self._node.get(key)
        if node is not None:
            raise PermissionDeniedError(
                f"{what}: net_ns {path} is the node's own network namespace (that of {node}), not a pod's"
            )
