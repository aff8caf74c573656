"""The fast YAML path gives exactly what PyYAML's safe loader gives, errors included."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedtn.lab.generate import mesh
from kubedtn.model import yamlload
from kubedtn.model.documents import dump_yaml

REPO = Path(__file__).resolve().parents[3]
SAMPLES = sorted([*REPO.glob("examples/**/*.yaml"), *REPO.glob("examples/**/*.yml")])


def _reference(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=yaml.CSafeLoader))


def _same(a: Any, b: Any) -> bool:
    """Equal, with types (1 is not True) and NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


CASES = [
    "a: 1\nb: 1.5\nc: true\nd: ~\ne: null\nf: 0x1f\ng: 0o17\nh: 1_000\ni: 190:20:30\nj: .nan\nk: -.inf\n",
    "mac: 02:00:00:00:00:01\nother: 12:34:56\nip: 10.0.0.1/30\nyes: yes\nNo: off\n",
    "when: 2001-12-14t21:59:43.10-05:00\nday: 2002-12-14\n",
    "q: '7'\nd: \"true\"\nlit: |\n  two\n  lines\nfold: >\n  one\n  line\n",
    "s: !!str 5\ni: !!int '7'\nf: !!float '1'\nb: !!binary aGVsbG8=\nn: !!null ''\n",
    "a: &x [1, {b: 2}]\nc: *x\nd: &s text\ne: *s\n",
    "---\n---\na: 1\n...\n--- 3\n--- [1, 2]\n",
    "",
    "# only a comment\n",
    "a: 1\na: 2\n",
    "flow: {a: [1, 2, {b: c}], d: []}\nempty: {}\n'1': one\n1: int one\n",
    "deep: " + "[" * 50 + "]" * 50 + "\n",
    "=: 1\n",
    "? complex\n: value\n",
]

UNUSUAL = [
    "base: &b {a: 1}\nderived:\n  <<: *b\n  c: 2\n",  # merge key
    "s: !!set {a, b}\n",
    "o: !!omap [a: 1, b: 2]\n",
    "r: &r [*r]\n",  # recursive list
]

BAD = [
    "a: [1, 2\n",
    "a: b: c\n",
    "x: !custom 1\n",
    "? [1, 2]\n: v\n",
    "a: *nowhere\n",
    "k: =\n",
    "a:\n  - 1\n b: 2\n",
]


@pytest.mark.parametrize("text", CASES + UNUSUAL, ids=range(len(CASES + UNUSUAL)))
def test_same_objects_as_pyyaml(text: str) -> None:
    got = yamlload.load_all(text)
    want = _reference(text)
    if text.startswith("r:"):  # a recursive list: compare the shape
        assert got[0]["r"][0] is got[0]["r"]
        return
    assert _same(got, want), (got, want)


def test_aliases_are_the_same_object_as_in_pyyaml() -> None:
    (doc,) = yamlload.load_all("a: &x [1]\nb: *x\n")
    assert doc["a"] is doc["b"]


@pytest.mark.parametrize("text", BAD, ids=range(len(BAD)))
def test_same_errors_as_pyyaml(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as want:
        _reference(text)
    with pytest.raises(yaml.YAMLError) as got:
        yamlload.load_all(text)
    assert type(got.value) is type(want.value)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_sample_files(path: Path) -> None:
    text = path.read_text()
    assert _same(yamlload.load_all(text), _reference(text))


def test_samples_found() -> None:
    kube_dtn = {p.name for p in SAMPLES if p.parent.name == "kube-dtn"}
    assert {"3node.yml", "latency.yaml", "bandwidth.yaml"} <= kube_dtn


def test_generated_lab_file() -> None:
    text = dump_yaml(mesh(20, 60))
    got = yamlload.load_all(text)
    assert _same(got, _reference(text))
    assert len(got) == 20
