"""Which lab and pod a command means: bare pod names across Kubernetes namespaces, and the
labs `lab down FILE` takes down (records only, no namespaces)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedtn.errors import KubedtnError, NotFoundError
from kubedtn.lab import state
from kubedtn.lab.enter import find_pod
from kubedtn.lab.names import STATE_ROOT_ENV, lab_paths
from kubedtn.lab.state import LabState, PodRecord
from kubedtn.lab.teardown import labs_from_files


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(STATE_ROOT_ENV, str(tmp_path / "state"))
    return tmp_path


def record(lab: str, *pods: str, sources: tuple[str, ...] = ()) -> None:
    """A lab's record with pods given as "name" or "namespace/name"."""
    keys = [p.split("/") if "/" in p else ["default", p] for p in pods]
    records = tuple(PodRecord(name, ns, f"{lab}-{ns}_{name}") for ns, name in keys)
    state.save(lab_paths(lab), LabState(name=lab, store="s", pods=records, sources=sources))


def test_a_bare_name_finds_the_one_pod_of_that_name_in_any_namespace(root: Path) -> None:
    record("a", "team/r1", "r2")
    lab, pod = find_pod("r1", lab=None)
    assert (lab.name, pod.key) == ("a", "team/r1")
    assert find_pod("r2", lab="a")[1].key == "default/r2"
    assert find_pod("team/r1", lab=None)[1].key == "team/r1"


def test_a_bare_name_in_two_namespaces_names_both(root: Path) -> None:
    record("a", "r1", "team/r1")
    with pytest.raises(KubedtnError) as e:
        find_pod("r1", lab=None)
    assert str(e.value) == "pod r1 is ambiguous (lab a has default/r1 and team/r1): give NAMESPACE/r1"
    assert find_pod("team/r1", lab=None)[1].key == "team/r1"


def test_a_name_in_two_labs(root: Path) -> None:
    record("a", "team/r1")
    record("b", "team/r1")
    with pytest.raises(KubedtnError, match=r"^pod r1 is in several labs \(a, b\); say which with --name$"):
        find_pod("r1", lab=None)
    assert find_pod("r1", lab="b")[0].name == "b"
    record("b", "r1")
    with pytest.raises(KubedtnError) as e:
        find_pod("r1", lab=None)
    assert str(e.value) == (
        "pod r1 is ambiguous (lab a has team/r1, lab b has default/r1): give NAMESPACE/r1 and --name LAB"
    )


def test_a_missing_pod_says_where_that_name_is(root: Path) -> None:
    record("a", "team/r1")
    with pytest.raises(NotFoundError) as e:
        find_pod("default/r1", lab=None)
    assert str(e.value) == "pod default/r1 is not in any lab (a); lab a has team/r1"
    with pytest.raises(NotFoundError, match=r"^pod r9 is not in lab a$"):
        find_pod("r9", lab="a")


def test_down_by_file_finds_the_labs_brought_up_from_it(root: Path) -> None:
    ring, other, inside = root / "ring.yaml", root / "other.yaml", root / "dir" / "x.yaml"
    inside.parent.mkdir()
    for f in (ring, other, inside):
        f.write_text("")
    record("a", sources=(str(ring),))
    record("b", sources=(str(ring), str(inside.parent)))
    assert labs_from_files([str(ring)], None) == (["a", "b"], [])
    assert labs_from_files([str(inside)], None) == (["b"], [])  # a file of a directory given to `up`
    assert labs_from_files([str(other)], None) == ([], [str(other)])
    assert labs_from_files([str(ring)], "b") == (["b"], [])
    with pytest.raises(
        KubedtnError, match=r"^lab a was not brought up from .*other\.yaml \(its files: .*ring\.yaml\)$"
    ):
        labs_from_files([str(other)], "a")
    with pytest.raises(NotFoundError, match=r"nope\.yaml: no such file or directory"):
        labs_from_files([str(root / "nope.yaml")], None)
