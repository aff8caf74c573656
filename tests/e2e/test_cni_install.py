"""`install_cni` with the built executable: the installed plugin works as a runtime execs it
(launcher and its fallback to the archive), and uninstall leaves the node as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedtn.cni.install import install_cni, uninstall_cni
from tests.support import zipapp
from tests.support.cninode import SYSTEM_PATH

pytestmark = [pytest.mark.e2e, pytest.mark.root]

PREV = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}], "ips": []}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[dict[str, Path]]:
    dirs = {name: tmp_path / name for name in ("bin", "net.d", "state")}
    for path in dirs.values():
        path.mkdir()
    (dirs["net.d"] / "10-bridge.conflist").write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "cbr0", "plugins": [{"type": "bridge", "bridge": "cni0"}]})
    )
    yield dirs


def call(plugin: str, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    config = {
        "cniVersion": "1.0.0",
        "name": "cbr0",
        "type": "kubedtn",
        "podList": str(tmp_path / "no-list.json"),
        "prevResult": PREV,
    }
    env = {
        "PATH": SYSTEM_PATH,
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/run/netns/x",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(tmp_path / "bin"),
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web",
        "KUBEDTN_CNI_LOG": str(tmp_path / "cni.log"),
    }
    return subprocess.run(
        [plugin], input=json.dumps(config).encode(), env=env, capture_output=True, timeout=300, check=False
    )


def test_installed_plugin_runs_the_extracted_archive_and_falls_back_to_it(
    node: dict[str, Path], tmp_path: Path
) -> None:
    exe = zipapp.executable()
    before = {p: p.read_bytes() for d in node.values() for p in d.iterdir()}
    extraction_root = Path("/var/lib/kubedtn/zipapp")
    existing = set(extraction_root.iterdir()) if extraction_root.is_dir() else set()
    report = install_cni(
        executable=exe, bin_dir=str(node["bin"]), conf_dir=str(node["net.d"]), state_dir=str(node["state"])
    )
    assert report.site_packages is not None and report.warnings == ()
    extracted = Path(report.site_packages).parent
    try:
        assert extracted.is_dir()  # the warm run extracted it: no pod's ADD will
        assert (node["bin"] / "kubedtn.pyz").read_bytes() == exe.read_bytes()
        conflist = json.loads((node["net.d"] / "00-kubedtn.conflist").read_text())
        assert [p["type"] for p in conflist["plugins"]] == ["bridge", "kubedtn"]

        proc = call(report.plugin, tmp_path)
        assert proc.returncode == 0, proc.stderr.decode()
        assert json.loads(proc.stdout) == PREV

        # Without the extracted copy, the launcher runs the archive, which extracts again.
        moved = extracted.with_name(extracted.name + ".moved")
        extracted.rename(moved)
        try:
            proc = call(report.plugin, tmp_path)
            assert proc.returncode == 0, proc.stderr.decode()
            assert json.loads(proc.stdout) == PREV
            assert extracted.is_dir()
        finally:
            shutil.rmtree(moved, ignore_errors=True)
    finally:
        removed = uninstall_cni(state_dir=str(node["state"]))
        if extracted not in existing:  # ours: leave another run's copy alone
            shutil.rmtree(extracted, ignore_errors=True)
    assert set(removed.removed) == {
        str(node["net.d"] / "00-kubedtn.conflist"),
        str(node["bin"] / "kubedtn"),
        str(node["bin"] / "kubedtn.pyz"),
    }
    assert {p: p.read_bytes() for d in node.values() for p in d.iterdir()} == before


def test_a_plain_copy_without_the_launcher(node: dict[str, Path], tmp_path: Path) -> None:
    exe = zipapp.executable()
    report = install_cni(
        executable=exe,
        bin_dir=str(node["bin"]),
        conf_dir=str(node["net.d"]),
        state_dir=str(node["state"]),
        launcher=False,
    )
    try:
        assert report.site_packages is None
        assert sorted(os.listdir(node["bin"])) == ["kubedtn"]
        assert (node["bin"] / "kubedtn").read_bytes() == exe.read_bytes()
        proc = call(report.plugin, tmp_path)
        assert (proc.returncode, json.loads(proc.stdout)) == (0, PREV)
    finally:
        uninstall_cni(state_dir=str(node["state"]))
    assert os.listdir(node["bin"]) == []
