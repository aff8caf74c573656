"""Lab names, namespace names and the lab's record on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubedtn.lab import state
from kubedtn.lab.names import (
    LAB_NAME_MAX,
    bridge_name,
    known_labs,
    lab_name_problem,
    lab_paths,
    netns_name,
    split_pod,
)
from kubedtn.lab.state import BypassRecord, CniRecord, DaemonRecord, LabState, PodRecord, StateError


@pytest.mark.parametrize("name", ["kdtn", "a", "lab-1", "x" * LAB_NAME_MAX])
def test_good_lab_names(name: str) -> None:
    assert lab_name_problem(name) is None
    assert len(bridge_name(name)) <= 15  # an interface name


@pytest.mark.parametrize("name", ["", "-a", "a-", "Lab", "a_b", "a.b", "x" * (LAB_NAME_MAX + 1)])
def test_bad_lab_names(name: str) -> None:
    why = lab_name_problem(name)
    assert why is not None and "lab name" in why


def test_namespace_names_are_distinct_within_a_lab() -> None:
    assert netns_name("kdtn", "default", "r1") == "kdtn-r1"
    assert netns_name("kdtn", "team", "r1") == "kdtn-team_r1"
    # a pod named like "<ns>_<pod>" cannot exist (no '_' in Kubernetes names), and dots stay apart
    assert netns_name("kdtn", "default", "a.b") != netns_name("kdtn", "a", "b")


def test_split_pod() -> None:
    assert split_pod("r1") == ("default", "r1")
    assert split_pod("team/r1") == ("team", "r1")


def test_paths_follow_the_environment(tmp_path: Path) -> None:
    env = {"KUBEDTN_LAB_STATE_DIR": str(tmp_path / "s"), "KUBEDTN_LAB_RUN_DIR": str(tmp_path / "r")}
    paths = lab_paths("demo", env)
    assert paths.state_file == tmp_path / "s" / "demo" / "lab.json"
    assert paths.socket == tmp_path / "r" / "demo" / "daemon.sock"
    assert paths.pod_list.parent == paths.daemon_state_dir


def test_state_round_trip_and_listing(tmp_path: Path) -> None:
    env = {"KUBEDTN_LAB_STATE_DIR": str(tmp_path), "KUBEDTN_LAB_RUN_DIR": str(tmp_path / "run")}
    paths = lab_paths("demo", env)
    assert state.load(paths) is None
    st = LabState(
        name="demo",
        store=str(paths.store),
        pods=(PodRecord("r1", "default", "demo-r1"),),
        daemon=DaemonRecord(socket=str(paths.socket), started=True, pid=42, argv=("kubedtn", "daemon")),
        cni=CniRecord(bridge="kdtn-demo", subnet="10.250.0.0/16", conflist="c", cni_path="p", ipam_dir="i"),
        bypass=BypassRecord(cgroup="/sys/fs/cgroup/kubedtn-lab-demo", pin_dir="/sys/fs/bpf/kubedtn-lab-demo"),
    )
    state.save(paths, st)
    assert state.load(paths) == st
    assert known_labs(env) == ["demo"]
    grown = st.with_pods([PodRecord("r0", "default", "demo-r0"), PodRecord("r1", "default", "demo-r1")])
    assert [p.name for p in grown.pods] == ["r0", "r1"]
    assert [p.name for p in grown.without_pods(["default/r0"]).pods] == ["r1"]
    state.remove(paths)
    assert state.load(paths) is None


def test_a_broken_state_file_is_named(tmp_path: Path) -> None:
    paths = lab_paths("demo", {"KUBEDTN_LAB_STATE_DIR": str(tmp_path)})
    paths.state_dir.mkdir(parents=True)
    paths.state_file.write_text(json.dumps({"pods": []}))
    with pytest.raises(StateError, match=r"lab\.json: not a lab state file"):
        state.load(paths)


def test_an_older_record_names_the_underlay_subnet(tmp_path: Path) -> None:
    paths = lab_paths("demo", {"KUBEDTN_LAB_STATE_DIR": str(tmp_path)})
    paths.state_dir.mkdir(parents=True)
    paths.state_file.write_text(json.dumps({"name": "demo", "store": "s", "subnet": "172.31.0.0/24"}))
    loaded = state.load(paths)
    assert loaded is not None and loaded.underlay == "172.31.0.0/24"
    assert "subnet" not in state.to_json(loaded) and state.to_json(loaded)["underlay"] == "172.31.0.0/24"
