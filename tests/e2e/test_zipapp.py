"""dist/kubedtn driven as users and runtimes drive it: the CLI, and the CNI plugin exec'd
with a kubelet-like environment (no HOME, system PATH, config on stdin)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support import zipapp

pytestmark = pytest.mark.e2e

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def run(
    argv: list[str], *, env: Mapping[str, str], stdin: bytes = b"", timeout: float = 120
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, input=stdin, capture_output=True, env=dict(env), timeout=timeout, check=False)


def kubelet_env(command: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    """What a runtime passes: CNI_* and a PATH, no HOME; logs kept in the test's directory."""
    return {
        "CNI_COMMAND": command,
        "PATH": SYSTEM_PATH,
        "KUBEDTN_CNI_LOG": str(tmp_path / "cni.log"),
        **extra,
    }


def loaded_modules(proc: subprocess.CompletedProcess[bytes]) -> set[str]:
    """Module names from `python -X importtime` output on stderr."""
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", proc.stderr.decode(), re.MULTILINE))


def test_help_lists_the_modes() -> None:
    proc = run([str(zipapp.executable()), "--help"], env={"PATH": SYSTEM_PATH})
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode()
    assert "CNI_COMMAND" in out
    for mode in ("topo", "version"):
        assert re.search(rf"^\s+{mode}\s", out, re.MULTILINE), f"{mode} missing from --help:\n{out}"


def test_version_prints_the_build_version() -> None:
    built = (zipapp.REPO / "src/kubedtn/_version.py").read_text()
    expected = re.search(r'VERSION = "([^"]+)"', built)
    assert expected
    proc = run([str(zipapp.executable()), "version"], env={"PATH": SYSTEM_PATH})
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode().strip() == expected.group(1)


def test_cni_version_with_empty_stdin(tmp_path: Path) -> None:
    with open(os.devnull, "rb") as devnull:
        proc = subprocess.run(
            [str(zipapp.executable())],
            stdin=devnull,
            capture_output=True,
            env=kubelet_env("VERSION", tmp_path),
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stderr == b""
    assert json.loads(proc.stdout) == {
        "cniVersion": "1.1.0",
        "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    }


def test_cni_version_answers_in_the_runtimes_version(tmp_path: Path) -> None:
    proc = run(
        [str(zipapp.executable())], env=kubelet_env("VERSION", tmp_path), stdin=b'{"cniVersion":"0.4.0"}'
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout)["cniVersion"] == "0.4.0"


def test_malformed_config_is_a_cni_error_with_nonzero_exit(tmp_path: Path) -> None:
    env = kubelet_env(
        "ADD",
        tmp_path,
        CNI_CONTAINERID="e2e0",
        CNI_NETNS="/var/run/netns/none",
        CNI_IFNAME="eth0",
        CNI_PATH="/opt/cni/bin",
    )
    proc = run([str(zipapp.executable())], env=env, stdin=b'{"cniVersion": "1.0.0", ')
    assert proc.returncode != 0
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1, f"stdout must carry only the error object: {proc.stdout!r}"
    error = json.loads(lines[0])
    assert error["code"] == 6
    assert error["cniVersion"] == "1.1.0"
    assert "not valid JSON" in error["msg"]
    assert "cmd=ADD container=e2e0 result=error code=6" in (tmp_path / "cni.log").read_text()


def test_unsupported_config_version_is_code_1(tmp_path: Path) -> None:
    env = kubelet_env("DEL", tmp_path, CNI_CONTAINERID="e2e0", CNI_IFNAME="eth0", CNI_PATH="/opt/cni/bin")
    proc = run(
        [str(zipapp.executable())], env=env, stdin=b'{"cniVersion":"0.1.0","name":"n","type":"kubedtn"}'
    )
    assert proc.returncode != 0
    assert json.loads(proc.stdout)["code"] == 1


def test_extracted_archive_starts_without_shivs_bootstrap_or_heavy_imports(tmp_path: Path) -> None:
    exe = zipapp.executable()
    env = kubelet_env("VERSION", tmp_path)
    assert run([str(exe)], env=env).returncode == 0  # extracts if this is the first run
    proc = run([sys.executable, "-X", "importtime", str(exe)], env=env, stdin=b'{"cniVersion":"1.0.0"}')
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["cniVersion"] == "1.0.0"
    loaded = loaded_modules(proc)
    assert "kubedtn.cni.plugin" in loaded  # the list is real
    assert not {"_bootstrap", "zipfile", "pathlib", "compileall"} & loaded, (
        "the launcher's fast path was not taken"
    )
    assert not {"grpc", "kubernetes", "pyroute2", "google.protobuf"} & loaded


def test_first_run_extracts_and_compiles_then_serves(tmp_path: Path) -> None:
    """A node where nothing pre-extracted the archive: the first CNI call extracts it."""
    root = tmp_path / "root"
    env = kubelet_env("VERSION", tmp_path, SHIV_ROOT=str(root))
    try:
        proc = run([str(zipapp.executable())], env=env, stdin=b'{"cniVersion":"1.0.0"}', timeout=600)
        assert proc.returncode == 0, proc.stderr.decode()
        assert json.loads(proc.stdout)["cniVersion"] == "1.0.0"  # extraction printed nothing on stdout
        (extracted,) = root.glob("kubedtn_*/site-packages")
        pycache = extracted / "kubedtn" / "cni" / "__pycache__"
        assert list(pycache.glob("plugin.cpython-*.pyc")), "--compile-pyc: nothing compiled at extraction"
        assert (extracted / "grpc").is_dir() and (extracted / "yaml").is_dir()
        # Only what src imports (requirements.txt): pyroute2 is the tests' oracle, elftools
        # joins with the code that uses it; kubernetes is the daemon's and controller's.
        names = {p.name for p in extracted.iterdir()}
        assert "kubernetes" in names
        assert not {"pyroute2", "elftools"} & names
    finally:
        shutil.rmtree(root, ignore_errors=True)  # ~30 MB; pytest keeps old tmp_paths around


def test_user_who_cannot_write_the_root_extracts_under_home() -> None:
    """The CLI run by a non-root user: the build's root (/var/lib/kubedtn/zipapp) is not
    writable, so the archive extracts under ~/.cache/kubedtn/zipapp."""
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    # Not tmp_path: pytest's base directory is private to root.
    base = Path(tempfile.mkdtemp(prefix="kubedtn-e2e-"))
    try:
        base.chmod(0o755)
        exe = base / "kubedtn-e2e"  # a name no other run has extracted under the root
        shutil.copy2(zipapp.executable(), exe)
        home = base / "home"
        home.mkdir()
        shutil.chown(home, user="nobody")
        proc = run(
            ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", str(exe), "version"],
            env={"PATH": SYSTEM_PATH, "HOME": str(home)},
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        assert list((home / ".cache/kubedtn/zipapp").glob("kubedtn-e2e_*/site-packages/kubedtn"))
    finally:
        shutil.rmtree(base)
