"""Raw dict → Topology: every single-object rule, with the exact line a user reads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubedtn.errors import ValidationError
from kubedtn.model import Link, LinkProperties, PeerKind, Topology
from kubedtn.model.objects import (
    link_from_dict,
    link_to_dict,
    topology_from_dict,
    topology_problems,
    topology_to_dict,
)
from tests.support.topologies import link
from tests.unit.model.helpers import topology


def problems_of(obj: Any) -> list[str]:
    topo, problems = topology_problems(obj)
    assert (topo is None) == bool(problems)
    return problems


def test_parses_every_field() -> None:
    obj = topology(
        "r1",
        link(
            7,
            "r2",
            "eth1",
            "eth3",
            ip="10.0.0.1/24, FD00::1/64",
            peer_ip="10.0.0.2/24,fd00::2/64",
            local_mac="02:AA:00:00:00:01",
            peer_mac="02:aa:00:00:00:02",
            mtu=9000,
            properties={
                "latency": "10ms",
                "jitter": "1ms",
                "loss": "0.5",
                "rate": "100Mbps",
                "gap": 3,
                "reorder_prob": "25%",
                "reorder_corr": 10,
            },
        ),
        namespace="lab",
        labels={"test": "x"},
    )
    topo = topology_from_dict(obj)
    assert topo.key == "lab/r1"
    assert topo.labels == {"test": "x"}
    (only,) = topo.links
    assert only == Link(
        uid=7,
        peer_pod="r2",
        local_intf="eth1",
        peer_intf="eth3",
        local_ips=("10.0.0.1/24", "fd00::1/64"),
        peer_ips=("10.0.0.2/24", "fd00::2/64"),
        local_mac="02:aa:00:00:00:01",
        peer_mac="02:aa:00:00:00:02",
        mtu=9000,
        properties=LinkProperties(
            latency_us=10_000,
            jitter_us=1_000,
            loss=0.5,
            rate_bps=800_000_000,
            gap=3,
            reorder_prob=25.0,
            reorder_corr=10.0,
        ),
    )
    assert only.peer_kind is PeerKind.POD
    assert only.properties.needs_netem()


def test_namespace_defaults_and_peer_kinds() -> None:
    topo = topology_from_dict(
        topology(
            "r1",
            link(1, "localhost", "eth1", "eth0"),  # eth0 is fine as a *host* interface
            link(2, "physical/10.0.0.55", "eth2", "veth1"),
            link(3, "physical/2001:db8::5", "eth3", "veth1"),
        )
    )
    assert topo.namespace == "default"
    kinds = [(lk.peer_kind, lk.physical_ip) for lk in topo.links]
    assert kinds == [
        (PeerKind.LOCALHOST, None),
        (PeerKind.PHYSICAL, "10.0.0.55"),
        (PeerKind.PHYSICAL, "2001:db8::5"),
    ]


def test_round_trip_through_dict() -> None:
    obj = topology("r1", link(1, "r2", ip="10.0.0.1/24", properties={"latency": "1.5s", "loss": "1%"}))
    topo = topology_from_dict(obj)
    again = topology_from_dict(topology_to_dict(topo))
    assert again == topo
    assert topology_to_dict(topo)["spec"]["links"][0]["properties"] == {"latency": "1500ms", "loss": "1"}


# One bad value per row → exactly this one line (object, field path, value, what is accepted).
P = "default/r1: spec.links[0]"
BAD_LINKS = [
    (
        {"properties": {"loss": "150"}},
        f'{P}.properties.loss: "150" is not a percentage (0-100), like "1", "0.5" or "1%"',
    ),
    ({"properties": {"latency": "10"}}, f'{P}.properties.latency: "10" is not a duration like'),
    (
        {"properties": {"latency": 10}},
        f'{P}.properties.latency: 10 is not a string; write it quoted, e.g. "10"',
    ),
    ({"properties": {"loss": 0.5}}, f"{P}.properties.loss: 0.5 is not a string or integer; write it quoted"),
    ({"properties": {"rate": "100mb"}}, f'{P}.properties.rate: "100mb" is not a rate like'),
    ({"properties": {"gap": -1}}, f'{P}.properties.gap: "-1" is not an unsigned integer'),
    ({"properties": {"speed": "1"}}, f"{P}.properties.speed: unknown field; known: latency, latency_corr,"),
    (
        {"properties": {"jitter": "1ms"}},
        f'{P}.properties.jitter: "1ms" needs latency set (non-zero) on the same link',
    ),
    ({"properties": {"reorder_prob": "5"}}, f'{P}.properties.reorder_prob: "5" needs latency set'),
    ({"properties": {"latency": "1ms", "gap": "5"}}, f'{P}.properties.gap: "5" needs reorder_prob set'),
    ({"properties": {"loss_corr": "5"}}, f'{P}.properties.loss_corr: "5" needs loss set'),
    (
        {"properties": {"duplicate_corr": "5", "duplicate": "0"}},
        f'{P}.properties.duplicate_corr: "5" needs duplicate',
    ),
    ({"properties": {"corrupt_corr": "5"}}, f'{P}.properties.corrupt_corr: "5" needs corrupt_prob set'),
    ({"properties": "fast"}, f'{P}.properties: "fast" is not a mapping'),
    (
        {"uid": -1},
        f"{P}.uid: -1 is out of range: a link uid: an integer 0..16772215 "
        "(its VXLAN VNI: 5000 + uid in namespace default)",
    ),
    ({"uid": 16772216}, f"{P}.uid: 16772216 is out of range"),
    ({"uid": "1"}, f'{P}.uid: "1" is not an integer'),  # numeric strings: kube-dtn documents only
    ({"uid": True}, f"{P}.uid: True is not an integer"),
    ({"uid": None}, f"{P}.uid: is required"),
    ({"peer_pod": "R2"}, f'{P}.peer_pod: "R2" is not a pod name, "localhost"'),
    ({"peer_pod": "physical/10.0.0.300"}, f'{P}.peer_pod: "physical/10.0.0.300" is not a pod name'),
    ({"peer_pod": "physical/224.0.0.1"}, f'{P}.peer_pod: "physical/224.0.0.1" names a multicast address'),
    ({"peer_pod": "r1"}, f'{P}.peer_pod: "r1" is this pod itself'),
    ({"local_intf": "eth0"}, f'{P}.local_intf: "eth0" is reserved in a pod'),
    ({"local_intf": "lo"}, f'{P}.local_intf: "lo" is reserved in a pod'),
    (
        {"local_intf": "a-very-long-name"},
        f'{P}.local_intf: "a-very-long-name" is not an interface name: 1-15',
    ),
    ({"local_intf": "eth/1"}, f'{P}.local_intf: "eth/1" is not an interface name'),
    ({"local_intf": "eth:1"}, f'{P}.local_intf: "eth:1" is not an interface name'),
    ({"local_intf": "eth 1"}, f'{P}.local_intf: "eth 1" is not an interface name'),
    ({"local_intf": ".."}, f'{P}.local_intf: ".." is not an interface name'),
    ({"local_intf": ""}, f'{P}.local_intf: "" is not an interface name'),
    ({"peer_intf": "eth0"}, f'{P}.peer_intf: "eth0" is reserved in a pod'),
    ({"peer_intf": 5}, f"{P}.peer_intf: 5 is not a string: an interface name"),
    ({"local_ip": "10.0.0.1"}, f'{P}.local_ip: "10.0.0.1" has "10.0.0.1" which has no prefix length'),
    (
        {"local_ip": "10.0.0.0/24"},
        f'{P}.local_ip: "10.0.0.0/24" has "10.0.0.0/24" which is the network address',
    ),
    (
        {"local_ip": "10.0.0.255/24"},
        f'{P}.local_ip: "10.0.0.255/24" has "10.0.0.255/24" which is the broadcast',
    ),
    (
        {"local_ip": "10.0.0.1/33"},
        f'{P}.local_ip: "10.0.0.1/33" has "10.0.0.1/33" which is not a valid address',
    ),
    ({"local_ip": "fd00::g/64"}, f'{P}.local_ip: "fd00::g/64" has "fd00::g/64" which is not a valid address'),
    (
        {"local_ip": "224.0.0.1/24"},
        f'{P}.local_ip: "224.0.0.1/24" has "224.0.0.1/24" which is a multicast address',
    ),
    (
        {"local_ip": "10.0.0.1/24,10.0.0.1/24"},
        f'{P}.local_ip: "10.0.0.1/24,10.0.0.1/24" lists 10.0.0.1/24 twice',
    ),
    (
        {"local_ip": "10.0.0.1/24", "peer_ip": "10.0.0.1/24"},
        f'{P}.peer_ip: "10.0.0.1/24" repeats local_ip 10.0.0.1/24',
    ),
    ({"local_mac": "01:00:00:00:00:01"}, f'{P}.local_mac: "01:00:00:00:00:01" is not a unicast MAC address'),
    ({"local_mac": "00:00:00:00:00:00"}, f'{P}.local_mac: "00:00:00:00:00:00" is not a unicast MAC'),
    ({"peer_mac": "02:00:00:00:00"}, f'{P}.peer_mac: "02:00:00:00:00" is not a unicast MAC'),
    (
        {"local_mac": "02:00:00:00:00:01", "peer_mac": "02:00:00:00:00:01"},
        f'{P}.peer_mac: "02:00:00:00:00:01" is the same',
    ),
    ({"mtu": 67}, f"{P}.mtu: 67 is out of range: an MTU: an integer 68..65535"),
    ({"mtu": 65536}, f"{P}.mtu: 65536 is out of range"),
    ({"mtu": "1500"}, f'{P}.mtu: "1500" is not an integer'),
    (
        {"mtu": 1000, "local_ip": "fd00::1/64"},
        f"{P}.mtu: 1000 is below 1280, the minimum for IPv6 (fd00::1/64)",
    ),
    ({"bypass": "no"}, f'{P}.bypass: "no" is not a boolean; accepted: true (the default'),
    ({"bypass": 0}, f"{P}.bypass: 0 is not a boolean"),
    ({"colour": "red"}, f"{P}.colour: unknown field; known: uid, peer_pod,"),
]


@pytest.mark.parametrize("plain", [True, False], ids=["plain link", "link with properties"])
def test_bypass_false_is_kept_and_written_back_and_true_is_the_default(plain: bool) -> None:
    props = {} if plain else {"properties": {"rate": "10Mbit"}}
    off = topology_from_dict(topology("r1", {**link(1, "r2"), "bypass": False, **props}))
    on = topology_from_dict(topology("r1", {**link(1, "r2"), **props}))
    assert (off.links[0].bypass, on.links[0].bypass) == (False, True)
    assert link_to_dict(off.links[0])["bypass"] is False
    assert "bypass" not in link_to_dict(on.links[0])


@pytest.mark.parametrize(("change", "line"), BAD_LINKS, ids=[row[1].split(": ")[1] for row in BAD_LINKS])
def test_bad_link_field_gives_one_precise_line(change: dict[str, Any], line: str) -> None:
    raw = link(1, "r2")
    raw.update(change)
    raw = {k: v for k, v in raw.items() if v is not None}
    problems = problems_of(topology("r1", raw))
    assert len(problems) == 1, problems
    assert problems[0].startswith(line), problems[0]


@pytest.mark.parametrize(
    ("obj", "line"),
    [
        (
            {**topology("r1"), "apiVersion": "v1"},
            'default/r1: apiVersion: "v1" is not one of kubedtn.io/v1, y-young.github.io/v1',
        ),
        (topology("R1"), 'default/R1: metadata.name: "R1" is not a pod name (DNS-1123 subdomain'),
        (topology("r1", namespace="Lab"), 'Lab/r1: metadata.namespace: "Lab" is not a namespace name'),
        ({**topology("r1"), "metadata": {}}, "default/<no name>: metadata.name: is required"),
        ({**topology("r1"), "spec": {"links": {}}}, "default/r1: spec.links: {} is not a list"),
        ({**topology("r1"), "spec": {"link": []}}, "default/r1: spec.link: unknown field; known: links"),
        ({**topology("r1"), "spek": {}}, "default/r1: spek: unknown field"),
        (
            {**topology("r1"), "status": {"conditions": [{"type": "Ready", "status": "yes"}]}},
            'default/r1: status.conditions[0].status: "yes" is not one of True, False, Unknown',
        ),
        ("r1", '"r1" is not a Kubernetes object'),
    ],
)
def test_bad_object_gives_one_precise_line(obj: Any, line: str) -> None:
    problems = problems_of(obj)
    assert len(problems) == 1, problems
    assert problems[0].startswith(line), problems[0]


def test_duplicates_within_a_pod() -> None:
    problems = problems_of(
        topology("r1", link(1, "r2", "eth1"), link(1, "r3", "eth1"), link(2, "r4", "eth1"))
    )
    assert problems == [
        "default/r1: spec.links[1].uid: 1 is already used by spec.links[0]",
        'default/r1: spec.links[1].local_intf: "eth1" is already used by spec.links[0] (uid 1); '
        "this link is uid 1",
        'default/r1: spec.links[2].local_intf: "eth1" is already used by spec.links[0] (uid 1); '
        "this link is uid 2",
    ]


def test_all_problems_are_collected() -> None:
    obj = topology(
        "r1",
        link(1, "r2", "eth0", properties={"loss": "150", "latency": "fast"}),
        link(2, "BAD", "eth2", mtu=5),
    )
    problems = problems_of(obj)
    assert [p.split(":")[1].strip() for p in problems] == [
        "spec.links[0].local_intf",
        "spec.links[0].properties.loss",
        "spec.links[0].properties.latency",
        "spec.links[1].peer_pod",
        "spec.links[1].mtu",
    ]
    with pytest.raises(ValidationError) as info:
        topology_from_dict(obj)
    assert info.value.problems == problems


def test_kube_dtn_uid_may_be_a_numeric_string() -> None:
    topo = topology_from_dict(topology("r1", link("12", "r2"), api="y-young.github.io/v1"))  # type: ignore[arg-type]
    assert topo.links[0].uid == 12
    problems = problems_of(topology("r1", link("12a", "r2"), api="y-young.github.io/v1"))  # type: ignore[arg-type]
    assert problems == [
        'default/r1: spec.links[0].uid: "12a" is not an integer: a link uid: an integer 0..16772215 '
        "(its VXLAN VNI: 5000 + uid in namespace default)"
    ]


def test_kube_dtn_empty_strings_mean_absent() -> None:
    topo = topology_from_dict(topology("r1", link(1, "r2", ip="", local_mac=""), api="y-young.github.io/v1"))
    assert topo.links[0].local_ips == ()
    assert topo.links[0].local_mac is None


def test_status_and_conditions_round_trip() -> None:
    obj = topology("r1", link(1, "r2"))
    obj["status"] = {
        "src_ip": "192.168.1.10",
        "net_ns": "/proc/42/ns/net",
        "links": [link(1, "r2", properties={"latency": "5ms"})],
        "skipped": ["r3"],
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Plumbed",
                "lastTransitionTime": "2024-01-02T03:04:05Z",
                "observedGeneration": 3,
            }
        ],
    }
    topo = topology_from_dict(obj)
    assert topo.status.links[0].properties.latency_us == 5000
    assert topo.status.conditions[0].observed_generation == 3
    assert topology_to_dict(topo)["status"] == obj["status"]
    assert "status" not in topology_to_dict(topo, with_status=False)


def test_link_from_dict_names_the_place() -> None:
    assert link_from_dict(link(4, "r9")).uid == 4
    with pytest.raises(ValidationError) as info:
        link_from_dict(link(4, "r9", mtu=1), where="default/r1 uid 4")
    assert info.value.problems == [
        "default/r1 uid 4: link.mtu: 1 is out of range: an MTU: an integer 68..65535 "
        "(at least 1280 with IPv6 addresses)"
    ]


# ---- properties: any text in any field gives a Topology or problems, never a crash --------

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)
_link_keys = st.sampled_from(
    [
        "uid",
        "peer_pod",
        "local_intf",
        "peer_intf",
        "local_ip",
        "peer_ip",
        "local_mac",
        "peer_mac",
        "mtu",
        "properties",
        "junk",
    ]
)
_prop_keys = st.sampled_from(
    ["latency", "jitter", "loss", "rate", "gap", "reorder_prob", "corrupt_corr", "junk"]
)


@settings(max_examples=300, deadline=None)  # (a loaded CI machine: no per-example timing)
@given(
    st.lists(st.dictionaries(_link_keys, _values, max_size=10), max_size=3),
    st.dictionaries(_prop_keys, _values, max_size=6),
)
def test_arbitrary_input_gives_problems_not_crashes(
    links: list[dict[str, Any]], props: dict[str, Any]
) -> None:
    if links:
        links[0]["properties"] = props
    topo, problems = topology_problems(topology("r1", *links))
    assert (topo is None) == bool(problems)
    assert all(p.startswith("default/r1: ") for p in problems)


_props = st.builds(
    LinkProperties,
    latency_us=st.integers(1, 10**9),
    jitter_us=st.integers(0, 10**6),
    loss=st.floats(0, 100),
    rate_bps=st.one_of(st.just(0), st.integers(8, 10**12)),
    duplicate=st.floats(0, 100),
)
_links = st.builds(
    Link,
    uid=st.integers(0, 16772215),
    peer_pod=st.sampled_from(["r2", "localhost", "physical/10.1.2.3", "a.b-c"]),
    local_intf=st.from_regex(r"\Aeth[1-9][0-9]{0,3}\Z"),
    peer_intf=st.from_regex(r"\A[a-z][a-z0-9_-]{0,14}\Z").filter(lambda n: n not in ("lo", "eth0")),
    local_ips=st.sampled_from([(), ("10.0.0.1/24",), ("10.0.0.1/24", "fd00::1/64")]),
    mtu=st.one_of(st.none(), st.integers(1280, 65535)),
    properties=_props,
)


@given(_links)
def test_any_valid_link_round_trips(lk: Link) -> None:
    topo = Topology(name="r1", links=(lk,))
    assert topology_from_dict(topology_to_dict(topo)) == topo


def test_topologies_copy_and_pickle() -> None:
    """Other layers deep-copy and hand Topologies to other processes."""
    import copy
    import pickle

    topo = topology_from_dict(topology("r1", link(1, "r2", properties={"loss": "1"}), labels={"a": "b"}))
    assert copy.deepcopy(topo) == topo
    assert pickle.loads(pickle.dumps(topo)) == topo
    assert hash(topo) == hash(copy.deepcopy(topo))


def test_links_by_uid_finds_each_link_of_a_topology() -> None:
    links = tuple(Link(uid=u, peer_pod=f"p{u}", local_intf=f"e{u}", peer_intf="e1") for u in (3, 1, 7))
    topo = Topology(name="r1", links=links)
    assert {uid: link.peer_pod for uid, link in topo.links_by_uid.items()} == {3: "p3", 1: "p1", 7: "p7"}
    assert topo.links_by_uid.get(2) is None
    assert Topology(name="r1").links_by_uid == {}


def test_problems_of_a_link_end_with_its_uid() -> None:
    problems = problems_of(topology("r1", link(7, "r2", ip="10.0.0.300/24"), link(-1, "r3", "eth2", mtu=5)))
    assert [(p.split(": ")[1], p.endswith(")") and p.rsplit(" (", 1)[1]) for p in problems] == [
        ("spec.links[0].local_ip", "uid 7)"),
        ("spec.links[1].uid", "its VXLAN VNI: 5000 + uid in namespace default)"),  # the uid is the value
        ("spec.links[1].mtu", "uid -1)"),
    ]


# Values for each field of a link: good ones, and ones each rule refuses.
_LINK_VALUES: dict[str, list[object]] = {
    "uid": [1, 0, 16_000_000, -1, 99_999_999, "7", True, None, 1.0],
    "peer_pod": ["r2", "localhost", "physical/192.0.2.9", "physical/x", "R2", "", None, 5],
    "local_intf": ["eth1", "eth0", "lo", "a" * 16, ".", "e 1", None, 3],
    "peer_intf": ["eth2", "eth0", "eth1", "", None],
    "local_ip": ["10.0.0.1/24", "fd00::1/64", "10.0.0.1/24,10.0.0.1/24", "10.0.0.0/24", "x", "", None, 4],
    "peer_ip": ["10.0.0.2/24", "10.0.0.1/24", "FD00::2/64", "", None, []],
    "local_mac": ["02:00:00:00:00:01", "02:AA:00:00:00:02", "00:00:00:00:00:00", "zz", "", None],
    "peer_mac": ["02:00:00:00:00:01", "02:aa:00:00:00:02", "", None, 1],
    "mtu": [1400, 1280, 1279, 68, 67, 65536, True, "1400", None],
    "properties": [None, {}, {"latency": "10ms"}, {"latency": "x"}, "", [], 0],
}


@settings(max_examples=500, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={k: st.one_of(st.sampled_from(v[:3]), st.sampled_from(v)) for k, v in _LINK_VALUES.items()},
    ),
    st.sampled_from([{}, {"extra": 1}]),
    st.booleans(),
)
def test_a_link_taken_without_composing_messages_is_the_one_the_full_check_gives(
    raw: dict[str, object], extra: dict[str, object], compat: bool
) -> None:
    from kubedtn.model.objects import _checked_link, _Collector, _plain_link

    raw = {**raw, **extra}
    plain = _plain_link(raw)
    collector = _Collector("default/r1")
    checked = _checked_link(collector, "spec.links[0]", raw, compat=compat)
    if plain is not None:  # taken quickly: only when the full check finds nothing wrong
        assert collector.problems == [] and checked == plain


def test_a_plain_link_is_taken_without_the_full_check() -> None:
    from kubedtn.model.objects import _plain_link

    raw = link(
        3, "r2", "eth1", "eth2", ip="10.0.0.1/30", peer_ip="10.0.0.2/30", local_mac="02:00:00:00:00:01"
    )
    assert _plain_link({**raw, "mtu": 1400}) == link_from_dict({**raw, "mtu": 1400})
