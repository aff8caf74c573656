"""Link properties as qdiscs: the one place where LinkProperties become netem/tbf parameters.

Pure functions, no I/O:

* ``qdisc_plan(properties)``  — the qdiscs an interface's egress needs, in kernel units;
* ``qdisc_actions(plan, live)`` — the replace/delete requests that turn what is there into
  the plan *in place* (same handles, so the link never runs without emulation);
* ``properties_of(live)``     — the reverse: what the qdiscs on an interface emulate.

Layout (fixed handles, so every change is a change of an existing qdisc):

    only netem properties   root 1: netem
    netem + rate            root 1: netem, child 2: tbf (parent 1:1)
    only rate               root 3: tbf      (no netem needed: works on kernels without it)

tbf as root and tbf as netem's child get different handles because the kernel grafts an
existing qdisc found by handle instead of creating one: replacing the root with "tbf 2:"
while 2: is still netem's child would move that child, not make a new root.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

from kubedtn.model import LinkProperties

TC_H_ROOT: Final = 0xFFFFFFFF
NETEM_HANDLE: Final = 0x0001_0000  # 1:
NETEM_CHILD_PARENT: Final = 0x0001_0001  # 1:1, netem's only class
TBF_CHILD_HANDLE: Final = 0x0002_0000  # 2:
TBF_ROOT_HANDLE: Final = 0x0003_0000  # 3:
OUR_ROOT_HANDLES: Final = frozenset({NETEM_HANDLE, TBF_ROOT_HANDLE})

U32_MAX: Final = 0xFFFF_FFFF
# netem's packet queue when nothing asks for more (tc's default).
NETEM_DEFAULT_LIMIT: Final = 1000
# tbf needs a bucket of at least rate/HZ bytes or it cannot reach its rate; HZ is 100..1000
# depending on the kernel build (user-mode Linux: 100), so size for the slowest tick.
TBF_HZ: Final = 100
# tbf queue: as many bytes as the rate moves in this many seconds (tc's "latency 50ms").
TBF_QUEUE_S: Final = 0.05
ETH_HLEN: Final = 14
DEFAULT_MTU: Final = 1500


def percent_to_u32(percent: float) -> int:
    """0..100 % → the kernel's 0..2**32-1 probability scale."""
    return min(U32_MAX, max(0, round(percent / 100 * U32_MAX)))


def u32_to_percent(value: int) -> float:
    return round(value * 100 / U32_MAX, 6)


@dataclass(frozen=True)
class NetemParams:
    """netem parameters in kernel units: ns for times, 0..2**32-1 for probabilities."""

    latency_ns: int = 0
    jitter_ns: int = 0
    limit: int = NETEM_DEFAULT_LIMIT
    loss: int = 0
    gap: int = 0
    duplicate: int = 0
    latency_corr: int = 0
    loss_corr: int = 0
    duplicate_corr: int = 0
    reorder: int = 0
    reorder_corr: int = 0
    corrupt: int = 0
    corrupt_corr: int = 0

    kind: ClassVar[str] = "netem"


@dataclass(frozen=True)
class TbfParams:
    """tbf parameters: rate in bytes/s, bucket (burst) and queue limit in bytes."""

    rate: int
    burst: int
    limit: int

    kind: ClassVar[str] = "tbf"

    def matches(self, live: TbfParams) -> bool:
        """Equal up to the kernel's rounding of the bucket (it keeps it as time in 64 ns ticks)."""
        slack = self.rate * 128e-9 + 2
        return self.rate == live.rate and self.limit == live.limit and abs(self.burst - live.burst) <= slack


QdiscParams = NetemParams | TbfParams


@dataclass(frozen=True)
class QdiscSpec:
    """One qdisc to have on an interface's egress: where (handle, parent) and what."""

    handle: int
    parent: int
    params: QdiscParams

    @property
    def kind(self) -> str:
        return self.params.kind


@dataclass(frozen=True)
class LiveQdisc:
    """A qdisc found on an interface; params None when it is not one we can read (fq, mq...)."""

    ifindex: int
    handle: int
    parent: int
    kind: str
    params: QdiscParams | None = None


@dataclass(frozen=True)
class QdiscAction:
    """``replace``: create-or-change spec at its handle; ``delete``: remove the qdisc at handle."""

    op: Literal["replace", "delete"]
    handle: int
    parent: int
    kind: str
    params: QdiscParams | None = None


# LinkProperties percentages → the NetemParams fields that hold them on the kernel's scale.
_PERCENTS: Final[dict[str, str]] = {
    "loss": "loss",
    "duplicate": "duplicate",
    "latency_corr": "latency_corr",
    "loss_corr": "loss_corr",
    "duplicate_corr": "duplicate_corr",
    "reorder_prob": "reorder",
    "reorder_corr": "reorder_corr",
    "corrupt_prob": "corrupt",
    "corrupt_corr": "corrupt_corr",
}


def netem_params(props: LinkProperties, *, rate_bytes: int = 0) -> NetemParams:
    gap = props.gap
    if props.reorder_prob and not gap:
        gap = 1  # netem reorders only with a gap; tc's rule: reorder without gap means gap 1
    limit = NETEM_DEFAULT_LIMIT
    if rate_bytes:
        # Delayed packets wait in netem's queue before tbf paces them: room for twice what
        # the rate moves during the (jittered) delay, so the queue never caps the rate.
        held_s = (props.latency_us + 4 * props.jitter_us) / 1e6
        limit = max(limit, math.ceil(2 * rate_bytes * held_s / DEFAULT_MTU))
    return NetemParams(
        latency_ns=props.latency_us * 1000,
        jitter_ns=props.jitter_us * 1000,
        limit=limit,
        gap=gap,
        **{netem: percent_to_u32(getattr(props, field)) for field, netem in _PERCENTS.items()},
    )


def tbf_params(rate_bps: int, *, mtu: int | None = None) -> TbfParams:
    rate = math.ceil(rate_bps / 8)
    frame = (mtu or DEFAULT_MTU) + ETH_HLEN
    burst = max(math.ceil(rate / TBF_HZ), 2 * frame)
    limit = max(burst + 2 * frame, burst + math.ceil(rate * TBF_QUEUE_S))
    return TbfParams(rate=rate, burst=burst, limit=limit)


@functools.lru_cache(maxsize=4096)  # bulk applies repeat a few property sets many times
def qdisc_plan(properties: LinkProperties, *, mtu: int | None = None) -> tuple[QdiscSpec, ...]:
    """The qdiscs (root first) that make an interface's egress emulate properties."""
    if properties.is_empty():
        return ()
    rate_bytes = math.ceil(properties.rate_bps / 8)
    if not properties.needs_netem():
        return (QdiscSpec(TBF_ROOT_HANDLE, TC_H_ROOT, tbf_params(properties.rate_bps, mtu=mtu)),)
    netem = QdiscSpec(NETEM_HANDLE, TC_H_ROOT, netem_params(properties, rate_bytes=rate_bytes))
    if not rate_bytes:
        return (netem,)
    return (netem, QdiscSpec(TBF_CHILD_HANDLE, NETEM_CHILD_PARENT, tbf_params(properties.rate_bps, mtu=mtu)))


# An end's gso_max_segs: how many segments one packet may carry through it.
GSO_MAX_SEGS: Final = 65535  # the kernel's default for veth and VXLAN devices
ONE_FRAME: Final = 1


def gso_max_segs_fix(properties: LinkProperties, live: int | None, *, limit: int | None = None) -> int | None:
    """The gso_max_segs to give an end (None: leave it as it is); ``live`` is its value now
    and ``limit`` its device's most (tso_max_segs: a macvlan's is its parent's).

    netem decides per packet (lost, duplicated, delayed, reordered), and with segmentation
    offload a pod's TCP hands it packets of up to 64 KiB: a real link loses one frame,
    netem would lose 40. An end that has netem carries one frame per packet, as a real
    link does; an end without it gets the default back (at most its device's limit) only
    if it had ours. tbf alone segments packets bigger than its bucket itself."""
    # (is_empty first: one comparison, where needs_netem looks at every field; this runs
    # for every end of every apply, and most ends have no properties)
    if not properties.is_empty() and properties.needs_netem():
        return None if live == ONE_FRAME else ONE_FRAME
    return min(GSO_MAX_SEGS, limit or GSO_MAX_SEGS) if live == ONE_FRAME else None


def _same(spec: QdiscSpec, live: LiveQdisc | None) -> bool:
    if live is None or live.kind != spec.kind or live.params is None:
        return False
    if isinstance(spec.params, TbfParams):
        return isinstance(live.params, TbfParams) and spec.params.matches(live.params)
    return spec.params == live.params


def _replace(spec: QdiscSpec) -> QdiscAction:
    return QdiscAction("replace", spec.handle, spec.parent, spec.kind, spec.params)


def qdisc_actions(plan: Sequence[QdiscSpec], live: Sequence[LiveQdisc]) -> list[QdiscAction]:
    """Requests that turn the live qdiscs of one interface into plan, changing in place.

    Only qdiscs at our handles are touched, except that a desired root replaces whatever
    root is there. Already matching → no actions.
    """
    root = next((q for q in live if q.parent == TC_H_ROOT), None)
    child = next((q for q in live if q.parent == NETEM_CHILD_PARENT), None)
    ours_root = root is not None and root.handle in OUR_ROOT_HANDLES
    if not plan:
        if root is not None and ours_root:
            return [QdiscAction("delete", root.handle, TC_H_ROOT, root.kind)]
        return []
    want_root = plan[0]
    want_child = plan[1] if len(plan) > 1 else None
    actions: list[QdiscAction] = []
    root_kept = root is not None and root.handle == want_root.handle and root.kind == want_root.kind
    if not root_kept:
        actions.append(_replace(want_root))  # grafted in place of the old root in one step
    elif not _same(want_root, root):
        actions.append(_replace(want_root))  # a change of the existing qdisc
    # A replaced root takes its children with it; a kept one keeps them.
    live_child = child if root_kept else None
    if want_child is not None:
        if live_child is None or live_child.handle != want_child.handle or not _same(want_child, live_child):
            actions.append(_replace(want_child))
    elif live_child is not None and live_child.handle == TBF_CHILD_HANDLE:
        actions.append(QdiscAction("delete", live_child.handle, live_child.parent, live_child.kind))
    return actions


def properties_of(live: Sequence[LiveQdisc]) -> LinkProperties | None:
    """What the qdiscs on one interface emulate; None when they are not a layout we make."""
    root = next((q for q in live if q.parent == TC_H_ROOT), None)
    if root is None or root.handle == 0:  # the kernel's default qdisc: nothing emulated
        return LinkProperties()
    if root.handle not in OUR_ROOT_HANDLES or root.params is None:
        return None
    if isinstance(root.params, TbfParams):
        return LinkProperties(rate_bps=root.params.rate * 8)
    child = next((q for q in live if q.parent == NETEM_CHILD_PARENT), None)
    rate_bps = child.params.rate * 8 if child is not None and isinstance(child.params, TbfParams) else 0
    n = root.params
    gap = n.gap
    if n.reorder and gap == 1:
        gap = 0  # written as "reorder without gap" (see netem_params)
    return LinkProperties(
        latency_us=n.latency_ns // 1000,
        jitter_us=n.jitter_ns // 1000,
        rate_bps=rate_bps,
        gap=gap,
        **{field: u32_to_percent(getattr(n, netem)) for field, netem in _PERCENTS.items()},
    )
