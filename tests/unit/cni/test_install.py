"""CNI install: the planning (pure) and the effects in temporary directories."""

from __future__ import annotations

import json
import os
import stat
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from kubedtn.cni import install, pyruntime
from kubedtn.errors import KubedtnError, ValidationError

BRIDGE: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "name": "cbr0",
    "plugins": [
        {"type": "bridge", "bridge": "cni0", "ipam": {"type": "host-local", "subnet": "10.22.0.0/16"}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
    "disableCheck": False,
}
FLANNEL_CONF = {
    "cniVersion": "0.3.1",
    "name": "flannel",
    "type": "flannel",
    "delegate": {"isDefaultGateway": True},
}
OURS = {"type": "kubedtn"}


def plan(conf_files: dict[str, bytes], **kwargs: Any) -> tuple[str, dict[str, Any]]:
    primary, content = install.plan_conflist(
        conf_files,
        conf_dir="/etc/cni/net.d",
        conflist_name=kwargs.pop("name", "00-kubedtn.conflist"),
        plugin=OURS,
        **kwargs,
    )
    return primary, json.loads(content)


# ---- planning -------------------------------------------------------------------------------


def test_a_conflist_primary_gets_kubedtn_appended_keeping_name_version_and_keys() -> None:
    primary, conflist = plan({"10-bridge.conflist": json.dumps(BRIDGE).encode()})
    assert primary == "10-bridge.conflist"
    assert conflist == {**BRIDGE, "plugins": [*BRIDGE["plugins"], OURS]}


def test_a_single_plugin_conf_is_wrapped_into_plugins() -> None:
    primary, conflist = plan({"10-flannel.conf": json.dumps(FLANNEL_CONF).encode()})
    assert primary == "10-flannel.conf"
    assert conflist == {
        "cniVersion": "0.3.1",
        "name": "flannel",
        "plugins": [{"type": "flannel", "delegate": {"isDefaultGateway": True}}, OURS],
    }


def test_the_first_config_by_name_is_the_primary_and_other_files_are_ignored() -> None:
    conf_files = {
        "20-second.conflist": json.dumps({**BRIDGE, "name": "second"}).encode(),
        "10-first.json": json.dumps({**FLANNEL_CONF, "name": "first"}).encode(),
        "05-readme.txt": b"not a config",
        ".05-hidden.conf.tmp": b"{",
    }
    assert plan(conf_files)[1]["name"] == "first"


def test_our_own_conflist_and_anything_chaining_kubedtn_are_skipped() -> None:
    conf_files = {
        "00-kubedtn.conflist": json.dumps({**BRIDGE, "plugins": [*BRIDGE["plugins"], OURS]}).encode(),
        "01-old-kubedtn.conflist": json.dumps({**BRIDGE, "plugins": [OURS]}).encode(),
        "10-bridge.conflist": json.dumps(BRIDGE).encode(),
    }
    assert plan(conf_files)[0] == "10-bridge.conflist"


def test_no_primary_is_a_clear_error() -> None:
    with pytest.raises(
        ValidationError, match=r"^no primary CNI config in /etc/cni/net.d; install the cluster network first$"
    ):
        plan({"00-kubedtn.conflist": json.dumps({**BRIDGE, "plugins": [OURS]}).encode()})
    with pytest.raises(ValidationError, match="no primary CNI config"):
        plan({})


def test_a_primary_sorting_before_our_name_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        plan({"00-aaa.conflist": json.dumps(BRIDGE).encode()}, name="00-kubedtn.conflist")
    assert str(caught.value) == (
        "/etc/cni/net.d/00-aaa.conflist sorts before 00-kubedtn.conflist, so the runtime would ignore "
        "kubedtn's conflist; choose a conflist name that sorts first (e.g. '00-00-kubedtn.conflist')"
    )


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("10-x.conflist", b"{", "not valid JSON"),
        ("10-x.conflist", b"[]", "not a JSON object"),
        ("10-x.conflist", json.dumps({**BRIDGE, "plugins": []}).encode(), "plugins must be a non-empty list"),
        (
            "10-x.conflist",
            json.dumps({**BRIDGE, "cniVersion": "0.2.0"}).encode(),
            "cniVersion '0.2.0'; kubedtn",
        ),
        ("10-x.conflist", json.dumps({**BRIDGE, "name": ""}).encode(), "name must be a non-empty string"),
        ("10-x.conf", json.dumps(BRIDGE).encode(), "a single-plugin config needs a type"),
    ],
)
def test_a_primary_that_cannot_be_chained_names_file_and_problem(
    name: str, data: bytes, problem: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        plan({name: data})
    assert str(caught.value).startswith(f"/etc/cni/net.d/{name}: cannot chain after it: ")
    assert problem in str(caught.value)


def test_bad_conflist_name_and_plugin_options_are_refused() -> None:
    with pytest.raises(
        ValidationError, match=r"must be a plain file name ending in \.conf, \.conflist, \.json"
    ):
        plan({"10-b.conflist": json.dumps(BRIDGE).encode()}, name="00-kubedtn.yaml")
    with pytest.raises(ValidationError, match=r"plugin options: daemonWaitSeconds must be a number"):
        install.plugin_entry({"daemonWaitSeconds": -5})
    assert install.plugin_entry({"daemonSocket": "/x.sock"}) == {"type": "kubedtn", "daemonSocket": "/x.sock"}


ZIPAPP_ENV = {"build_id": "abc123", "root": "/var/lib/kubedtn/zipapp", "entry_point": "kubedtn.main:main"}
BRIDGE_FILES = {"10-bridge.conflist": json.dumps(BRIDGE).encode()}


def _plan_install(conf_files: dict[str, bytes], **overrides: Any) -> install.InstallPlan:
    args: dict[str, Any] = {
        "conf_files": conf_files,
        "conf_dir": "/etc/cni/net.d",
        "conflist_name": "00-kubedtn.conflist",
        "plugin": OURS,
        "bin_dir": "/opt/cni/bin",
        "executable": b"zipapp bytes",
        "archive_environment": ZIPAPP_ENV,
        "installed": {},
        "previous": None,
        **overrides,
    }
    return install.plan_install(**args)


def _installed(plan: install.InstallPlan) -> dict[str, str]:
    return {f.path: f.sha256 for f in plan.files}


def test_a_zipapp_is_installed_as_archive_plus_launcher() -> None:
    plan = _plan_install(BRIDGE_FILES)
    assert [(f.path, f.write, f.mode) for f in plan.files] == [
        ("/opt/cni/bin/kubedtn.pyz", True, 0o755),
        ("/opt/cni/bin/kubedtn", True, 0o755),
    ]
    assert plan.files[0].content == b"zipapp bytes"
    assert plan.site_packages == "/var/lib/kubedtn/zipapp/kubedtn.pyz_abc123/site-packages"
    launcher = plan.files[1].content.decode()
    # The installing Python, no site.py, no PYTHON* variables.
    assert launcher.startswith(f"#!{sys.executable} -SE\n")
    assert f"SITE_PACKAGES = {plan.site_packages!r}" in launcher
    # It runs the unpacked copy only once the archive's launcher has marked it complete.
    assert "COMPLETE = '/var/lib/kubedtn/zipapp/kubedtn.pyz_abc123/complete'" in launcher
    assert "os.path.exists(COMPLETE)" in launcher
    assert "FALLBACK = ('/opt/cni/bin/kubedtn.pyz',)" in launcher  # the archive, on its own #! line
    assert plan.manifest.runtime is None
    assert plan.warm == "/opt/cni/bin/kubedtn.pyz"  # the warm run extracts where the launcher looks
    assert [path for path, _ in plan.manifest.files] == ["/opt/cni/bin/kubedtn", "/opt/cni/bin/kubedtn.pyz"]


RUNTIME = pyruntime.InstalledRuntime(
    path="/var/lib/kubedtn/python/0123456789abcdef",
    python="/var/lib/kubedtn/python/0123456789abcdef/bin/python3.11",
    written=True,
)


def test_with_a_python_runtime_the_launcher_runs_on_it() -> None:
    plan = _plan_install(BRIDGE_FILES, runtime=RUNTIME)
    launcher = plan.files[1].content.decode()
    assert launcher.startswith(f"#!{RUNTIME.python} -SE\n")
    # Without the unpacked copy the runtime runs the archive: the host may have no Python.
    assert f"FALLBACK = ({RUNTIME.python!r}, '-S', '-E', '/opt/cni/bin/kubedtn.pyz')" in launcher
    assert plan.manifest.runtime == RUNTIME.path
    assert install.Manifest.from_json(plan.manifest.to_json().encode(), source="m") == plan.manifest
    # Installed again with another runtime: the earlier one is removed, the same one kept.
    newer = pyruntime.InstalledRuntime(
        path="/r/fedcba9876543210", python="/r/fedcba9876543210/p", written=True
    )
    assert _plan_install(BRIDGE_FILES, runtime=newer, previous=plan.manifest).remove_runtime == RUNTIME.path
    assert _plan_install(BRIDGE_FILES, runtime=RUNTIME, previous=plan.manifest).remove_runtime is None
    assert _plan_install(BRIDGE_FILES, previous=plan.manifest).remove_runtime == RUNTIME.path
    with pytest.raises(
        ValidationError, match=r"--cni-python-runtime /var/lib/kubedtn/python/0123456789abcdef: .*launcher"
    ):
        _plan_install(BRIDGE_FILES, runtime=RUNTIME, archive_environment=None)
    uninstall = install.plan_uninstall(plan.manifest, current={}, conflist_content=None)
    assert uninstall.runtime == RUNTIME.path


@pytest.mark.parametrize(
    "environment", [None, {"build_id": "abc"}, {"build_id": "abc", "root": "$KUBEDTN_ROOT"}]
)
def test_without_a_fixed_extraction_root_the_executable_is_the_plugin(environment: Any) -> None:
    plan = _plan_install(BRIDGE_FILES, archive_environment=environment)
    assert [(f.path, f.content) for f in plan.files] == [("/opt/cni/bin/kubedtn", b"zipapp bytes")]
    assert (plan.site_packages, plan.warm) == (None, "/opt/cni/bin/kubedtn")


def test_install_plan_is_idempotent() -> None:
    first = _plan_install(BRIDGE_FILES)
    assert first.conflist.write and first.remove == ()
    assert first.manifest.conflist == "/etc/cni/net.d/00-kubedtn.conflist"
    assert first.primary == "/etc/cni/net.d/10-bridge.conflist"
    again = _plan_install(
        {**BRIDGE_FILES, "00-kubedtn.conflist": first.conflist.content},
        installed=_installed(first),
        previous=first.manifest,
    )
    assert [f.write for f in (*again.files, again.conflist)] == [False, False, False]
    assert again.remove == ()
    assert again.manifest == first.manifest


def test_install_plan_regenerates_after_the_primary_changed() -> None:
    first = _plan_install(BRIDGE_FILES)
    changed = {**BRIDGE, "plugins": [BRIDGE["plugins"][0]]}
    again = _plan_install(
        {"10-bridge.conflist": json.dumps(changed).encode(), "00-kubedtn.conflist": first.conflist.content},
        installed=_installed(first),
        previous=first.manifest,
    )
    assert again.conflist.write
    assert json.loads(again.conflist.content)["plugins"] == [BRIDGE["plugins"][0], OURS]


def test_install_plan_under_new_names_removes_what_the_earlier_install_left() -> None:
    first = _plan_install(BRIDGE_FILES)
    again = _plan_install(
        {**BRIDGE_FILES, "00-kubedtn.conflist": first.conflist.content},
        conflist_name="00-0-kubedtn.conflist",
        archive_environment=None,  # now without the launcher: the archive is no longer needed
        previous=first.manifest,
    )
    assert again.primary == "/etc/cni/net.d/10-bridge.conflist"
    assert again.remove == ("/etc/cni/net.d/00-kubedtn.conflist", "/opt/cni/bin/kubedtn.pyz")


def test_uninstall_plan_removes_only_what_is_still_ours() -> None:
    manifest = install.Manifest(
        conflist="/etc/cni/net.d/00-kubedtn.conflist",
        conflist_sha256=install.sha256(b"ours"),
        primary="/etc/cni/net.d/10-bridge.conflist",
        files=(("/opt/cni/bin/kubedtn", "l"), ("/opt/cni/bin/kubedtn.pyz", "z")),
    )
    paths = (manifest.conflist, "/opt/cni/bin/kubedtn", "/opt/cni/bin/kubedtn.pyz")
    unchanged = {"/opt/cni/bin/kubedtn": "l", "/opt/cni/bin/kubedtn.pyz": "z"}
    everything = install.plan_uninstall(manifest, current=unchanged, conflist_content=b"ours")
    assert everything.remove == paths
    edited = json.dumps({**BRIDGE, "plugins": [OURS]}).encode()  # edited, still chaining kubedtn
    assert install.plan_uninstall(manifest, current=unchanged, conflist_content=edited).remove == paths
    replaced = {"/opt/cni/bin/kubedtn": "other", "/opt/cni/bin/kubedtn.pyz": "z"}
    theirs = install.plan_uninstall(manifest, current=replaced, conflist_content=json.dumps(BRIDGE).encode())
    assert theirs.remove == ("/opt/cni/bin/kubedtn.pyz",)
    assert [path for path, _ in theirs.kept] == [manifest.conflist, "/opt/cni/bin/kubedtn"]
    gone = install.plan_uninstall(manifest, current={}, conflist_content=None)
    assert gone == install.UninstallPlan((), (), runtime=None)


def test_the_manifest_round_trips() -> None:
    manifest = _plan_install(BRIDGE_FILES).manifest
    assert install.Manifest.from_json(manifest.to_json().encode(), source="m") == manifest
    with pytest.raises(ValidationError, match="m: not a kubedtn CNI install manifest"):
        install.Manifest.from_json(b'{"files": []}', source="m")


# ---- effects --------------------------------------------------------------------------------


@pytest.fixture
def node(tmp_path: Path) -> dict[str, Path]:
    """A node's directories: CNI bin and conf dirs, kubedtn's state dir, and an executable."""
    dirs = {name: tmp_path / name for name in ("bin", "conf", "state")}
    for path in dirs.values():
        path.mkdir()
    (dirs["conf"] / "10-bridge.conflist").write_text(json.dumps(BRIDGE))
    (dirs["bin"] / "bridge").write_bytes(b"their plugin")
    executable = tmp_path / "kubedtn-build"
    executable.write_text('#!/bin/sh\n[ "$1" = version ] && [ -z "$HOME" ] && echo v1\n')
    executable.chmod(0o755)
    dirs["exe"] = executable
    return dirs


def _install(node: dict[str, Path], **kwargs: Any) -> install.InstallReport:
    return install.install_cni(
        executable=node["exe"],
        bin_dir=str(node["bin"]),
        conf_dir=str(node["conf"]),
        state_dir=str(node["state"]),
        **kwargs,
    )


def _snapshot(*dirs: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


def test_install_then_uninstall_leaves_the_node_as_it_was(node: dict[str, Path]) -> None:
    before = _snapshot(node["bin"], node["conf"], node["state"])
    report = _install(node, plugin_options={"daemonWaitSeconds": 10})
    binary = node["bin"] / "kubedtn"
    assert binary.read_bytes() == node["exe"].read_bytes()
    assert stat.S_IMODE(binary.stat().st_mode) == 0o755
    conflist = json.loads((node["conf"] / "00-kubedtn.conflist").read_text())
    assert conflist["name"] == "cbr0"
    assert conflist["plugins"][-1] == {"type": "kubedtn", "daemonWaitSeconds": 10}
    assert set(report.written) == {str(binary), str(node["conf"] / "00-kubedtn.conflist")}
    assert report.warm_seconds is not None  # the warm run ran (the script fails with a HOME)
    assert sorted(os.listdir(node["conf"])) == ["00-kubedtn.conflist", "10-bridge.conflist"]  # no temp left
    manifest = json.loads((node["state"] / "cni-install.json").read_text())
    assert manifest["files"] == {str(binary): install.sha256(node["exe"].read_bytes())}

    removed = install.uninstall_cni(state_dir=str(node["state"]))
    assert set(removed.removed) == {str(binary), str(node["conf"] / "00-kubedtn.conflist")}
    assert _snapshot(node["bin"], node["conf"], node["state"]) == before
    assert install.uninstall_cni(state_dir=str(node["state"])).lines() == [
        "nothing to remove: kubedtn's CNI plugin is not installed"
    ]


def test_install_twice_changes_nothing_the_second_time(node: dict[str, Path]) -> None:
    _install(node)
    mtimes = {
        p: p.stat().st_mtime_ns for p in (node["bin"] / "kubedtn", node["conf"] / "00-kubedtn.conflist")
    }
    report = _install(node, warm=False)
    assert report.written == ()
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_uninstall_keeps_a_binary_replaced_since(node: dict[str, Path]) -> None:
    _install(node)
    (node["bin"] / "kubedtn").write_bytes(b"someone else's kubedtn")
    report = install.uninstall_cni(state_dir=str(node["state"]))
    assert (node["bin"] / "kubedtn").exists()
    assert not (node["conf"] / "00-kubedtn.conflist").exists()
    assert report.kept[0][0] == str(node["bin"] / "kubedtn")


def test_nothing_is_touched_when_there_is_no_primary(node: dict[str, Path]) -> None:
    (node["conf"] / "10-bridge.conflist").unlink()
    with pytest.raises(ValidationError, match="no primary CNI config in"):
        _install(node)
    assert not (node["bin"] / "kubedtn").exists()
    assert list(node["state"].iterdir()) == []


def test_a_failing_warm_run_is_reported(node: dict[str, Path]) -> None:
    node["exe"].write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    with pytest.raises(KubedtnError, match=r"kubedtn version exited 3: broken"):
        _install(node)
    assert not (node["conf"] / "00-kubedtn.conflist").exists()  # never chained to a broken plugin


def test_a_python_runtime_that_cannot_be_used_is_refused_before_anything_is_written(
    node: dict[str, Path], tmp_path: Path
) -> None:
    before = _snapshot(node["bin"], node["conf"], node["state"])
    with pytest.raises(ValidationError, match=rf"--cni-python-runtime {tmp_path}: no runtime.json there"):
        _install(node, python_runtime=tmp_path)
    runtime = tmp_path / "python"
    runtime.mkdir()
    description = {"format": 1, "id": "0123456789abcdef", "version": "3.11.2", "python": "b", "loader": "l"}
    (runtime / "runtime.json").write_text(json.dumps(description))
    # The executable here is no zipapp: there is no launcher to run on the runtime.
    with pytest.raises(ValidationError, match=rf"--cni-python-runtime {runtime}: .* only for the launcher"):
        _install(node, python_runtime=runtime)
    # Nor is the runtime copied when the directories cannot take the plugin.
    zipapp = tmp_path / "kubedtn.zipapp"
    with zipfile.ZipFile(zipapp, "w") as z:
        z.writestr("environment.json", json.dumps(ZIPAPP_ENV))
    zipapp.chmod(0o755)
    (node["conf"] / "10-bridge.conflist").rename(tmp_path / "10-bridge.conflist")
    with pytest.raises(ValidationError, match=r"no primary CNI config in"):
        install.install_cni(
            executable=zipapp,
            bin_dir=str(node["bin"]),
            conf_dir=str(node["conf"]),
            state_dir=str(node["state"]),
            python_runtime=runtime,
        )
    (tmp_path / "10-bridge.conflist").rename(node["conf"] / "10-bridge.conflist")
    assert _snapshot(node["bin"], node["conf"], node["state"]) == before
    assert not (node["state"] / "python").exists()
    # "auto" without the node image's runtime, or no launcher: the plain install.
    assert _install(node, python_runtime="auto").runtime is None


def test_the_executable_must_be_a_zipapp_or_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["/usr/bin/pytest"])
    with pytest.raises(ValidationError, match=r"not a zipapp\): pass --executable PATH"):
        install.resolve_executable()
    with pytest.raises(ValidationError, match="not an executable file"):
        install.resolve_executable(tmp_path / "missing")
    archive = tmp_path / "kubedtn"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("environment.json", "{}")
    monkeypatch.setattr("sys.argv", [str(archive)])
    assert install.resolve_executable() == str(archive)


def test_the_marker_is_the_one_the_archives_launcher_writes() -> None:
    source = (Path(__file__).resolve().parents[3] / "hack" / "zipapp" / "launcher.py").read_text()
    assert f'\nMARKER = "{install.UNPACKED_MARKER}"' in source
