"""A node run by a real container runtime: Debian's containerd, driven over its CRI socket.

::

    host mount namespace       the test; ROOT/host/P holds what the node has at host path P
    node = netns NAME-node     containerd (and the CNI plugins it execs, and its shims) in
         + its own mount ns    the node's network namespace and a mount namespace of its own,
                               where every host path of ``HOST_PATHS`` (and the caller's) is
                               ROOT/host/P bind-mounted at P: /opt/cni/bin, /etc/cni/net.d,
                               /var/run/netns, ...

So the node has its own /opt/cni/bin, /etc/cni/net.d and /var/run/netns at the usual paths,
as a machine has, and a DaemonSet's hostPath volumes are ROOT/host/P on the test's side.
containerd keeps its pod namespaces under /var/run/netns of the node (its default:
``netns_mounts_under_state_dir`` stays off, because that directory is what the DaemonSet
mounts). ROOT/host/var/run/netns is a shared mount in the host's mount namespace, and the
node's /var/run/netns is a bind of it made in the node's namespace, so the two are peers:
the namespaces containerd mounts there appear at ROOT/host/var/run/netns on the test's side
and in a container that binds that directory with ``rshared`` (the DaemonSet's
Bidirectional). Mount points the node binds over that the host lacks (/opt/cni/bin,
/run/kubedtn) are made empty and removed again by the last node of any test to stop
(``MOUNTPOINTS`` records them).

containerd is started with ``nsenter --net`` (not ``ip netns exec``, which remounts /sys),
its root, state, socket and plugin dirs under ROOT, ``restrict_oom_score_adj`` (the tests
run it as root outside a container's OOM range), its CNI chain Debian's ``bridge`` +
``host-local`` as the node's primary network (``PRIMARY_CONFLIST``), and the sandbox image
of ``tests.support.pauseimage`` imported. Pods get ``cgroup_parent`` ``/NAME``.

``containerd_node`` yields a ``ContainerdNode`` and removes everything afterwards, also
when the test fails: sandboxes (CRI Stop and Remove), containerd, its shims, the mounts
under ROOT, the cgroups, the namespaces, the directories.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kubedtn.ebpf.bpffs import cgroup2_root
from tests.support import bpfcheck, pauseimage
from tests.support.cri.client import CriClient

# The host paths every node has (the runtime's CNI dirs and pod namespaces).
CNI_BIN_DIR: Final = "/opt/cni/bin"
CNI_CONF_DIR: Final = "/etc/cni/net.d"
NETNS_DIR: Final = "/var/run/netns"
HOST_PATHS: Final = (CNI_BIN_DIR, CNI_CONF_DIR, NETNS_DIR)
# Kernel filesystems a DaemonSet mounts from the host. They are the machine's, shared by
# everything on it: a node gets a directory of its own in each (``ContainerdNode.kernel_dirs``),
# never an empty stand-in (an empty /sys/fs/cgroup in the node's mount namespace leaves runc no
# cgroup hierarchy), and never the machine's root (an eBPF program attached there would see
# every socket of the machine). containerd keeps the machine's /sys/fs/cgroup; the DaemonSet's
# hostPath /sys/fs/cgroup is shaped as the machine's is: on a hybrid host (cgroup v2 at
# /sys/fs/cgroup/unified) a directory whose ``unified`` is a bind of the node's v2 directory,
# on a unified host the node's v2 directory itself.
CGROUP_FS: Final = "/sys/fs/cgroup"
BPF_FS: Final = "/sys/fs/bpf"
KERNEL_PATHS: Final = (CGROUP_FS, BPF_FS)
DEBIAN_PLUGINS: Final = Path("/usr/lib/cni")
PRIMARY_CONFLIST: Final = "10-primary.conflist"
POD_SUBNET: Final = "10.88.0.0/24"
NODE_IP: Final = "10.87.0.2"  # the node's address (its uplink's; status.hostIP)
MOUNTPOINTS: Final = "/run/lock/kubedtn-test-node-mountpoints"
K8S_NAMESPACE: Final = "k8s.io"  # containerd's namespace of CRI objects


def _run(
    argv: Sequence[str], *, timeout: float = 60.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def mountinfo() -> list[tuple[str, str]]:
    """(mount point, optional fields such as ``shared:N``) of the calling process's namespace."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        sep = fields.index("-")
        out.append((fields[4].replace("\\040", " "), " ".join(fields[6:sep])))
    return out


def mount_of(path: str, mounts: Sequence[str]) -> str:
    """The mount point holding ``path`` (pure: the longest mount point that is a prefix)."""
    best = "/"
    for m in mounts:
        if (path == m or path.startswith(m.rstrip("/") + "/")) and len(m) > len(best):
            best = m
    return best


def containerd_config(*, root: Path, socket: Path, sandbox_image: str, cni_bin: str, cni_conf: str) -> str:
    """containerd's config.toml (version 2) for a node of its own (see the module docstring)."""
    return f"""version = 2
root = "{root}/lib"
state = "{root}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{root}/runc"
"""


def primary_conflist(*, ipam_dir: Path) -> dict[str, Any]:
    """The node's primary network: Debian's bridge plugin, addresses from host-local."""
    return {
        "cniVersion": "1.0.0",
        "name": "primary",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET}]],
                    "dataDir": str(ipam_dir),
                },
            }
        ],
    }


@dataclass
class ContainerdNode:
    name: str  # the prefix of everything made (namespaces, cgroups, interfaces)
    root: Path
    netns: str  # the node's network namespace, in the host's /run/netns
    ip: str
    socket: Path
    host_paths: tuple[str, ...]
    proc: subprocess.Popen[bytes] | None = None
    registry: int = -1  # the shared record of mount points made (fd of MOUNTPOINTS, flocked)

    @property
    def uplinks(self) -> set[str]:
        """The node's own veth pair (its address is on the first)."""
        return {f"{self.name[:11]}-up", f"{self.name[:11]}-uq"}

    @property
    def cgroup_parent(self) -> str:
        return f"/{self.name}"

    @property
    def log(self) -> Path:
        return self.root / "containerd.log"

    @property
    def kernel_dirs(self) -> dict[str, Path]:
        """The node's own directory in each kernel filesystem of ``KERNEL_PATHS``: its pods'
        cgroup in the cgroup v2 hierarchy (runc makes the pods' cgroups under it), and a
        directory on bpffs."""
        return {CGROUP_FS: cgroup2_root() / self.name, BPF_FS: Path(BPF_FS) / self.name}

    @property
    def hybrid_cgroups(self) -> bool:
        """Whether the machine mounts cgroup v2 beside v1, at /sys/fs/cgroup/unified."""
        return cgroup2_root() != Path(CGROUP_FS)

    def host_path(self, path: str) -> Path:
        """Where the node's host path ``path`` is, seen from the test."""
        if path == BPF_FS or (path == CGROUP_FS and not self.hybrid_cgroups):
            return self.kernel_dirs[path]
        return self.root / "host" / path.lstrip("/")

    def netns_path(self, runtime_path: str) -> Path:
        """A pod namespace's path as the runtime named it (``/var/run/netns/cni-...``), seen from the test."""
        return self.host_path(runtime_path)

    def cri(self) -> CriClient:
        return CriClient(str(self.socket))

    def pod_namespaces(self) -> list[str]:
        """Names of the network namespaces the runtime has in the node's /var/run/netns."""
        return sorted(os.listdir(self.host_path(NETNS_DIR)))

    def ctr(self, *args: str, timeout: float = 120.0) -> str:
        return _run(
            ["ctr", "--address", str(self.socket), "-n", K8S_NAMESPACE, *args], timeout=timeout
        ).stdout


def _node_script(node: ContainerdNode, config: Path) -> str:
    """The shell the node's mount namespace starts with: its binds, then containerd."""
    mounts = [m for m, _ in mountinfo()]
    lines = ["set -e"]
    for path in node.host_paths:
        real = os.path.realpath(path)
        # Only this namespace's copy of the parent mount: the bind below must not reach the host.
        lines.append(f"mount --make-private '{mount_of(real, mounts)}'")
        lines.append(f"mount --bind '{node.host_path(path)}' '{real}'")
    lines.append(f"exec containerd --config '{config}'")
    return "\n".join(lines)


def _make_mountpoints(node: ContainerdNode) -> None:
    """The host paths the host lacks, made empty as mount points for the node's binds, and
    recorded in MOUNTPOINTS. Every running node holds a shared lock on it; the last one to stop
    removes what it lists (a directory removed on the host would take away the binds a node
    of another test still has there)."""
    node.registry = os.open(MOUNTPOINTS, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    # Shared: a node that starts waits only for one removing the mount points; two starting
    # at once may both make and record a directory (makedirs and rmdir tolerate that).
    fcntl.flock(node.registry, fcntl.LOCK_SH)
    for path in node.host_paths:
        node.host_path(path).mkdir(parents=True, exist_ok=True)
        real = os.path.realpath(path)
        if not os.path.isdir(real):
            os.makedirs(real, exist_ok=True)
            os.write(node.registry, f"{real}\n".encode())


def _remove_mountpoints(node: ContainerdNode) -> None:
    if node.registry < 0:
        return
    fd, node.registry = node.registry, -1
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another node still runs: the last one removes them
        made = Path(f"/proc/self/fd/{fd}").read_text().split()
        for path in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(path)
        with contextlib.suppress(OSError):
            os.unlink(MOUNTPOINTS)
    finally:
        os.close(fd)


def _start(node: ContainerdNode) -> None:
    root = node.root
    _make_mountpoints(node)
    for directory in node.kernel_dirs.values():
        directory.mkdir()
    if node.hybrid_cgroups:
        unified = node.host_path(CGROUP_FS) / "unified"
        unified.mkdir(parents=True)
        _run(["mount", "--bind", str(node.kernel_dirs[CGROUP_FS]), str(unified)])
    # The pod namespaces' directory: a shared mount, so the node's bind of it is its peer.
    netns_dir = str(node.host_path(NETNS_DIR))
    _run(["mount", "--bind", netns_dir, netns_dir])
    _run(["mount", "--make-shared", netns_dir])
    # The node's CNI dirs: Debian's plugins (and loopback, which containerd runs itself) and
    # the primary network.
    cni_bin = node.host_path(CNI_BIN_DIR)
    for plugin in ("bridge", "host-local", "loopback"):
        (cni_bin / plugin).symlink_to(DEBIAN_PLUGINS / plugin)
    (node.host_path(CNI_CONF_DIR) / PRIMARY_CONFLIST).write_text(
        json.dumps(primary_conflist(ipam_dir=root / "ipam"), indent=2)
    )
    config = root / "containerd.toml"
    config.write_text(
        containerd_config(
            root=root,
            socket=node.socket,
            sandbox_image=pauseimage.IMAGE,
            cni_bin=CNI_BIN_DIR,
            cni_conf=CNI_CONF_DIR,
        )
    )
    _run(["ip", "netns", "add", node.netns])
    ns = ["ip", "-n", node.netns]
    _run([*ns, "link", "set", "lo", "up"])
    # The node's uplink: a veth pair with both ends in the node (this kernel has no dummy).
    uplink, other = sorted(node.uplinks)
    _run([*ns, "link", "add", uplink, "type", "veth", "peer", "name", other])
    _run([*ns, "addr", "add", f"{node.ip}/24", "dev", uplink])
    _run([*ns, "link", "set", other, "up"])
    _run([*ns, "link", "set", uplink, "up"])
    with node.log.open("ab") as log:
        node.proc = subprocess.Popen(
            [
                "nsenter",
                f"--net=/run/netns/{node.netns}",
                "unshare",
                "--mount",
                "--propagation",
                "unchanged",
                "sh",
                "-c",
                _node_script(node, config),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    with node.cri() as cri:
        try:
            cri.wait_ready(60.0)
        except Exception as e:
            raise AssertionError(f"containerd did not answer on {node.socket}:\n{_tail(node.log)}") from e
    node.ctr("images", "import", str(pauseimage.build_archive(root / "pause-image.tar")))


def _tail(path: Path, lines: int = 40) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def remove_sandboxes(node: ContainerdNode) -> None:
    with node.cri() as cri:
        for sandbox in cri.list_pod_sandboxes():
            cri.delete_pod(sandbox.id)


def _stop(node: ContainerdNode) -> list[str]:
    """Everything undone, in reverse; what could not be (the caller fails the test on it)."""
    problems: list[str] = []

    def attempt(what: str, action: object) -> None:
        try:
            action()  # type: ignore[operator]
        except Exception as e:
            problems.append(f"{what}: {e}")

    # What a DaemonSet's eBPF programs left on the node (attached to its cgroup, pinned on its
    # bpffs), to check it is freed once both are removed.
    bpf_objects: list[tuple[str, int]] = []
    attempt("reading the bpf objects", lambda: bpf_objects.extend(_bpf_objects(node)))
    if node.proc is not None and node.proc.poll() is None:
        attempt("removing the sandboxes", lambda: remove_sandboxes(node))
        node.proc.send_signal(signal.SIGTERM)
        try:
            node.proc.wait(20)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait(10)
    attempt("its shims", lambda: _kill_shims(node))
    # Pods' processes a failed removal left (a pause orphaned by its killed shim).
    attempt("pod processes", lambda: _kill_cgroup_processes(node.cgroup_parent))
    attempt("mounts", lambda: _unmount_under(node.root))
    attempt("cgroups", lambda: _remove_cgroups(node.cgroup_parent))
    attempt("bpffs", lambda: _remove_bpf_dir(node.kernel_dirs[BPF_FS]))
    attempt("bpf objects", lambda: _wait_freed(bpf_objects))
    left = [point for point, _ in mountinfo() if point.startswith(f"{node.root}/")]
    if left:
        problems.append(f"mounts left under {node.root}: {left}")
    if _shims(node):
        problems.append(f"shims left: {_shims(node)}")
    _run(["ip", "netns", "delete", node.netns], check=False)
    attempt("mount points", lambda: _remove_mountpoints(node))
    attempt("files", lambda: shutil.rmtree(node.root))
    return problems


def _remove_bpf_dir(directory: Path) -> None:
    # What a daemon pinned there outlives it, by design; unlinking the pins frees the objects.
    if directory.exists():
        shutil.rmtree(directory)


def _bpf_objects(node: ContainerdNode) -> list[tuple[str, int]]:
    attached = [("prog", i) for i in bpfcheck.cgroup_programs(node.kernel_dirs[CGROUP_FS])]
    return attached + bpfcheck.pinned_objects(node.kernel_dirs[BPF_FS])


def _wait_freed(objects: Sequence[tuple[str, int]]) -> None:
    """Until the kernel has freed every object (a removed cgroup releases its programs, and
    RCU frees programs and maps, a moment later)."""
    deadline = time.monotonic() + 10
    while left := [o for o in objects if bpfcheck.exists(*o)]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"bpf objects still held by the kernel: {left}")
        time.sleep(0.05)


def _shims(node: ContainerdNode) -> list[int]:
    """The runc shims this containerd started (they outlive it): by their -address, our socket."""
    mine = str(node.socket).encode()
    found = []
    for pid in _pids():
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"containerd-shim" in argv[0] and mine in argv:
                found.append(pid)
    return found


def _kill_shims(node: ContainerdNode) -> None:
    for pid in _shims(node):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _shims(node) and time.monotonic() < deadline:
        time.sleep(0.05)


def _cgroup_dirs(parent: str) -> list[Path]:
    """Every directory of ``parent``'s subtree in every hierarchy, deepest first."""
    base = Path("/sys/fs/cgroup")
    out: list[Path] = []
    for hierarchy in [base, *(p for p in base.iterdir() if p.is_dir())]:
        top = hierarchy / parent.lstrip("/")
        if top.is_dir():
            out += [Path(d) for d, _, _ in os.walk(top)]
    return sorted(out, key=lambda p: -len(p.parts))


def _cgroup_pids(parent: str) -> set[int]:
    pids: set[int] = set()
    for d in _cgroup_dirs(parent):
        with contextlib.suppress(OSError, ValueError):
            pids |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
    return pids


def _kill_cgroup_processes(parent: str) -> None:
    deadline = time.monotonic() + 10
    while (pids := _cgroup_pids(parent)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    if pids:
        raise RuntimeError(f"processes {sorted(pids)} in cgroup {parent} did not end")


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _unmount_under(root: Path) -> None:
    prefix = str(root) + "/"
    for point, _ in reversed(mountinfo()):
        if point.startswith(prefix):
            _run(["umount", "-l", point], check=False)


def _remove_cgroups(parent: str) -> None:
    """The pods' cgroups under ``parent`` in every hierarchy, deepest first."""
    for d in _cgroup_dirs(parent):
        with contextlib.suppress(OSError):
            os.rmdir(d)
    left = _cgroup_dirs(parent)
    if left:
        raise RuntimeError(f"cgroups left: {[str(d) for d in left]}")


@contextlib.contextmanager
def containerd_node(root: Path, name: str, *, host_paths: Sequence[str] = ()) -> Iterator[ContainerdNode]:
    """A running containerd node (see the module docstring), removed afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    paths = tuple(p for p in dict.fromkeys([*HOST_PATHS, *host_paths]) if p not in KERNEL_PATHS)
    node = ContainerdNode(
        name=name,
        root=root,
        netns=f"{name}-node",
        ip=NODE_IP,
        socket=root / "containerd.sock",
        host_paths=paths,
    )
    try:
        _start(node)
        yield node
    finally:
        problems = _stop(node)
        if problems:
            raise AssertionError(f"node {name} was not removed cleanly: {problems}")
