"""Link properties → qdiscs, the in-place transitions between layouts, and back."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubedtn.dataplane.qdisc import (
    NETEM_CHILD_PARENT,
    NETEM_HANDLE,
    TBF_CHILD_HANDLE,
    TBF_ROOT_HANDLE,
    TC_H_ROOT,
    LiveQdisc,
    NetemParams,
    QdiscSpec,
    TbfParams,
    percent_to_u32,
    properties_of,
    qdisc_actions,
    qdisc_plan,
    u32_to_percent,
)
from kubedtn.model import LinkProperties

MBIT = 1_000_000


def live(plan: tuple[QdiscSpec, ...], ifindex: int = 2) -> list[LiveQdisc]:
    return [LiveQdisc(ifindex, q.handle, q.parent, q.kind, q.params) for q in plan]


def test_no_properties_no_qdiscs() -> None:
    assert qdisc_plan(LinkProperties()) == ()


def test_netem_parameters_are_in_kernel_units() -> None:
    (netem,) = qdisc_plan(LinkProperties(latency_us=20_000, jitter_us=1_500, loss=1.0, duplicate=0.5))
    assert (netem.handle, netem.parent, netem.kind) == (NETEM_HANDLE, TC_H_ROOT, "netem")
    p = netem.params
    assert isinstance(p, NetemParams)
    assert p.latency_ns == 20_000_000 and p.jitter_ns == 1_500_000
    assert p.loss == round(0.01 * 0xFFFFFFFF) and p.duplicate == round(0.005 * 0xFFFFFFFF)
    assert p.limit == 1000  # tc's default queue


def test_reorder_without_gap_gets_gap_1_like_tc() -> None:
    (netem,) = qdisc_plan(LinkProperties(latency_us=10_000, reorder_prob=25.0))
    assert isinstance(netem.params, NetemParams) and netem.params.gap == 1
    (netem,) = qdisc_plan(LinkProperties(latency_us=10_000, reorder_prob=25.0, gap=5))
    assert isinstance(netem.params, NetemParams) and netem.params.gap == 5


def test_rate_alone_is_a_root_tbf_with_burst_of_at_least_rate_over_hz() -> None:
    (tbf,) = qdisc_plan(LinkProperties(rate_bps=50 * MBIT))
    assert (tbf.handle, tbf.parent, tbf.kind) == (TBF_ROOT_HANDLE, TC_H_ROOT, "tbf")
    p = tbf.params
    assert isinstance(p, TbfParams)
    assert p.rate == 50 * MBIT // 8
    assert p.burst >= p.rate / 100  # enough for HZ=100 (and so for 250, 1000)
    assert p.limit >= p.burst + p.rate * 0.05  # 50 ms of queue beyond the bucket


def test_slow_rate_still_passes_full_frames() -> None:
    (tbf,) = qdisc_plan(LinkProperties(rate_bps=8_000), mtu=9000)
    assert isinstance(tbf.params, TbfParams)
    assert tbf.params.burst >= 9014 and tbf.params.limit > tbf.params.burst


def test_rate_above_32_bits_of_bytes() -> None:
    (tbf,) = qdisc_plan(LinkProperties(rate_bps=100_000_000_000))  # 100 Gbit/s = 12.5 GB/s
    assert isinstance(tbf.params, TbfParams) and tbf.params.rate == 12_500_000_000


def test_netem_and_rate_make_netem_with_tbf_child_and_a_queue_for_the_delay() -> None:
    netem, tbf = qdisc_plan(LinkProperties(latency_us=100_000, rate_bps=1000 * MBIT))
    assert (netem.handle, netem.parent) == (NETEM_HANDLE, TC_H_ROOT)
    assert (tbf.handle, tbf.parent) == (TBF_CHILD_HANDLE, NETEM_CHILD_PARENT)
    assert isinstance(netem.params, NetemParams)
    # 1 Gbit/s for 100 ms is ~8300 full frames: the queue must hold them
    assert netem.params.limit >= math.ceil(1000 * MBIT / 8 * 0.1 / 1500)


# ---- transitions ---------------------------------------------------------------------------

NETEM = LinkProperties(latency_us=10_000)
NETEM2 = LinkProperties(latency_us=50_000)
RATE = LinkProperties(rate_bps=10 * MBIT)
BOTH = LinkProperties(latency_us=10_000, rate_bps=10 * MBIT)


def ops(before: LinkProperties, after: LinkProperties) -> list[tuple[str, str, int]]:
    return [(a.op, a.kind, a.handle) for a in qdisc_actions(qdisc_plan(after), live(qdisc_plan(before)))]


def test_same_properties_need_no_action() -> None:
    for props in (NETEM, RATE, BOTH, LinkProperties()):
        assert ops(props, props) == []


def test_netem_change_is_a_change_of_the_same_qdisc() -> None:
    assert ops(NETEM, NETEM2) == [("replace", "netem", NETEM_HANDLE)]


def test_adding_rate_to_netem_adds_only_the_child() -> None:
    assert ops(NETEM, BOTH) == [("replace", "tbf", TBF_CHILD_HANDLE)]


def test_dropping_rate_from_netem_deletes_only_the_child() -> None:
    assert ops(BOTH, NETEM) == [("delete", "tbf", TBF_CHILD_HANDLE)]


def test_rate_to_netem_and_rate_grafts_a_new_root_then_its_child() -> None:
    assert ops(RATE, BOTH) == [("replace", "netem", NETEM_HANDLE), ("replace", "tbf", TBF_CHILD_HANDLE)]


def test_netem_and_rate_to_rate_grafts_a_tbf_root_in_one_step() -> None:
    assert ops(BOTH, RATE) == [("replace", "tbf", TBF_ROOT_HANDLE)]


def test_clearing_deletes_our_root_only() -> None:
    assert ops(BOTH, LinkProperties()) == [("delete", "netem", NETEM_HANDLE)]
    assert ops(RATE, LinkProperties()) == [("delete", "tbf", TBF_ROOT_HANDLE)]
    foreign = [LiveQdisc(2, 0x80010000, TC_H_ROOT, "fq_codel")]
    assert qdisc_actions((), foreign) == []
    assert qdisc_actions((), [LiveQdisc(2, 0, TC_H_ROOT, "noqueue")]) == []


def test_foreign_root_is_replaced_by_ours() -> None:
    foreign = [LiveQdisc(2, 0x80010000, TC_H_ROOT, "fq_codel")]
    assert [(a.op, a.kind) for a in qdisc_actions(qdisc_plan(RATE), foreign)] == [("replace", "tbf")]


def test_tbf_bucket_rounding_by_the_kernel_is_not_a_difference() -> None:
    (spec,) = qdisc_plan(RATE)
    assert isinstance(spec.params, TbfParams)
    rounded = TbfParams(rate=spec.params.rate, burst=spec.params.burst - 1, limit=spec.params.limit)
    assert qdisc_actions((spec,), [LiveQdisc(2, spec.handle, spec.parent, "tbf", rounded)]) == []
    off = TbfParams(rate=spec.params.rate, burst=spec.params.burst // 2, limit=spec.params.limit)
    assert len(qdisc_actions((spec,), [LiveQdisc(2, spec.handle, spec.parent, "tbf", off)])) == 1


# ---- reading back --------------------------------------------------------------------------

percent = st.sampled_from([0.0, 0.001, 0.5, 1.0, 10.0, 25.5, 99.999, 100.0])


@st.composite
def link_properties(draw: st.DrawFn) -> LinkProperties:
    latency = draw(st.integers(0, 10**8))
    loss = draw(percent)
    return LinkProperties(
        latency_us=latency,
        jitter_us=draw(st.integers(0, 10**6)) if latency else 0,
        loss=loss,
        loss_corr=draw(percent) if loss else 0.0,
        duplicate=draw(percent),
        corrupt_prob=draw(percent),
        reorder_prob=draw(percent) if latency else 0.0,
        rate_bps=draw(st.sampled_from([0, 8_000, 10 * MBIT, 10**11])),
    )


@given(props=link_properties())
def test_properties_survive_the_round_trip(props: LinkProperties) -> None:
    assert properties_of(live(qdisc_plan(props))) == props


def test_unknown_layouts_are_not_guessed() -> None:
    assert properties_of([LiveQdisc(2, 0x80010000, TC_H_ROOT, "fq_codel")]) is None
    assert properties_of([LiveQdisc(2, 0, TC_H_ROOT, "noqueue")]) == LinkProperties()
    assert properties_of([]) == LinkProperties()


@pytest.mark.parametrize("pct", [0.0, 0.0001, 1.0, 33.333333, 100.0])
def test_percent_scale(pct: float) -> None:
    assert u32_to_percent(percent_to_u32(pct)) == pytest.approx(pct, abs=1e-6)
