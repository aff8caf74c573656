"""The CRD: generated from the model, committed fresh, and agreeing with the validator.

The schema judges one object's shape; the validator judges that and more (exact
addresses, property dependencies, duplicates, the IPv6 MTU minimum, cross-object rules).
So agreement means: whatever the validator accepts, the schema accepts (else a file
that `kubedtn topo validate` passed would fail at `kubectl apply`), and every shape
error the schema can express is rejected by both. Rows marked "validator" are the ones
only the validator can see.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kubedtn.model import crd
from kubedtn.model.documents import load_topologies
from kubedtn.model.objects import topology_problems, topology_to_dict
from kubedtn.model.types import Link, LinkProperties, Topology
from tests.support.topologies import link
from tests.unit.model.helpers import ring, topology

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "manifests" / "crd" / "kubedtn.io_topologies.yaml"
SCHEMA = crd.open_api_schema()
CHECKER = jsonschema.Draft4Validator(SCHEMA)


def schema_accepts(obj: Any) -> bool:
    return bool(CHECKER.is_valid(obj))


def validator_accepts(obj: Any) -> bool:
    return not topology_problems(obj)[1]


def test_committed_crd_is_fresh() -> None:
    assert COMMITTED.read_text() == crd.render(), "the CRD is stale: run `make manifests` and commit it"


def test_crd_shape() -> None:
    (doc,) = list(yaml.safe_load_all(COMMITTED.read_text()))
    spec = doc["spec"]
    assert doc["metadata"]["name"] == "topologies.kubedtn.io"
    assert spec["group"] == "kubedtn.io" and spec["scope"] == "Namespaced"
    assert spec["names"]["shortNames"] == ["topo"] and spec["names"]["kind"] == "Topology"
    (version,) = spec["versions"]
    assert version["name"] == "v1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Ready", "Node IP", "Netns", "Age"]
    jsonschema.Draft4Validator.check_schema(version["schema"]["openAPIV3Schema"])


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        out.append((path, node))
        for k, v in node.items():
            out.extend(_walk(v, f"{path}/{k}"))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_walk(v, f"{path}/{i}"))
    return out


def test_schema_is_structural_and_portable() -> None:
    """What the API server demands of a structural schema, and patterns RE2 (Go) can compile."""
    for path, node in _walk(SCHEMA):
        if "pattern" in node and isinstance(node["pattern"], str):
            pat = node["pattern"]
            assert pat.startswith("^") and pat.endswith("$"), path
            assert not re.search(r"\(\?[=!<]|\\[1-9]|\(\?[a-z]", pat), f"{path}: not RE2-compatible: {pat}"
            re.compile(pat)
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node and node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        elif "properties" in node and not path.endswith("/properties"):
            assert node.get("type") == "object", path
        for junctor in ("anyOf", "not"):
            sub = node.get(junctor)
            if junctor == "not" and sub:
                assert set(sub) <= {"enum", "pattern"}, path
        assert node.get("additionalProperties") is not False, path


def _with(change: dict[str, Any], where: str = "link") -> dict[str, Any]:
    obj = topology("r1", link(1, "r2", ip="10.0.0.1/24", peer_ip="10.0.0.2/24"))
    target = obj["spec"]["links"][0]
    if where == "properties":
        target = target.setdefault("properties", {})
    target.update(change)
    return obj


GOOD = [
    _with({}),
    _with(
        {
            "latency": "10ms",
            "jitter": "1ms",
            "loss": "0.5",
            "rate": "100Mbps",
            "gap": 5,
            "reorder_prob": "25",
            "duplicate": 1,
            "duplicate_corr": "50%",
            "corrupt_prob": "0.1",
        },
        "properties",
    ),
    _with({"rate": 1000000}, "properties"),
    _with({"latency": "1m30s"}, "properties"),
    _with({"local_ip": "10.0.0.1/24,fd00::1/64", "peer_ip": "10.0.0.2/24, fd00::2/64", "mtu": 9000}),
    _with({"local_mac": "02:00:00:00:00:01", "peer_mac": "", "peer_pod": "physical/192.168.0.9"}),
    _with({"peer_pod": "localhost", "peer_intf": "eth0"}),
    _with({"uid": 16772215}),
    *ring(),
]

# (document, who rejects it: "both" or "validator" (with the reason the schema cannot see it))
BAD = [
    (_with({"loss": "150"}, "properties"), "both"),
    (_with({"loss": 101}, "properties"), "both"),
    (_with({"loss": 0.5}, "properties"), "both"),
    (_with({"latency": "10"}, "properties"), "both"),
    (_with({"latency": 10}, "properties"), "both"),
    (_with({"rate": "100mb"}, "properties"), "both"),
    (_with({"rate": -1}, "properties"), "both"),
    (_with({"gap": "x"}, "properties"), "both"),
    (_with({"gap": 2**32}, "properties"), "both"),
    (_with({"uid": -1}), "both"),
    (_with({"uid": 16772216}), "both"),
    (_with({"uid": "1"}), "both"),
    (_with({"mtu": 67}), "both"),
    (_with({"mtu": 65536}), "both"),
    (_with({"local_intf": "eth0"}), "both"),
    (_with({"local_intf": "lo"}), "both"),
    (_with({"local_intf": "a-very-long-name"}), "both"),
    (_with({"local_intf": "eth/1"}), "both"),
    (_with({"local_intf": "eth:1"}), "both"),
    (_with({"local_intf": "eth 1"}), "both"),
    (_with({"local_intf": ".."}), "both"),
    (_with({"peer_intf": ""}), "both"),
    (_with({"peer_pod": "R2"}), "both"),
    (_with({"peer_pod": "physical/10.0.0.300"}), "both"),
    (_with({"local_ip": "10.0.0.1"}), "both"),
    (_with({"local_ip": "10.0.0.1/33"}), "both"),
    (_with({"local_ip": "10.0.0.1/24;10.0.0.2/24"}), "both"),
    (_with({"local_mac": "01:00:00:00:00:01"}), "both"),
    (_with({"local_mac": "02-00-00-00-00-01"}), "both"),
    (_with({"uid": None}), "both"),
    (topology("r1", {"peer_pod": "r2", "local_intf": "eth1", "peer_intf": "eth1"}), "both"),
    ({**_with({}), "status": {"conditions": [{"type": "Ready", "status": "yes"}]}}, "both"),
    # Only the validator can see these:
    (_with({"jitter": "1ms"}, "properties"), "validator"),  # property dependencies
    (_with({"loss_corr": "1"}, "properties"), "validator"),
    (_with({"rate": "4bit"}, "properties"), "validator"),  # below one byte/s (a range between 0 and 8)
    (_with({"latency": "2h"}, "properties"), "validator"),  # duration ranges
    (_with({"peer_intf": "eth0"}), "validator"),  # reserved only for pod peers
    (_with({"local_ip": "10.0.0.0/24"}), "validator"),  # network address
    (_with({"local_ip": "fd00:::1/64"}), "validator"),  # exact IPv6 syntax
    (_with({"peer_ip": "10.0.0.1/24"}), "validator"),  # repeats local_ip
    (_with({"mtu": 1000, "local_ip": "fd00::1/64"}), "validator"),  # IPv6 MTU minimum
    (_with({"local_mac": "00:00:00:00:00:00"}), "validator"),
    (_with({"peer_pod": "r1"}), "validator"),  # a link to itself
    (_with({"colour": "red"}), "validator"),  # unknown fields (the API server prunes them)
    (_with({"local_intf": "eth1\n"}), "validator"),  # JSON-schema's $ allows a final newline
    (topology("r1", link(1, "r2", "eth1"), link(2, "r3", "eth1")), "validator"),  # duplicate local_intf
]


@pytest.mark.parametrize("obj", GOOD)
def test_both_accept_good_documents(obj: dict[str, Any]) -> None:
    assert validator_accepts(obj), topology_problems(obj)[1]
    assert schema_accepts(obj), [e.message for e in CHECKER.iter_errors(obj)]


@pytest.mark.parametrize(("obj", "who"), BAD)
def test_bad_documents(obj: dict[str, Any], who: str) -> None:
    assert not validator_accepts(obj)
    assert schema_accepts(obj) == (who == "validator"), [e.message for e in CHECKER.iter_errors(obj)]


def test_examples_pass_the_schema() -> None:
    for topo in load_topologies([REPO / "examples" / "3node.yaml"]):
        assert schema_accepts(topology_to_dict(topo))


_links = st.builds(
    Link,
    uid=st.integers(0, 16772215),
    peer_pod=st.sampled_from(["r2", "localhost", "physical/10.1.2.3", "physical/fd00::9", "a.b-c"]),
    local_intf=st.from_regex(r"\A[!-.0-9;-~]{1,15}\Z").filter(lambda n: n not in (".", "..", "lo", "eth0")),
    peer_intf=st.from_regex(r"\A[a-z][a-z0-9_-]{0,14}\Z").filter(lambda n: n not in ("lo", "eth0")),
    local_ips=st.sampled_from(
        [(), ("10.0.0.1/24",), ("10.0.0.1/24", "fd00::1/64"), ("::ffff:10.0.0.1/120",)]
    ),
    local_mac=st.sampled_from([None, "02:00:00:00:00:01", "ae:01:02:03:04:05"]),
    mtu=st.one_of(st.none(), st.integers(1280, 65535)),
    properties=st.builds(
        LinkProperties,
        latency_us=st.integers(1, 2**32 - 1),
        loss=st.floats(0, 100),
        rate_bps=st.one_of(st.just(0), st.integers(8, 2**63 - 1)),
        gap=st.integers(0, 2**32 - 1),
        reorder_prob=st.floats(0, 100),
    ),
)


@given(_links)
def test_whatever_the_validator_accepts_the_schema_accepts(lk: Link) -> None:
    obj = topology_to_dict(Topology(name="r1", links=(lk,)))
    if validator_accepts(obj):
        assert schema_accepts(copy.deepcopy(obj)), [e.message for e in CHECKER.iter_errors(obj)]
