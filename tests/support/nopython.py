"""A node without Python, for the tests of the installed CNI plugin: the portable runtime
(hack/portable-python.sh) built once per test session, and commands run in a chroot.

``in_chroot`` runs a command with ``root`` as its root directory, seeing only what
``root`` holds plus the given bind mounts, ``/proc`` and ``/dev``. The mounts are made in
a private mount namespace (``unshare --mount``) that ends with the command: nothing is
left mounted, whatever happens to the test.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "hack" / "portable-python.sh"
CACHE = Path("/var/cache/kubedtn-tests")  # what tests make once per machine

# In the new mount namespace: bind each SOURCE on ROOT/TARGET (read-only when asked), mount
# proc and /dev, then exec the command chrooted. Arguments: ROOT, then SOURCE TARGET MODE
# triples, then "--" and the command.
# A first argument "overlay=OPTIONS" first mounts an overlay on ROOT (OPTIONS: lowerdir,
# upperdir, workdir).
_CHROOT_SCRIPT = """
root=$1; shift
case $1 in overlay=*)
  mount -t overlay overlay -o "${1#overlay=}" "$root"
  shift
esac
while [ "$1" != -- ]; do
  mkdir -p "$root$2"
  mount --bind "$1" "$root$2"
  if [ "$3" = ro ]; then mount -o remount,bind,ro "$root$2"; fi
  shift 3
done
shift
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
exec chroot "$root" "$@"
"""


def build_runtime(dest: Path) -> Path:
    """hack/portable-python.sh DEST; skips the test when patchelf is missing."""
    if shutil.which("patchelf") is None:
        pytest.skip("patchelf is not installed (hack/install-deps.sh installs it)")
    proc = subprocess.run(
        [str(BUILD_SCRIPT), str(dest)], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{BUILD_SCRIPT.name} {dest} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return dest


@dataclass(frozen=True)
class Bind:
    source: Path  # on this machine
    target: str  # absolute, inside the root
    read_only: bool = False


def make_mount_points(root: Path, binds: Sequence[Bind]) -> None:
    """The empty directories the binds, /proc and /dev are mounted on."""
    for path in [*(b.target for b in binds), "/proc", "/dev"]:
        (root / path.lstrip("/")).mkdir(parents=True, exist_ok=True)


def in_chroot(
    root: Path,
    argv: Sequence[str],
    *,
    binds: Sequence[Bind],
    env: Mapping[str, str],
    stdin: bytes = b"",
    lower: Path | None = None,
    timeout_s: float = 120.0,
) -> subprocess.CompletedProcess[bytes]:
    """`argv` run with `root` as /, in its own mount namespace (see the module doc).
    With `lower`, `root` shows an overlay of that directory (left unchanged: writes go to
    directories beside `root`)."""
    overlay = []
    if lower is None:
        make_mount_points(root, binds)
    else:
        upper, work = root.with_name(root.name + ".upper"), root.with_name(root.name + ".work")
        for path in (root, upper, work):
            path.mkdir(exist_ok=True)
        overlay = [f"overlay=lowerdir={lower},upperdir={upper},workdir={work}"]
    triples = [item for b in binds for item in (str(b.source), b.target, "ro" if b.read_only else "rw")]
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-ec", _CHROOT_SCRIPT, "sh"]
    return subprocess.run(
        [*command, str(root), *overlay, *triples, "--", *argv],
        input=stdin,
        env=dict(env),
        capture_output=True,
        timeout=timeout_s,
        check=False,
    )


def minbase_root() -> Path:
    """A Debian bookworm root made by ``mmdebstrap --variant=minbase`` (glibc, coreutils,
    no Python), made once per machine under CACHE and reused; skips the test when it cannot
    be made (no mmdebstrap, no Debian mirror)."""
    root = CACHE / "minbase-bookworm"
    if root.is_dir():
        return root
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed (Debian package mmdebstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    proc = subprocess.run(
        ["mmdebstrap", "--quiet", "--variant=minbase", "bookworm", str(partial)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        pytest.skip(f"mmdebstrap --variant=minbase bookworm failed (Debian mirror?): {proc.stderr[-500:]}")
    partial.rename(root)
    return root


def files_in(root: Path) -> list[str]:
    """Everything in `root` that is not a directory (outside any mount: call it unmounted)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir() or p.is_symlink())
