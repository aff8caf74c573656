"""The Python runtime the CNI plugin runs on, copied onto the node beside the plugin.

    resolve_source(value) -> str | None
    read_runtime(source) -> Runtime
    install_runtime(source, *, runtimes_dir, python_version) -> InstalledRuntime
    remove_runtime(path) -> bool

A node may have no Python 3.11, or no Python and no glibc at all (Flatcar, Talos,
Bottlerocket, a RHEL minimal). The node image carries a self-contained runtime built by
hack/portable-python.sh (default /usr/lib/kubedtn/python: interpreter, standard library,
every shared library including glibc's loader; described by its runtime.json).
kubedtn.cni.install copies it to ``STATE_DIR/python/<id>/`` on the host and names its
interpreter on the launcher's ``#!`` line, so the kernel runs it with nothing of the host's.

The copy's interpreter must name the copy's own loader by absolute path (PT_INTERP), and
that path is known only now: it is written into the copy (kubedtn.cni.elfinterp). The
install is atomic and done once per runtime id: the copy is made in ``<id>.partial``,
renamed into place, checked by running it, and marked ``complete`` last; a directory
without the marker is made again. Paths are the host's when the DaemonSet mounts the
state directory at the same path in its container (manifests/cni/daemonset.yaml does).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from kubedtn.cni import elfinterp
from kubedtn.errors import KubedtnError, ValidationError

DEFAULT_SOURCE = "/usr/lib/kubedtn/python"  # where the node image keeps it
AUTO = "auto"  # DEFAULT_SOURCE when it is there, else none
NONE = "none"
DESCRIPTION = "runtime.json"
MARKER = "complete"  # written last into an installed copy
RUNTIMES_DIR = "python"  # under the state directory
CHECK_TIMEOUT_S = 60.0
_ID = re.compile(r"^[0-9a-f]{16,64}$")
_BUILD_HINT = "build one with hack/portable-python.sh DIR"


@dataclass(frozen=True)
class Runtime:
    """A runtime as described by its runtime.json (paths relative to its directory)."""

    source: str  # its directory
    id: str
    version: tuple[int, int, int]
    python: str  # e.g. bin/python3.11
    loader: str  # e.g. lib/ld-linux-x86-64.so.2


@dataclass(frozen=True)
class InstalledRuntime:
    path: str  # the copy on the node: runtimes_dir/<id>
    python: str  # its interpreter, absolute
    written: bool  # False: a complete copy was there already


def resolve_source(value: str | os.PathLike[str] | None) -> str | None:
    """The runtime directory to install from: `value`, AUTO (DEFAULT_SOURCE if it holds a
    runtime), or None / NONE / "" for none (the launcher then runs the installing Python)."""
    if value is None or os.fspath(value) in (NONE, ""):
        return None
    if os.fspath(value) == AUTO:
        return DEFAULT_SOURCE if os.path.isfile(os.path.join(DEFAULT_SOURCE, DESCRIPTION)) else None
    path = os.path.abspath(os.fspath(value))
    if not os.path.isfile(os.path.join(path, DESCRIPTION)):
        raise ValidationError(
            f"--cni-python-runtime {path}: no {DESCRIPTION} there, so not a portable Python runtime "
            f"({_BUILD_HINT}; {AUTO!r} uses {DEFAULT_SOURCE} when present, {NONE!r} installs none)"
        )
    return path


def parse_runtime(data: bytes, *, source: str) -> Runtime:
    """A runtime.json's content, checked (`source`: the runtime's directory)."""
    where = os.path.join(source, DESCRIPTION)
    try:
        raw = json.loads(data)
    except ValueError as e:
        raise ValidationError(f"{where}: not JSON ({e})") from e
    if not isinstance(raw, dict) or raw.get("format") != 1:
        got = raw.get("format") if isinstance(raw, dict) else raw
        raise ValidationError(f"{where}: format must be 1, got {got!r} ({_BUILD_HINT})")
    runtime_id, version = raw.get("id"), raw.get("version")
    if not isinstance(runtime_id, str) or not _ID.match(runtime_id):
        raise ValidationError(f"{where}: id must be 16 to 64 lower-case hex digits, got {runtime_id!r}")
    parts = version.split(".") if isinstance(version, str) else []
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValidationError(f"{where}: version must be MAJOR.MINOR.MICRO, got {version!r}")
    relative = {}
    for key in ("python", "loader"):
        value = raw.get(key)
        if not isinstance(value, str) or not value or value.startswith("/") or ".." in value.split("/"):
            raise ValidationError(
                f"{where}: {key} must be a path inside the runtime's directory, got {value!r}"
            )
        relative[key] = value
    major, minor, micro = (int(p) for p in parts)
    return Runtime(
        source=source,
        id=runtime_id,
        version=(major, minor, micro),
        python=relative["python"],
        loader=relative["loader"],
    )


def read_runtime(source: str) -> Runtime:
    try:
        with open(os.path.join(source, DESCRIPTION), "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValidationError(f"{source}: cannot read {DESCRIPTION}: {e.strerror} ({_BUILD_HINT})") from e
    return parse_runtime(data, source=source)


def check_version(runtime: Runtime, python_version: tuple[int, int]) -> None:
    """The runtime must be the Python the executable's wheels are for."""
    if runtime.version[:2] != python_version:
        found = ".".join(map(str, runtime.version))
        raise ValidationError(
            f"{runtime.source}: Python {found}, but the executable being installed is built for "
            f"Python {python_version[0]}.{python_version[1]} (its cp{python_version[0]}{python_version[1]} "
            f"wheels): build the runtime from that Python"
        )


def install_runtime(source: str, *, runtimes_dir: str, python_version: tuple[int, int]) -> InstalledRuntime:
    """Copy the runtime at `source` to runtimes_dir/<id> (see the module doc); idempotent."""
    runtime = read_runtime(source)
    check_version(runtime, python_version)
    target = os.path.join(runtimes_dir, runtime.id)
    python = os.path.join(target, runtime.python)
    if _complete(target):
        return InstalledRuntime(path=target, python=python, written=False)
    os.makedirs(runtimes_dir, exist_ok=True)
    lock = os.open(os.path.join(runtimes_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another install at once: wait for its copy
        if _complete(target):
            return InstalledRuntime(path=target, python=python, written=False)
        _copy(runtime, target)
    finally:
        os.close(lock)
    return InstalledRuntime(path=target, python=python, written=True)


def _complete(target: str) -> bool:
    return os.path.isfile(os.path.join(target, MARKER))


def _copy(runtime: Runtime, target: str) -> None:
    partial = target + ".partial"
    _remove_tree(partial)  # a dead install's (it held the lock)
    try:
        # (Not a marker the source may have: an installed copy given as the source.)
        shutil.copytree(runtime.source, partial, symlinks=False, ignore=_top_level_marker(runtime.source))
        binary = os.path.join(partial, runtime.python)
        with open(binary, "rb") as f:
            data = f.read()
        patched = elfinterp.with_interpreter(data, os.path.join(target, runtime.loader), source=binary)
        with open(binary, "r+b") as f:
            f.write(patched)
        os.sync()  # every file on disk before the directory can be marked complete
        _remove_tree(target)  # an incomplete copy (no marker): nothing runs from it
        os.rename(partial, target)
    except BaseException:
        _remove_tree(partial)
        raise
    try:
        check_runs(os.path.join(target, runtime.python), runtime.version)
    except BaseException:
        _remove_tree(target)
        raise
    fd = os.open(os.path.join(target, MARKER), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, b"installed completely; without this file kubedtn installs it again\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def _top_level_marker(source: str) -> Callable[[str, list[str]], list[str]]:
    def ignore(directory: str, names: list[str]) -> list[str]:
        return [MARKER] if os.path.samefile(directory, source) and MARKER in names else []

    return ignore


def check_runs(python: str, version: tuple[int, int, int]) -> None:
    """Run the installed interpreter as the launcher will (no environment, -S -E)."""
    argv = [python, "-S", "-E", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]
    try:
        proc = subprocess.run(argv, env={}, capture_output=True, timeout=CHECK_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        hint = " (is its directory on a noexec mount?)" if isinstance(e, PermissionError) else ""
        raise KubedtnError(f"{python}: the installed Python runtime does not run: {e}{hint}") from e
    expected = ".".join(map(str, version))
    if proc.returncode != 0 or proc.stdout.decode(errors="replace").strip() != expected:
        stderr = proc.stderr.decode(errors="replace").strip()[-500:]
        raise KubedtnError(
            f"{python}: the installed Python runtime exited {proc.returncode} printing "
            f"{proc.stdout[-100:]!r}, expected its version {expected}: {stderr}"
        )


def is_installed_runtime(path: str) -> bool:
    """Whether `path` is a copy install_runtime made (its directory name is its id)."""
    try:
        runtime = read_runtime(path)
    except ValidationError:
        return False
    return os.path.basename(os.path.normpath(path)) == runtime.id


def remove_runtime(path: str) -> bool:
    """Remove an installed copy (marker first: a half-removed copy is never taken as
    complete); False when `path` is no such copy (gone, or not ours)."""
    if not is_installed_runtime(path):
        return False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(path, MARKER))
    _remove_tree(path)
    return True


def _remove_tree(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)
