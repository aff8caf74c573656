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
from collections.abc import Iterator, Mapping
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
    # environment.json is read with json's C scanner alone: the json package pulls in re.
    assert not {"json", "re"} & loaded


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


# ---- the unpacked copy: complete or unpacked again ----------------------------------------

VERSION_STDIN = b'{"cniVersion":"1.0.0"}'


def _build_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.name.startswith("kubedtn_"))


def _cni_version(root: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    """The plugin's VERSION as a runtime execs it, unpacking under `root`; not waited for."""
    return subprocess.Popen(
        [str(zipapp.executable())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=kubelet_env("VERSION", tmp_path, SHIV_ROOT=str(root)),
    )


def _answers_version(proc: subprocess.Popen[bytes]) -> None:
    out, err = proc.communicate(VERSION_STDIN, timeout=600)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["cniVersion"] == "1.0.0"  # unpacking printed nothing on stdout


def test_a_copy_without_its_marker_is_unpacked_again(tmp_path: Path) -> None:
    """A node that lost power mid-unpack: files cut short or missing, no marker."""
    root = tmp_path / "root"
    try:
        _answers_version(_cni_version(root, tmp_path))
        (build,) = _build_dirs(root)
        marker = build / "complete"
        assert marker.is_file()
        site = build / "site-packages"
        plugin_py = site / "kubedtn" / "cni" / "plugin.py"
        original = plugin_py.read_bytes()
        marker.unlink()
        plugin_py.write_bytes(b"")  # cut short (its .pyc no longer matches it)
        (site / "kubedtn" / "cni" / "versions.py").unlink()
        _answers_version(_cni_version(root, tmp_path))
        assert _build_dirs(root) == [build] and marker.is_file()
        assert plugin_py.read_bytes() == original
        assert (site / "kubedtn" / "cni" / "versions.py").is_file()
        assert not [p for p in root.iterdir() if p.name.endswith((".partial", ".stale"))]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_copy_with_its_marker_is_run_as_it_is(tmp_path: Path) -> None:
    """The marker is what is trusted: a complete copy is never unpacked again (which would
    pull it away from processes running it)."""
    root = tmp_path / "root"
    try:
        _answers_version(_cni_version(root, tmp_path))
        (build,) = _build_dirs(root)
        site = build / "site-packages"
        inode = site.stat().st_ino
        _answers_version(_cni_version(root, tmp_path))
        assert site.stat().st_ino == inode
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_two_first_runs_at_once_both_succeed(tmp_path: Path) -> None:
    """Two pods' CNI calls on a node where nothing unpacked the archive yet."""
    root = tmp_path / "root"
    try:
        first, second = _cni_version(root, tmp_path), _cni_version(root, tmp_path)
        _answers_version(first)
        _answers_version(second)
        (build,) = _build_dirs(root)
        assert (build / "complete").is_file()
        assert (build / "site-packages" / "kubedtn" / "cni" / "plugin.py").stat().st_size > 0
        assert not [p for p in root.iterdir() if p.name.endswith((".partial", ".stale"))]
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def small_tmpfs() -> Iterator[Path]:
    """A 20 MiB tmpfs (the unpacked copy needs ~190 MB), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = Path(tempfile.mkdtemp(prefix="kubedtn-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)
        mountpoint.rmdir()


def test_a_full_disk_is_a_clear_error_and_a_later_run_with_space_unpacks(
    small_tmpfs: Path, tmp_path: Path
) -> None:
    proc = _cni_version(small_tmpfs, tmp_path)
    out, _ = proc.communicate(VERSION_STDIN, timeout=600)
    assert proc.returncode == 1
    error = json.loads(out)
    assert error["code"] == 999
    assert error["msg"].startswith(f"cannot unpack {zipapp.executable()} into {small_tmpfs}/kubedtn_")
    assert "No space left on device" in error["msg"]
    assert not [p for p in small_tmpfs.iterdir() if not p.name.endswith("_lock")]  # nothing half-made
    subprocess.run(["mount", "-o", "remount,size=400m", str(small_tmpfs)], check=True)
    _answers_version(_cni_version(small_tmpfs, tmp_path))
    (build,) = _build_dirs(small_tmpfs)
    assert (build / "complete").is_file()


# ---- another Python: pods in no topology still start --------------------------------------


def _other_pythons() -> list[str]:
    """Interpreters on this machine whose version is not the build's (3.7 and newer)."""
    found: dict[tuple[int, int], str] = {}
    candidates = [*Path("/usr/bin").glob("python3.*"), *Path("/root/.pyenv/versions").glob("3.*/bin/python3")]
    for path in sorted(candidates):
        match = re.search(r"python(3)\.(\d+)$", str(path)) or re.search(r"/3\.(\d+)\.\d+/bin/", str(path))
        if match is None or not os.access(path, os.X_OK):
            continue
        minor = int(match.groups()[-1])
        if minor >= 7 and (3, minor) != sys.version_info[:2]:
            found.setdefault((3, minor), str(path))
    return [found[v] for v in sorted(found)]


OTHER_PYTHONS = _other_pythons()


@pytest.mark.skipif(not OTHER_PYTHONS, reason="no Python 3.7+ other than the build's on this machine")
@pytest.mark.parametrize("python", OTHER_PYTHONS)
def test_on_another_python_a_pod_in_no_topology_starts_and_a_topology_pod_is_told_why_not(
    python: str, tmp_path: Path
) -> None:
    pod_list = tmp_path / "pods.json"
    pod_list.write_text('{"pods": ["lab/r1"]}')
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}], "ips": []}
    config = {
        "cniVersion": "1.0.0",
        "name": "k8s",
        "type": "kubedtn",
        "podList": str(pod_list),
        "daemonSocket": str(tmp_path / "no-daemon.sock"),
        "daemonWaitSeconds": 0,
        "prevResult": prev,
    }
    cni = {"CNI_CONTAINERID": "e2e0", "CNI_NETNS": "/var/run/netns/x", "CNI_IFNAME": "eth0", "CNI_PATH": "/"}

    def add(pod: str) -> subprocess.CompletedProcess[bytes]:
        env = kubelet_env("ADD", tmp_path, CNI_ARGS=f"K8S_POD_NAMESPACE=lab;K8S_POD_NAME={pod}", **cni)
        return run([python, str(zipapp.executable())], env=env, stdin=json.dumps(config).encode())

    passed = add("coredns")
    assert passed.returncode == 0, passed.stdout.decode() + passed.stderr.decode()
    assert json.loads(passed.stdout) == prev
    refused = add("r1")
    assert refused.returncode == 1 and refused.stderr == b""
    error = json.loads(refused.stdout)
    assert error["code"] == 103
    assert error["msg"].startswith("CNI_COMMAND=ADD for pod lab/r1: the pod is in a topology")
    assert "kubedtn needs Python 3.11 (it carries cp311 wheels); this is Python 3." in error["msg"]
    status = run(
        [python, str(zipapp.executable())],
        env=kubelet_env("STATUS", tmp_path),
        stdin=json.dumps(
            {**{k: v for k, v in config.items() if k != "prevResult"}, "cniVersion": "1.1.0"}
        ).encode(),
    )
    assert (status.returncode, status.stdout) == (0, b""), status.stdout
