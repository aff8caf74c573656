"""The bypass marker on an interface's egress: a clsact qdisc and a direct-action bpf filter.

The eBPF TCP/IP bypass (``kubedtn.ebpf``) skips tc for TCP between local sockets, so a
link's emulated properties would silently not apply to it. A tc egress program on every
link end that carries properties (or whose link opts out of bypass) marks its flows, and
the sockops program never bypasses a marked flow. This module puts that program on an
interface and takes it off again:

* ``marker_wanted`` and ``marker_action`` — pure: whether an end wants the marker, and
  what to send given the qdiscs found on it;
* ``marker_requests`` / ``unmark_request`` — the netlink requests (pure bytes);
* ``mark`` / ``unmark`` / ``read_marker`` — thin effects on one interface of a namespace,
  for callers outside a ``Dataplane.apply`` (the apply sends the same requests in its
  per-namespace batches).

Layout: clsact at its fixed handle ``ffff:``, one bpf filter on its egress hook at a fixed
priority and handle, named ``MARKER_NAME``. Adding is a replace at those fixed places, so
adding twice is a no-op and a new program (a daemon that loaded it again) takes the old
one's place in one step. Removing deletes the clsact qdisc, which takes the filter along.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from kubedtn.dataplane.errors import DataplaneError
from kubedtn.dataplane.netlink import (
    NLM_F_CREATE,
    NLM_F_DUMP,
    NLM_F_REPLACE,
    RTM_DELQDISC,
    RTM_NEWQDISC,
    NetlinkError,
    Request,
    attr_str,
    attr_u32,
    nla,
    nla_str,
    nla_u32,
    parse_attrs,
)
from kubedtn.dataplane.netns import NsKey
from kubedtn.dataplane.qdisc import LiveQdisc
from kubedtn.dataplane.rtnl import TCA_KIND, TCA_OPTIONS, TCMSG
from kubedtn.dataplane.session import Session, Step
from kubedtn.model import LinkProperties

RTM_NEWTFILTER: Final = 44
RTM_DELTFILTER: Final = 45
RTM_GETTFILTER: Final = 46

TCA_BPF_FD: Final = 6
TCA_BPF_NAME: Final = 7
TCA_BPF_FLAGS: Final = 8
TCA_BPF_ID: Final = 11
TCA_BPF_FLAG_ACT_DIRECT: Final = 1

TC_H_CLSACT: Final = 0xFFFF_FFF1  # the clsact qdisc's parent (the same value as ingress)
CLSACT_HANDLE: Final = 0xFFFF_0000  # ffff:
TC_H_MIN_EGRESS: Final = 0xFFF3
EGRESS_PARENT: Final = (TC_H_CLSACT & 0xFFFF_0000) | TC_H_MIN_EGRESS
ETH_P_ALL: Final = 0x0003
# One filter of ours per interface, always at this priority and handle, so a replace finds it.
MARKER_PRIO: Final = 1
MARKER_HANDLE: Final = 1
MARKER_NAME: Final = "kubedtn-mark"


MarkerAction = Literal["add", "refresh", "clear"]


def marker_wanted(properties: LinkProperties, *, bypass: bool, marking: bool) -> bool:
    """Whether a link end gets the marker: the bypass is on (``marking``) and the end emulates
    properties or its link opted out of bypass."""
    return marking and (not bypass or not properties.is_empty())


def has_clsact(live: Sequence[LiveQdisc]) -> bool:
    return any(q.kind == "clsact" and q.parent == TC_H_CLSACT for q in live)


def marker_action(wanted: bool, live: Sequence[LiveQdisc]) -> MarkerAction | None:
    """What one end needs, given the qdiscs on it: ``add`` (clsact and filter), ``refresh``
    (the clsact is there: replace the filter, which costs one request and points it at the
    program loaded now, even when a daemon loaded the program again), ``clear`` (a clsact
    of ours is there and no marker is wanted), or nothing."""
    present = has_clsact(live)
    if wanted:
        return "refresh" if present else "add"
    return "clear" if present else None


def _tcmsg(ifindex: int, *, handle: int, parent: int, info: int = 0) -> bytes:
    return TCMSG.pack(0, ifindex, handle, parent, info)


def clsact_request(ifindex: int, *, what: str) -> Request:
    """Create the clsact qdisc, or keep the one there (CREATE|REPLACE of the same kind)."""
    body = _tcmsg(ifindex, handle=CLSACT_HANDLE, parent=TC_H_CLSACT) + nla_str(TCA_KIND, "clsact")
    return Request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, body, what)


def filter_request(ifindex: int, program_fd: int, *, what: str) -> Request:
    """The marker filter on clsact's egress, direct-action (the program's return is the verdict)."""
    info = (MARKER_PRIO << 16) | socket.htons(ETH_P_ALL)
    options = (
        nla_u32(TCA_BPF_FD, program_fd)
        + nla_str(TCA_BPF_NAME, MARKER_NAME)
        + nla_u32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT)
    )
    body = _tcmsg(ifindex, handle=MARKER_HANDLE, parent=EGRESS_PARENT, info=info)
    body += nla_str(TCA_KIND, "bpf") + nla(TCA_OPTIONS, options)
    return Request(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_REPLACE, body, what)


def marker_requests(ifindex: int, program_fd: int, *, where: str, clsact: bool = True) -> list[Request]:
    """The requests putting the marker on; ``clsact`` False when that qdisc is there already."""
    out = [clsact_request(ifindex, what=f"add clsact qdisc on {where}")] if clsact else []
    return [*out, filter_request(ifindex, program_fd, what=f"add bypass marker filter on {where}")]


def unmark_request(ifindex: int, *, where: str) -> Request:
    """Delete the clsact qdisc (its filters go with it)."""
    body = _tcmsg(ifindex, handle=CLSACT_HANDLE, parent=TC_H_CLSACT)
    return Request(RTM_DELQDISC, 0, body, f"remove clsact qdisc (bypass marker) from {where}")


def dump_egress_filters(ifindex: int) -> Request:
    body = _tcmsg(ifindex, handle=0, parent=EGRESS_PARENT)
    return Request(RTM_GETTFILTER, NLM_F_DUMP, body, "list egress filters")


@dataclass(frozen=True)
class LiveMarker:
    """The marker filter found on an interface: the loaded program's id and its direct-action flag."""

    program_id: int
    direct_action: bool


def parse_marker(body: memoryview) -> LiveMarker | None:
    """The marker of one filter dump reply; None for another filter (or its chain head)."""
    _family, _index, handle, _parent, _info = TCMSG.unpack_from(body)
    attrs = parse_attrs(body, TCMSG.size, len(body))
    if handle != MARKER_HANDLE or TCA_KIND not in attrs or attr_str(attrs[TCA_KIND]) != "bpf":
        return None
    options = attrs.get(TCA_OPTIONS)
    if options is None:
        return None
    opts = parse_attrs(options, 0, len(options))
    if TCA_BPF_NAME not in opts or attr_str(opts[TCA_BPF_NAME]) != MARKER_NAME:
        return None
    flags = attr_u32(opts[TCA_BPF_FLAGS]) if TCA_BPF_FLAGS in opts else 0
    program_id = attr_u32(opts[TCA_BPF_ID]) if TCA_BPF_ID in opts else 0
    return LiveMarker(program_id=program_id, direct_action=bool(flags & TCA_BPF_FLAG_ACT_DIRECT))


# ---- effects on one interface ------------------------------------------------------------


def _ifindex(session: Session, key: NsKey, name: str, where: str) -> int:
    live = session.read_links(key).get(name)
    if live is None:
        raise DataplaneError(f"{where} does not exist: cannot change its bypass marker")
    return live.ifindex


def mark(netns: str | None, name: str, program_fd: int) -> None:
    """Puts the marker program on the egress of ``name`` in ``netns`` (idempotent)."""
    with Session() as session:
        key = session.add(netns)
        where = f"{session.labels[key]}/{name}"
        index = _ifindex(session, key, name, where)
        steps = [Step(r, 0) for r in marker_requests(index, program_fd, where=where)]
        for step, failure in session.run(key, steps):
            raise DataplaneError(f"{step.request.what}: {failure.cause}")


def unmark(netns: str | None, name: str) -> bool:
    """Takes the marker (the clsact qdisc) off ``name``; False when there was none or the
    interface is gone."""
    with Session() as session:
        key = session.add(netns)
        where = f"{session.labels[key]}/{name}"
        live = session.read_links(key).get(name)
        if live is None:
            return False
        failures = session.run(key, [Step(unmark_request(live.ifindex, where=where), 0)])
        for step, failure in failures:
            if failure.code == errno.EINVAL:  # no clsact there: nothing to remove
                return False
            raise DataplaneError(f"{step.request.what}: {failure.cause}")
        return True


def read_marker(netns: str | None, name: str) -> LiveMarker | None:
    """The marker filter on ``name``'s egress, or None."""
    with Session() as session:
        key = session.add(netns)
        live = session.read_links(key).get(name)
        if live is None:
            return None
        try:
            replies = session.socket(key).request(dump_egress_filters(live.ifindex))
        except NetlinkError as e:
            if e.errno == errno.EINVAL:  # no clsact: no egress hook to list
                return None
            raise
        for message in replies:
            marker = parse_marker(message.body)
            if marker is not None:
                return marker
        return None
