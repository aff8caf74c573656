"""The bpf filesystem that pins live in: found, or mounted at /sys/fs/bpf when missing; and
which filesystem a path is on (a cgroup must be on cgroup2)."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from kubedtn.ebpf.errors import EbpfError

DEFAULT_MOUNT = Path("/sys/fs/bpf")


def filesystem_of(path: Path) -> tuple[Path, str]:
    """The mount point holding ``path`` and its filesystem type (from /proc/self/mounts)."""
    best, best_type = Path("/"), ""
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            if len(fields) < 3:
                continue
            point = Path(fields[1].replace("\\040", " "))
            if (path == point or point in path.parents) and len(point.parts) >= len(best.parts):
                best, best_type = point, fields[2]
    return best, best_type


def ensure_bpffs(pin_dir: Path) -> None:
    """Make sure ``pin_dir`` is on a bpffs: mount one at /sys/fs/bpf when the pins go there
    and nothing is mounted; otherwise say what is mounted instead."""
    pin_dir = pin_dir.absolute()
    point, fs_type = filesystem_of(pin_dir)
    if fs_type == "bpf":
        return
    if pin_dir == DEFAULT_MOUNT or DEFAULT_MOUNT in pin_dir.parents:
        _mount_bpffs(DEFAULT_MOUNT)
        return
    raise EbpfError(
        f"pin directory {pin_dir} is on {fs_type or 'an unknown filesystem'} mounted at {point}, "
        f"not on a bpf filesystem: use a directory under {DEFAULT_MOUNT} or mount -t bpf bpf DIR"
    )


def _mount_bpffs(target: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    target.mkdir(parents=True, exist_ok=True)
    if libc.mount(b"bpf", os.fsencode(target), b"bpf", 0, None) != 0:
        code = ctypes.get_errno()
        raise EbpfError(f"mount -t bpf bpf {target}: {os.strerror(code)} (errno {code})")


CGROUP2_ROOTS = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


def cgroup2_root() -> Path:
    """The host's cgroup v2 root: /sys/fs/cgroup/unified on a hybrid host, /sys/fs/cgroup
    on a unified one."""
    for path in CGROUP2_ROOTS:
        point, fs_type = filesystem_of(path)
        if point == path and fs_type == "cgroup2":
            return path
    raise EbpfError(
        f"no cgroup v2 hierarchy at {' or '.join(map(str, CGROUP2_ROOTS))}: the TCP/IP bypass "
        "attaches to one (mount -t cgroup2 none /sys/fs/cgroup/unified)"
    )
