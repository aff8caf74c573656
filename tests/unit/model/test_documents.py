"""Files: multi-document YAML, Lists, kube-dtn samples, conversion, problems with file names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubedtn.errors import ValidationError
from kubedtn.model import documents
from kubedtn.model.objects import topology_from_dict

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "examples" / "kube-dtn"
KUBE_DTN_SAMPLES = ["3node.yml", "latency.yaml", "bandwidth.yaml"]


@pytest.mark.parametrize("name", KUBE_DTN_SAMPLES)
def test_kube_dtn_samples_load_unchanged(name: str) -> None:
    bundle = documents.load_bundle([SAMPLES / name])
    assert bundle.problems == ()
    assert [t.name for t in bundle.topologies] == ["r1", "r2", "r3"]
    assert [d.obj["kind"] for d in bundle.others] == ["Pod", "Pod", "Pod"]
    assert sum(len(t.links) for t in bundle.topologies) == 6


def test_sample_values() -> None:
    lat = {t.name: t for t in documents.load_topologies([SAMPLES / "latency.yaml"])}
    assert lat["r2"].links[1].properties.latency_us == 50_000
    bw = {t.name: t for t in documents.load_topologies([SAMPLES / "bandwidth.yaml"])}
    assert [lk.properties.rate_bps for lk in bw["r1"].links] == [1_000_000_000, 20_000_000]


def test_pods_are_kept_with_their_nodes() -> None:
    bundle = documents.load_bundle([SAMPLES / "latency.yaml"])
    assert bundle.pod_nodes() == {"default/r1": "ubuntu", "default/r2": "ubuntu", "default/r3": "worker"}
    assert bundle.others[0].where == f"{SAMPLES / 'latency.yaml'}.items[3]"


def test_our_example_is_valid_and_dual_stack() -> None:
    topos = {t.name: t for t in documents.load_topologies([REPO / "examples" / "3node.yaml"])}
    assert set(topos) == {"r1", "r2", "r3"}
    assert topos["r2"].links[1].local_ips == ("10.0.23.2/24", "fd00:23::2/64")
    assert topos["r1"].links[0].properties.latency_us == 10_000
    assert topos["r1"].links[1].properties.rate_bps == 100_000_000


def test_multi_document_and_nested_lists() -> None:
    text = """
---
apiVersion: v1
kind: List
items:
- apiVersion: kubedtn.io/v1
  kind: TopologyList
  items:
  - apiVersion: kubedtn.io/v1
    kind: Topology
    metadata: {name: a}
    spec: {links: [{uid: 1, peer_pod: b, local_intf: e1, peer_intf: e1}]}
---
---
apiVersion: kubedtn.io/v1
kind: Topology
metadata: {name: b, namespace: lab}
"""
    docs = documents.parse_documents(text, source="t.yaml")
    assert [(d.where, d.obj["metadata"]["name"]) for d in docs] == [
        ("t.yaml[0].items[0].items[0]", "a"),
        ("t.yaml[2]", "b"),
    ]
    bundle = documents.bundle_documents(docs)
    assert [t.key for t in bundle.topologies] == ["default/a", "lab/b"]
    assert documents.bundle_documents(docs, default_namespace="x").topologies[0].key == "x/a"


def test_yaml_syntax_error_names_file_and_line() -> None:
    with pytest.raises(ValidationError) as info:
        documents.parse_documents("kind: Topology\nmetadata: {name: [\n", source="bad.yaml")
    (line,) = info.value.problems
    assert line.startswith("bad.yaml:3:1: not valid YAML: ")


def test_problems_carry_the_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(yaml.safe_dump({**_topo("r1", 1, "r2"), "kind": "Topology"}))
    (tmp_path / "b.yml").write_text(yaml.safe_dump(_topo("r1", 2, "r3")))
    (tmp_path / "c.json").write_text(
        '{"apiVersion": "kubedtn.io/v1", "kind": "Topology", "metadata": {"name": "r2"},'
        ' "spec": {"links": [{"uid": 1, "peer_pod": "r1", "local_intf": "eth1", '
        '"peer_intf": "eth9"}]}}'
    )
    (tmp_path / "notes.txt").write_text("not read")
    (tmp_path / "d.yaml").write_text("- just\n- a list\n")
    bundle = documents.load_bundle([tmp_path])
    assert list(bundle.problems) == [
        f"{tmp_path}/b.yml: default/r1: defined again (first in {tmp_path}/a.yaml); a pod has one Topology",
        f"{tmp_path}/d.yaml: is not a Kubernetes object (a mapping with apiVersion and kind)",
        f'{tmp_path}/a.yaml: default/r1: spec.links[0].local_intf: "eth1" but default/r2 spec.links[0] '
        'has peer_intf "eth9" (uid 1)',
    ]
    with pytest.raises(ValidationError):
        bundle.raise_for_problems()


def test_unreadable_files_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    bundle = documents.load_bundle([tmp_path / "missing.yaml", tmp_path / "bin.yaml"])
    assert [p.split(": ")[1] for p in bundle.problems] == ["cannot read", "cannot read"]


def _topo(name: str, uid: int, peer: str) -> dict[str, object]:
    return {
        "apiVersion": "kubedtn.io/v1",
        "kind": "Topology",
        "metadata": {"name": name},
        "spec": {"links": [{"uid": uid, "peer_pod": peer, "local_intf": "eth1", "peer_intf": "eth1"}]},
    }


@pytest.mark.parametrize("name", KUBE_DTN_SAMPLES)
def test_convert_kube_dtn_samples(name: str) -> None:
    docs = documents.read_documents([SAMPLES / name])
    out = documents.convert_documents(docs)
    assert [o["apiVersion"] for o in out] == ["kubedtn.io/v1"] * 3 + ["v1"] * 3
    assert all("namespace" not in o["metadata"] for o in out[:3])  # left open, as in the source
    # The output is valid YAML that reads back to the same Topologies.
    again = documents.parse_documents(documents.dump_yaml(out), source="converted")
    assert [topology_from_dict(d.obj) for d in again[:3]] == [topology_from_dict(d.obj) for d in docs[:3]]
    only = documents.convert_documents(docs, topologies_only=True)
    assert len(only) == 3


def test_convert_refuses_a_bad_set() -> None:
    docs = documents.parse_documents(yaml.safe_dump(_topo("r1", -1, "r2")), source="x.yaml")
    with pytest.raises(ValidationError) as info:
        documents.convert_documents(docs)
    assert info.value.problems[0].startswith("x.yaml: default/r1: spec.links[0].uid: -1 is out of range")
