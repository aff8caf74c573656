"""The installed CNI plugin on a node with no Python and no libc: a root directory holding
nothing but what install_cni wrote (bind-mounted at the paths it wrote them to, as the
DaemonSet's hostPath mounts do), the archive's unpacked copy, the daemon's socket
directory, /proc and /dev. The plugin is exec'd there with chroot, as a runtime execs it.

install_cni runs here, in the test's process (Debian, Python 3.11: the DaemonSet's
container), with the runtime that hack/portable-python.sh built in this session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedtn.cni import elfinterp, pyruntime
from kubedtn.cni.install import InstallReport, install_cni, uninstall_cni
from kubedtn.errors import KubedtnError, ValidationError
from tests.support import zipapp
from tests.support.cninode import SYSTEM_PATH, addresses, links
from tests.support.daemon import DaemonHandle, running_daemon
from tests.support.netns import NamespacePool, pool, wait_until
from tests.support.nopython import Bind, build_runtime, files_in, in_chroot, minbase_root
from tests.support.topologies import link

pytestmark = [pytest.mark.e2e, pytest.mark.root]
__all__ = ["pool"]  # a fixture

PREV = {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}], "ips": []}
# Two pods of one topology, linked a:eth1 <-> b:eth1.
PODS = {"nopy-a": "10.253.7.1/30", "nopy-b": "10.253.7.2/30"}


@pytest.fixture(scope="session")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The portable runtime as the node image has it (built here once per session)."""
    return build_runtime(tmp_path_factory.mktemp("runtime") / "python")


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kdtn-nopy-", dir="/tmp"))  # short: socket paths
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon() -> Iterator[DaemonHandle]:
    with running_daemon() as handle:
        yield handle


def _topology(pod: str, peer: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubedtn.io/v1",
        "kind": "Topology",
        "metadata": {"name": pod, "namespace": "default"},
        "spec": {"links": [link(uid=7, peer=peer, ip=PODS[pod], peer_ip=PODS[peer])]},
    }


def _load(daemon: DaemonHandle) -> None:
    store = daemon.store()
    try:
        store.create(_topology("nopy-a", "nopy-b"))
        store.create(_topology("nopy-b", "nopy-a"))
    finally:
        store.close()

    def listed() -> bool:
        try:
            return set(PODS) <= {
                p.split("/")[1] for p in json.loads(daemon.pod_list_path.read_text())["pods"]
            }
        except (OSError, ValueError, KeyError):
            return False

    wait_until(listed, timeout_s=20, what="the daemon's pod list to name the pods")


class Node:
    """The plugin as installed into `work`/node, and the empty root it is exec'd in."""

    def __init__(
        self, work: Path, report: InstallReport, daemon: DaemonHandle, *, lower: Path | None = None
    ) -> None:
        self.work = work
        self.root = work / "root"
        self.root.mkdir()
        self.lower = lower  # a root to show under the mounts (an overlay), else an empty one
        assert report.site_packages is not None
        self.report = report
        self.binds = [
            Bind(work / "node", str(work / "node")),  # CNI bin, conf and state dirs
            Bind(daemon.root, str(daemon.root)),  # the daemon's socket and pod list
            Bind(Path(report.site_packages).parent, os.path.dirname(report.site_packages), read_only=True),
        ]

    def call(self, command: str, *, pod: str = "", netns: str = "", prev: Any = None) -> tuple[int, Any]:
        config: dict[str, Any] = {"cniVersion": "1.0.0", "name": "cbr0", "type": "kubedtn", **self.options}
        if prev is not None:
            config["prevResult"] = prev
        env = {"PATH": SYSTEM_PATH, "CNI_COMMAND": command, "CNI_PATH": str(self.work / "node" / "bin")}
        if pod:
            env |= {
                "CNI_CONTAINERID": f"c-{pod}",
                "CNI_NETNS": f"/run/netns/{netns}",
                "CNI_IFNAME": "eth0",
                "CNI_ARGS": f"IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME={pod}",
            }
        proc = in_chroot(
            self.root,
            [self.report.plugin],
            binds=self.binds,
            env=env,
            stdin=json.dumps(config).encode(),
            lower=self.lower,
        )
        assert not proc.stderr or proc.returncode == 0, proc.stderr.decode(errors="replace")
        return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else None

    @property
    def options(self) -> dict[str, Any]:
        conflist = json.loads(Path(self.report.conflist).read_text())
        return {k: v for k, v in conflist["plugins"][-1].items() if k != "type"}


@pytest.fixture
def installed(runtime: Path, work: Path, daemon: DaemonHandle) -> Iterator[InstallReport]:
    """install_cni with the runtime into work/node/{bin,net.d,state}; uninstalled after,
    checking that uninstall removed the runtime's copy."""
    node_dir = work / "node"
    for name in ("bin", "net.d", "state"):
        (node_dir / name).mkdir(parents=True)
    (node_dir / "net.d" / "10-bridge.conflist").write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "cbr0", "plugins": [{"type": "bridge", "bridge": "cni0"}]})
    )
    extraction_root = Path("/var/lib/kubedtn/zipapp")
    existing = set(extraction_root.iterdir()) if extraction_root.is_dir() else set()
    report = install_cni(
        executable=zipapp.executable(),
        bin_dir=str(node_dir / "bin"),
        conf_dir=str(node_dir / "net.d"),
        state_dir=str(node_dir / "state"),
        python_runtime=runtime,
        plugin_options={
            "daemonSocket": str(daemon.socket_path),
            "podList": str(daemon.pod_list_path),
            "logFile": str(node_dir / "cni.log"),
        },
    )
    assert report.site_packages is not None
    extracted = Path(report.site_packages).parent
    try:
        yield report
    finally:
        removed = uninstall_cni(state_dir=str(node_dir / "state"))
        if extracted not in existing:  # ours: leave another run's copy alone
            shutil.rmtree(extracted, ignore_errors=True)
    assert report.runtime in removed.removed
    assert os.listdir(node_dir / "state" / "python") == [".lock"]


def test_the_plugin_runs_where_there_is_nothing_but_what_install_wrote(
    runtime: Path, installed: InstallReport, work: Path, daemon: DaemonHandle, pool: NamespacePool
) -> None:
    _load(daemon)
    runtime_id = pyruntime.read_runtime(str(runtime)).id
    copy = work / "node" / "state" / "python" / runtime_id
    assert installed.runtime == str(copy) and (copy / "complete").is_file()
    assert Path(installed.plugin).read_text().startswith(f"#!{copy}/bin/python3.11 -SE\n")

    node = Node(work, installed, daemon)
    assert files_in(node.root) == []  # no Python, no libc, no shell: only mount points

    code, answer = node.call("VERSION")
    assert code == 0 and "1.0.0" in answer["supportedVersions"]
    # Malformed input is a CNI error on stdout (the runtime shows its message), not a crash.
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c-x", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0"}
    env["KUBEDTN_CNI_LOG"] = str(work / "node" / "cni.log")  # (no config to name its log)
    proc = in_chroot(
        node.root, [installed.plugin], binds=node.binds, env=env, stdin=b'{"cniVersion": "1.0.0", '
    )
    assert proc.returncode == 1 and json.loads(proc.stdout)["code"] == 6, proc.stderr

    # A pod in no topology: the primary network's result passes through, no daemon call.
    a_ns, b_ns, web_ns = pool.make(3)
    assert node.call("ADD", pod="web", netns=web_ns, prev=PREV) == (0, PREV)

    # Topology pods: the plugin asks the daemon, which links them when both are up.
    assert node.call("ADD", pod="nopy-a", netns=a_ns, prev=PREV) == (0, PREV)
    code, result = node.call("ADD", pod="nopy-b", netns=b_ns, prev=PREV)
    assert code == 0 and result["interfaces"][0] == PREV["interfaces"][0]
    assert addresses(a_ns, "eth1") == {PODS["nopy-a"]}
    assert addresses(b_ns, "eth1") == {PODS["nopy-b"]}
    assert links(a_ns)["eth1"]["linkinfo"]["info_kind"] == "veth"

    assert node.call("DEL", pod="nopy-b", netns=b_ns, prev=result)[0] == 0
    assert "eth1" not in links(a_ns) and "eth1" not in links(b_ns)
    assert files_in(node.root) == []  # the mounts are gone with the command's namespace

    # The unpacked archive gone (not mounted): the launcher runs the archive on the
    # runtime, which unpacks it again, here into the root's own /var/lib/kubedtn.
    node.binds.pop()
    assert node.call("ADD", pod="web", netns=web_ns, prev=PREV) == (0, PREV)
    assert installed.site_packages is not None
    unpacked = node.root / os.path.dirname(installed.site_packages).lstrip("/")
    assert (unpacked / "complete").is_file()


# What the runtime has mapped: every shared object, by path.
MAPPED = """
import json
with open("/proc/self/maps") as maps:
    paths = {line.split()[5] for line in maps if len(line.split()) > 5}
print(json.dumps(sorted(p for p in paths if ".so" in p)))
"""


def test_on_a_debian_minbase_the_runtime_loads_nothing_of_the_host(
    installed: InstallReport, work: Path, daemon: DaemonHandle, pool: NamespacePool
) -> None:
    minbase = minbase_root()
    assert not list((minbase / "usr" / "bin").glob("python*"))  # Debian without Python
    host_libc = minbase / "usr" / "lib" / "x86_64-linux-gnu" / "libc.so.6"
    assert host_libc.exists()  # ... with a glibc at the standard paths, which must stay unused
    node = Node(work, installed, daemon, lower=minbase)

    (web_ns,) = pool.make(1)
    assert node.call("ADD", pod="web", netns=web_ns, prev=PREV) == (0, PREV)

    assert installed.runtime is not None
    python = os.path.join(installed.runtime, "bin", "python3.11")
    # The imports the plugin's full path makes, through the runtime's extension modules.
    code = "import ssl, json, socket, hashlib, ctypes, sqlite3\n" + MAPPED
    proc = in_chroot(node.root, [python, "-S", "-E", "-c", code], binds=node.binds, env={}, lower=minbase)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    mapped = json.loads(proc.stdout)
    assert any(p.endswith("/libc.so.6") for p in mapped) and any(
        p.endswith("_ssl.cpython-311-x86_64-linux-gnu.so") for p in mapped
    )
    assert [p for p in mapped if not p.startswith(installed.runtime + "/")] == []


def test_the_runtime_copy_is_made_once_checked_and_never_left_half_made(
    runtime: Path, tmp_path: Path
) -> None:
    runtimes = tmp_path / "python"
    first = pyruntime.install_runtime(str(runtime), runtimes_dir=str(runtimes), python_version=(3, 11))
    copy = Path(first.path)
    assert first.written and copy.parent == runtimes and (copy / "complete").is_file()
    slot = elfinterp.interpreter(Path(first.python).read_bytes(), source=first.python)
    assert slot.path == f"{copy}/lib/ld-linux-x86-64.so.2" and slot.size == 1024
    proc = subprocess.run(
        [first.python, "-S", "-E", "-c", "import sys; print(sys.prefix)"],
        env={},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (0, f"{copy}\n"), proc.stderr
    again = pyruntime.install_runtime(str(runtime), runtimes_dir=str(runtimes), python_version=(3, 11))
    assert again == pyruntime.InstalledRuntime(path=first.path, python=first.python, written=False)

    # A copy without its marker (a crash mid-install) is made again.
    (copy / "complete").unlink()
    (copy / "lib" / "libc.so.6").write_bytes(b"")
    assert pyruntime.install_runtime(str(runtime), runtimes_dir=str(runtimes), python_version=(3, 11)).written
    assert (copy / "lib" / "libc.so.6").stat().st_size > 0

    # A runtime that does not run is refused, and nothing of it stays.
    broken = tmp_path / "broken"
    shutil.copytree(runtime, broken)
    (broken / "lib" / "libc.so.6").write_bytes(b"not a library")
    elsewhere = tmp_path / "elsewhere"
    with pytest.raises(KubedtnError, match=r"/bin/python3.11: the installed Python runtime exited 127"):
        pyruntime.install_runtime(str(broken), runtimes_dir=str(elsewhere), python_version=(3, 11))
    assert os.listdir(elsewhere) == [".lock"]
    with pytest.raises(ValidationError, match=r"Python 3.11.\d+, but .* built for Python 3.12"):
        pyruntime.install_runtime(str(runtime), runtimes_dir=str(elsewhere), python_version=(3, 12))
