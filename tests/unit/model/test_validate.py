"""Rules across Topologies: both ends agree, a uid joins one pair, present peers carry the link."""

from __future__ import annotations

from typing import Any

import pytest

from kubedtn.errors import ValidationError
from kubedtn.model import Link, Topology
from kubedtn.model.objects import topology_from_dict
from kubedtn.model.validate import check_set, set_problems, validate_topology
from tests.support.topologies import link
from tests.unit.model.helpers import ring, topology


def parsed(objs: list[dict[str, Any]]) -> list[Topology]:
    return [topology_from_dict(o) for o in objs]


def test_ring_is_consistent() -> None:
    assert set_problems(parsed(ring())) == []
    check_set(parsed(ring()))


def test_each_end_keeps_its_own_properties() -> None:
    objs = ring()
    objs[0]["spec"]["links"][0]["properties"] = {"latency": "10ms"}
    objs[1]["spec"]["links"][0]["properties"] = {"rate": "1Gbit"}
    assert set_problems(parsed(objs)) == []


def test_absent_peer_is_fine() -> None:
    assert set_problems(parsed([ring()[0]])) == []


def test_present_peer_without_the_link() -> None:
    objs = ring()
    del objs[1]["spec"]["links"][0]  # r2 forgets uid 1
    assert set_problems(parsed(objs)) == [
        'default/r1: spec.links[0]: peer default/r2 has no link with uid 1 (expected local_intf "eth1", '
        'peer_pod "r1")'
    ]


@pytest.mark.parametrize(
    ("field", "value", "line"),
    [
        (
            "local_intf",
            "eth9",
            'default/r1: spec.links[0].peer_intf: "eth1" but default/r2 spec.links[0] has local_intf "eth9"',
        ),
        (
            "peer_intf",
            "eth9",
            'default/r1: spec.links[0].local_intf: "eth1" but default/r2 spec.links[0] has peer_intf "eth9"',
        ),
        (
            "local_ip",
            "10.0.12.9/24",
            'default/r1: spec.links[0].peer_ip: "10.0.12.2/24" but default/r2 spec.links[0] has local_ip '
            '"10.0.12.9/24"',
        ),
        (
            "peer_ip",
            "10.0.12.9/24",
            'default/r1: spec.links[0].local_ip: "10.0.12.1/24" but default/r2 spec.links[0] has peer_ip '
            '"10.0.12.9/24"',
        ),
        (
            "mtu",
            9000,
            "default/r1: spec.links[0].mtu: unset but default/r2 spec.links[0] has mtu 9000; both ends "
            "of a link need the same MTU",
        ),
        (
            "bypass",
            False,
            "default/r1: spec.links[0].bypass: true but default/r2 spec.links[0] has bypass false; both "
            "ends of a link need the same bypass (false on both to keep TCP on this link in the stack)",
        ),
    ],
)
def test_ends_disagree(field: str, value: Any, line: str) -> None:
    objs = ring()
    objs[1]["spec"]["links"][0][field] = value
    assert set_problems(parsed(objs)) == [f"{line} (uid 1)"]  # the uid: the index alone changes


def test_macs_must_be_swapped() -> None:
    objs = ring()
    objs[0]["spec"]["links"][0].update(local_mac="02:00:00:00:00:01", peer_mac="02:00:00:00:00:02")
    objs[1]["spec"]["links"][0].update(local_mac="02:00:00:00:00:03")
    assert set_problems(parsed(objs)) == [
        'default/r1: spec.links[0].peer_mac: "02:00:00:00:00:02" but default/r2 spec.links[0] has '
        'local_mac "02:00:00:00:00:03" (uid 1)'
    ]


def test_addresses_optional_on_one_end() -> None:
    objs = ring()
    del objs[1]["spec"]["links"][0]["local_ip"]
    del objs[1]["spec"]["links"][0]["peer_ip"]
    assert set_problems(parsed(objs)) == []


def test_dual_stack_order_does_not_matter() -> None:
    objs = [
        topology("a", link(1, "b", ip="10.0.0.1/24,fd00::1/64", peer_ip="10.0.0.2/24,fd00::2/64")),
        topology("b", link(1, "a", ip="fd00::2/64,10.0.0.2/24", peer_ip="10.0.0.1/24,fd00::1/64")),
    ]
    assert set_problems(parsed(objs)) == []


def test_uid_joining_two_pairs() -> None:
    objs = ring()
    objs[1]["spec"]["links"][1]["uid"] = 2  # r2-r3 now claims uid 2, which is r1-r3's
    objs[2]["spec"]["links"][1]["uid"] = 2
    objs[2]["spec"]["links"][0]["uid"] = 4  # (avoid r3's own duplicate)
    problems = set_problems(parsed(objs))
    assert problems[0] == (
        "default/r2: spec.links[1].uid: 2 already joins default/r1 and default/r3 (default/r1: "
        "spec.links[1]); "
        "a uid names one link in its namespace (it gives the link's VXLAN VNI)"
    )


def test_uid_shared_with_a_physical_link() -> None:
    objs = [topology("a", link(5, "physical/10.0.0.9")), topology("b", link(5, "localhost", "eth1", "ens3"))]
    assert set_problems(parsed(objs)) == [
        "default/b: spec.links[0].uid: 5 already joins default/a and physical/10.0.0.9 (default/a: "
        "spec.links[0]); "
        "a uid names one link in its namespace (it gives the link's VXLAN VNI)"
    ]


def test_namespaces_number_their_links_independently() -> None:
    pair = [topology("r1", link(1, "r2")), topology("r2", link(1, "r1"))]
    objs = [{**obj, "metadata": {**obj["metadata"], "namespace": ns}} for ns in ("x", "y") for obj in pair]
    assert set_problems(parsed(objs)) == []
    clash = [*objs, {**topology("r3", link(1, "r1")), "metadata": {"name": "r3", "namespace": "x"}}]
    assert any("1 already joins x/r1 and x/r2" in p for p in set_problems(parsed(clash)))


def test_defined_twice_and_check_set_raises() -> None:
    objs = parsed([ring()[0], ring()[0]])
    with pytest.raises(ValidationError) as info:
        check_set(objs)
    assert info.value.problems == ["default/r1: defined more than once; a pod has one Topology"]


def test_validate_topology_built_in_code() -> None:
    good = Topology(name="r1", links=(Link(uid=1, peer_pod="r2", local_intf="eth1", peer_intf="eth1"),))
    assert validate_topology(good) == []
    bad = Topology(
        name="r1", links=(Link(uid=1, peer_pod="r2", local_intf="eth0", peer_intf="eth1", mtu=10),)
    )
    assert validate_topology(bad) == [
        'default/r1: spec.links[0].local_intf: "eth0" is reserved in a pod (lo and eth0 are not ours to '
        "wire) (uid 1)",
        "default/r1: spec.links[0].mtu: 10 is out of range: an MTU: an integer 68..65535 (at least 1280 "
        "with IPv6 addresses) (uid 1)",
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (None, None),
        ("local_intf", "eth7"),
        ("peer_intf", "eth7"),
        ("local_ip", "10.0.12.7/24"),
        ("peer_ip", "10.0.12.7/24"),
        ("local_ip", ""),
        ("local_mac", "02:00:00:00:00:07"),
        ("peer_mac", "02:00:00:00:00:07"),
        ("mtu", 1400),
        ("bypass", False),
        ("bypass", True),
    ],
)
def test_the_quick_agreement_check_decides_as_the_full_one(field: str | None, value: Any) -> None:
    from kubedtn.model.validate import end_problems, ends_agree

    objs = ring()
    objs[0]["spec"]["links"][0].update(local_mac="02:00:00:00:00:01", peer_mac="02:00:00:00:00:02")
    objs[1]["spec"]["links"][0].update(local_mac="02:00:00:00:00:02")
    if field is not None:
        objs[1]["spec"]["links"][0][field] = value
    r1, r2 = parsed(objs)[:2]
    problems = end_problems(r1, 0, r2, 0)
    assert ends_agree(r1.links[0], r2.links[0]) == (problems == [])
    assert (problems == []) == ((field, value) in ((None, None), ("local_ip", ""), ("bypass", True)))
