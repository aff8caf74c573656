"""`link set` decisions: per-end semantics, merging, --clear, --both, the model's error lines."""

from __future__ import annotations

import pytest

from kubedtn.errors import NotFoundError, ValidationError
from kubedtn.lab.linkset import plan_changes
from kubedtn.model import LinkProperties, Topology
from kubedtn.model.objects import topology_from_dict
from tests.unit.model import helpers


def _topo(name: str, links: list[dict[str, object]]) -> Topology:
    return topology_from_dict(helpers.topology(name, *links))


TOPOLOGIES = {
    t.key: t
    for t in (
        _topo(
            "r1",
            [
                {
                    "uid": 1,
                    "peer_pod": "r2",
                    "local_intf": "eth1",
                    "peer_intf": "eth1",
                    "properties": {"latency": "10ms"},
                },
                {"uid": 2, "peer_pod": "physical/10.0.0.9", "local_intf": "eth2", "peer_intf": "eth0"},
            ],
        ),
        _topo("r2", [{"uid": 1, "peer_pod": "r1", "local_intf": "eth1", "peer_intf": "eth1"}]),
    )
}


def _plan(**kw: object) -> list:  # type: ignore[type-arg]
    args = {"kube_ns": "default", "pod": "r1", "intf": "eth1", "clear": False, "both": False, **kw}
    return plan_changes(TOPOLOGIES, **args)  # type: ignore[arg-type]


def test_given_values_merge_into_the_end() -> None:
    (change,) = _plan(given={"rate": "100mbit", "loss": "1"})
    assert change.where == "r1/eth1" and change.index == 0
    assert change.before == LinkProperties(latency_us=10_000)
    assert change.after == LinkProperties(latency_us=10_000, loss=1.0, rate_bps=100_000_000)
    assert change.changed


def test_clear_and_zero() -> None:
    (cleared,) = _plan(given={}, clear=True)
    assert cleared.after == LinkProperties()
    (zeroed,) = _plan(given={"latency": "0", "rate": "1mbit"})
    assert zeroed.after == LinkProperties(rate_bps=1_000_000)
    (same,) = _plan(given={"latency": "10ms"})
    assert not same.changed


def test_both_sets_the_far_end_too() -> None:
    near, far = _plan(given={"loss": "2"}, both=True)
    assert far.where == "r2/eth1" and far.after == LinkProperties(loss=2.0)
    assert near.after == LinkProperties(latency_us=10_000, loss=2.0)


def test_errors_use_the_models_words() -> None:
    with pytest.raises(ValidationError) as e:
        _plan(given={"latency": "fast", "loss": "150"})
    assert e.value.problems == [
        'default/r1: spec.links[0].properties.latency: "fast" is not a duration like "300ms", "1.5s", '
        '"1m30s", "10us" (at most 71m34s) (uid 1)',
        'default/r1: spec.links[0].properties.loss: "150" is not a percentage (0-100), '
        'like "1", "0.5" or "1%" (uid 1)',
    ]
    with pytest.raises(ValidationError, match='jitter: "2ms" needs latency set'):
        _plan(given={"jitter": "2ms", "latency": "0"})


def test_unknown_interface_and_both_to_a_host() -> None:
    with pytest.raises(
        NotFoundError, match=r"default/r1 has no link on interface eth7 \(its link interfaces: eth1, eth2\)"
    ):
        _plan(given={"loss": "1"}, intf="eth7")
    with pytest.raises(ValidationError, match=r"physical/10\.0\.0\.9, not a pod of the lab"):
        _plan(given={"loss": "1"}, intf="eth2", both=True)
