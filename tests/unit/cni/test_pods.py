"""Which pod a call is for, and the pod list decision (pure, plus one file read)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedtn.cni import pods
from kubedtn.cni.spec import parse_cni_args
from kubedtn.model.podref import PodRef

R1 = PodRef(namespace="lab", name="r1")
LIST = b'{"pods": ["lab/r1", "default/r2"]}'


def test_pod_comes_from_cni_args_with_the_default_namespace() -> None:
    assert pods.pod_of(parse_cni_args("K8S_POD_NAMESPACE=lab;K8S_POD_NAME=r1")) == R1
    assert pods.pod_of(parse_cni_args("K8S_POD_NAME=r2")) == PodRef(namespace="default", name="r2")
    assert pods.pod_of(parse_cni_args("IgnoreUnknown=1;FOO=bar")) is None


@pytest.mark.parametrize(
    ("pod", "data", "verdict"),
    [
        (R1, LIST, pods.Verdict.TOPOLOGY_POD),
        (PodRef(namespace="default", name="r2"), LIST, pods.Verdict.TOPOLOGY_POD),
        (PodRef(namespace="default", name="r1"), LIST, pods.Verdict.NOT_LISTED),  # same name, other namespace
        (PodRef(namespace="lab", name="r3"), LIST, pods.Verdict.NOT_LISTED),
        (R1, b'{"pods": []}', pods.Verdict.NOT_LISTED),
        (R1, None, pods.Verdict.NO_POD_LIST),
        (None, LIST, pods.Verdict.NO_POD_NAME),
        (R1, b"{not json", pods.Verdict.BAD_POD_LIST),
        (R1, b'["lab/r1"]', pods.Verdict.BAD_POD_LIST),
        (R1, b'{"pods": "lab/r1"}', pods.Verdict.BAD_POD_LIST),
        (R1, b'{"pods": [1]}', pods.Verdict.BAD_POD_LIST),
    ],
)
def test_membership(pod: PodRef | None, data: bytes | None, verdict: pods.Verdict) -> None:
    found = pods.membership(pod, data, source="/x/topology-pods.json")
    assert found.verdict is verdict
    assert found.is_topology_pod is (verdict is pods.Verdict.TOPOLOGY_POD)


def test_a_broken_list_names_the_file_and_the_expected_form() -> None:
    found = pods.membership(R1, b'{"pods": "lab/r1"}', source="/x/topology-pods.json")
    assert found.detail == '/x/topology-pods.json: expected {"pods": ["<namespace>/<name>", ...]}'


def test_lookup_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "topology-pods.json"
    assert pods.lookup(R1, str(path)).verdict is pods.Verdict.NO_POD_LIST
    path.write_bytes(LIST)
    assert pods.lookup(R1, str(path)).is_topology_pod
    assert pods.lookup(R1, str(tmp_path)).verdict is pods.Verdict.BAD_POD_LIST  # a directory
