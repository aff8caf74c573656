"""Install kubedtn as a chained CNI plugin on a node, and remove exactly that again.

    install_cni(*, executable=None, bin_dir="/opt/cni/bin", conf_dir="/etc/cni/net.d",
                conflist_name="00-kubedtn.conflist", state_dir="/var/lib/kubedtn",
                plugin_options=None, warm=True) -> InstallReport
    uninstall_cni(*, state_dir="/var/lib/kubedtn") -> UninstallReport

``kubedtn daemon --install-cni`` / ``--uninstall-cni`` call these (every directory a flag).

install_cni:
- copies the running executable (the zipapp; ``executable`` overrides, and is required when
  kubedtn does not run from a zipapp, e.g. a dev venv) to ``bin_dir/kubedtn``
  atomically (temp file + rename), then runs ``bin_dir/kubedtn version`` once with a
  clean environment so the archive is extracted before the first pod's ADD;
- writes ``conf_dir/conflist_name``: the node's primary network (the first config in
  ``conf_dir`` by file name that is not ours: ``.conf``/``.json`` single plugin or
  ``.conflist``) with kubedtn's entry ``{"type": "kubedtn", **plugin_options}`` appended.
  The name must sort before every other config (runtimes use the first file);
- records what it wrote in ``state_dir/cni-install.json`` (the manifest).
Idempotent; run again after the primary config changed, it regenerates the conflist.
Raises kubedtn.errors.ValidationError ("no primary CNI config in /etc/cni/net.d; install
the cluster network first", a config that cannot be chained, a name that does not sort
first, no zipapp to copy) before touching anything.

uninstall_cni: removes what the manifest lists — our conflist, and our binary if it is
unchanged — then the manifest; nothing else. Idempotent (no manifest: nothing to do).

Layout: pure planning (``plan_install``, ``plan_uninstall``: directory contents in, files
to write/remove out) and thin effects (reading the directories, atomic writes, the warm run).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubedtn.cni import versions
from kubedtn.cni.errors import CniError
from kubedtn.cni.options import parse_options
from kubedtn.errors import KubedtnError, ValidationError

DEFAULT_BIN_DIR = "/opt/cni/bin"
DEFAULT_CONF_DIR = "/etc/cni/net.d"
DEFAULT_CONFLIST_NAME = "00-kubedtn.conflist"
DEFAULT_STATE_DIR = "/var/lib/kubedtn"
MANIFEST_NAME = "cni-install.json"
BINARY_NAME = "kubedtn"
PLUGIN_TYPE = "kubedtn"
# The files a runtime reads from the configuration directory (libcni's ConfFiles).
CONFIG_EXTENSIONS = (".conf", ".conflist", ".json")
# What the warm run gets: a kubelet-like environment (no HOME, system PATH).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WARM_TIMEOUT_S = 300.0  # the first run extracts and compiles the archive (~10 s here)


# ---- planning (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """What an install wrote (``state_dir/cni-install.json``), so uninstall removes only that."""

    binary: str
    binary_sha256: str
    conflist: str
    conflist_sha256: str
    primary: str  # the config chained after, when last installed

    def to_json(self) -> str:
        return json.dumps({"version": 1, **self.__dict__}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, data: bytes, *, source: str) -> Manifest:
        try:
            raw = json.loads(data)
            return cls(
                **{
                    k: str(raw[k])
                    for k in ("binary", "binary_sha256", "conflist", "conflist_sha256", "primary")
                }
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValidationError(f"{source}: not a kubedtn CNI install manifest ({e})") from e


@dataclass(frozen=True)
class InstallPlan:
    binary: str  # where the executable goes
    copy_binary: bool  # False: the same bytes are there already
    conflist: str
    conflist_content: bytes
    write_conflist: bool  # False: the same bytes are there already
    primary: str  # path of the primary config chained after
    # An earlier install's conflist and binary, when now elsewhere (removed only if still ours).
    remove: tuple[str, ...]
    manifest: Manifest


@dataclass(frozen=True)
class UninstallPlan:
    remove: tuple[str, ...]
    kept: tuple[tuple[str, str], ...]  # (path, why it stays)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_config_file(name: str) -> bool:
    return name.endswith(CONFIG_EXTENSIONS) and not name.startswith(".")


def chains_kubedtn(data: bytes) -> bool:
    """Whether a config file already runs kubedtn (one of ours, maybe from an older install)."""
    try:
        raw = json.loads(data)
    except ValueError:
        return False
    plugins = raw.get("plugins") if isinstance(raw, dict) else None
    if isinstance(plugins, list):
        return any(isinstance(p, dict) and p.get("type") == PLUGIN_TYPE for p in plugins)
    return isinstance(raw, dict) and raw.get("type") == PLUGIN_TYPE


def plugin_entry(plugin_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """kubedtn's entry in the conflist, its options checked as the plugin will check them."""
    entry = {"type": PLUGIN_TYPE, **(plugin_options or {})}
    if entry["type"] != PLUGIN_TYPE:
        raise ValidationError(f"plugin options: type must be {PLUGIN_TYPE!r}, got {entry['type']!r}")
    try:
        parse_options(entry)
    except CniError as e:
        raise ValidationError(f"plugin options: {e.msg.removeprefix('network configuration: ')}") from e
    return entry


def plan_conflist(
    conf_files: Mapping[str, bytes],
    *,
    conf_dir: str,
    conflist_name: str,
    plugin: Mapping[str, Any],
    ours: frozenset[str] = frozenset(),
) -> tuple[str, bytes]:
    """(primary file name, our conflist's bytes) for a configuration directory's files.

    The primary is the first config file by name (as runtimes pick) that is not ours:
    not `conflist_name`, not in `ours` (earlier installs), not already chaining kubedtn.
    """
    if not is_config_file(conflist_name) or "/" in conflist_name:
        raise ValidationError(
            f"conflist name {conflist_name!r} must be a plain file name ending in "
            f"{', '.join(CONFIG_EXTENSIONS)} (runtimes read no others)"
        )
    candidates = sorted(
        name
        for name, data in conf_files.items()
        if is_config_file(name) and name != conflist_name and name not in ours and not chains_kubedtn(data)
    )
    if not candidates:
        raise ValidationError(f"no primary CNI config in {conf_dir}; install the cluster network first")
    primary = candidates[0]
    if primary < conflist_name:
        raise ValidationError(
            f"{os.path.join(conf_dir, primary)} sorts before {conflist_name}, so the runtime would "
            f"ignore kubedtn's conflist; choose a conflist name that sorts first (e.g. '00-{conflist_name}')"
        )
    network = _primary_network(conf_files[primary], source=os.path.join(conf_dir, primary))
    network["plugins"] = [*network["plugins"], dict(plugin)]
    return primary, (json.dumps(network, indent=2) + "\n").encode()


def _primary_network(data: bytes, *, source: str) -> dict[str, Any]:
    """The primary config as a conflist (a single-plugin config wrapped, as libcni does)."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValidationError(f"{source}: cannot chain after it: not valid JSON ({e})") from e
    if not isinstance(raw, dict):
        raise ValidationError(f"{source}: cannot chain after it: not a JSON object")
    name, version = raw.get("name"), raw.get("cniVersion")
    if not isinstance(name, str) or not name:
        raise ValidationError(
            f"{source}: cannot chain after it: name must be a non-empty string, got {name!r}"
        )
    if version not in versions.SUPPORTED_VERSIONS:
        raise ValidationError(
            f"{source}: cannot chain after it: cniVersion {version!r}; kubedtn chains after "
            f"{', '.join(versions.SUPPORTED_VERSIONS)}"
        )
    if source.endswith(".conflist"):
        plugins = raw.get("plugins")
        if not isinstance(plugins, list) or not plugins or not all(isinstance(p, dict) for p in plugins):
            raise ValidationError(
                f"{source}: cannot chain after it: plugins must be a non-empty list of objects"
            )
        # Keep everything (the network name matters: host-local keeps its leases under it).
        return {**raw, "plugins": list(plugins)}
    if not isinstance(raw.get("type"), str) or not raw["type"]:
        raise ValidationError(f"{source}: cannot chain after it: a single-plugin config needs a type")
    plugin = {k: v for k, v in raw.items() if k not in ("name", "cniVersion")}
    return {"cniVersion": version, "name": name, "plugins": [plugin]}


def plan_install(
    *,
    conf_files: Mapping[str, bytes],
    conf_dir: str,
    conflist_name: str,
    plugin: Mapping[str, Any],
    bin_dir: str,
    executable_sha256: str,
    installed_binary_sha256: str | None,
    previous: Manifest | None,
) -> InstallPlan:
    """What to write and remove, from the directories' contents (nothing is read here)."""
    conflist = os.path.join(conf_dir, conflist_name)
    # An earlier install's conflist (maybe under another name) is ours, never the primary.
    earlier = previous.conflist if previous is not None and previous.conflist != conflist else None
    ours = frozenset([os.path.basename(earlier)] if earlier and os.path.dirname(earlier) == conf_dir else [])
    primary, content = plan_conflist(
        conf_files, conf_dir=conf_dir, conflist_name=conflist_name, plugin=plugin, ours=ours
    )
    binary = os.path.join(bin_dir, BINARY_NAME)
    old_binary = previous.binary if previous is not None and previous.binary != binary else None
    return InstallPlan(
        binary=binary,
        copy_binary=installed_binary_sha256 != executable_sha256,
        conflist=conflist,
        conflist_content=content,
        write_conflist=conf_files.get(conflist_name) != content,
        primary=os.path.join(conf_dir, primary),
        remove=tuple(path for path in (earlier, old_binary) if path),
        manifest=Manifest(
            binary=binary,
            binary_sha256=executable_sha256,
            conflist=conflist,
            conflist_sha256=sha256(content),
            primary=os.path.join(conf_dir, primary),
        ),
    )


def plan_uninstall(
    manifest: Manifest, *, binary_sha256: str | None, conflist_content: bytes | None
) -> UninstallPlan:
    """What to remove, given the current binary's digest and conflist's bytes (None: gone).

    The conflist goes when it is the one written or still chains kubedtn (left behind,
    it would send every pod to a plugin that is gone); the binary only when unchanged.
    """
    remove: list[str] = []
    kept: list[tuple[str, str]] = []
    if conflist_content is not None:
        if sha256(conflist_content) == manifest.conflist_sha256 or chains_kubedtn(conflist_content):
            remove.append(manifest.conflist)
        else:
            kept.append((manifest.conflist, "changed since install and no longer chains kubedtn"))
    if binary_sha256 is not None:
        if binary_sha256 == manifest.binary_sha256:
            remove.append(manifest.binary)
        else:
            kept.append((manifest.binary, "replaced since install (not the executable kubedtn copied)"))
    return UninstallPlan(remove=tuple(remove), kept=tuple(kept))


# ---- effects --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstallReport:
    binary: str
    binary_copied: bool
    conflist: str
    conflist_written: bool
    primary: str
    removed: tuple[str, ...] = ()
    warm_seconds: float | None = None

    def lines(self) -> list[str]:
        warm = "" if self.warm_seconds is None else f" (warm run {self.warm_seconds:.1f}s)"
        lines = [
            f"{self.binary}: {'installed' if self.binary_copied else 'up to date'}{warm}",
            f"{self.conflist}: {'written' if self.conflist_written else 'up to date'}, "
            f"chains kubedtn after {self.primary}",
        ]
        lines += [f"{path}: removed (left by an earlier install)" for path in self.removed]
        return lines


@dataclass(frozen=True)
class UninstallReport:
    removed: tuple[str, ...] = ()
    kept: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        if not self.removed and not self.kept:
            return ["nothing to remove: kubedtn's CNI plugin is not installed"]
        return [f"{path}: removed" for path in self.removed] + [f"{p}: kept, {why}" for p, why in self.kept]


def resolve_executable(explicit: str | os.PathLike[str] | None = None) -> str:
    """The file to install: `explicit`, or the zipapp this process runs from (sys.argv[0])."""
    if explicit is not None:
        path = os.path.abspath(os.fspath(explicit))
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise ValidationError(f"--executable {path}: not an executable file")
        return path
    argv0 = os.path.abspath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if argv0 and _is_shiv_zipapp(argv0):
        return os.path.realpath(argv0)
    raise ValidationError(
        f"kubedtn is not running from its executable (sys.argv[0] is {sys.argv[0] if sys.argv else ''!r}, "
        "not a zipapp): pass --executable PATH (e.g. dist/kubedtn from `make build`)"
    )


def _is_shiv_zipapp(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "environment.json" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def install_cni(
    *,
    executable: str | os.PathLike[str] | None = None,
    bin_dir: str = DEFAULT_BIN_DIR,
    conf_dir: str = DEFAULT_CONF_DIR,
    conflist_name: str = DEFAULT_CONFLIST_NAME,
    state_dir: str = DEFAULT_STATE_DIR,
    plugin_options: Mapping[str, Any] | None = None,
    warm: bool = True,
) -> InstallReport:
    """Install (or refresh) the plugin binary and the chaining conflist; see the module doc."""
    source = resolve_executable(executable)
    with open(source, "rb") as f:
        executable_bytes = f.read()
    binary = os.path.join(bin_dir, BINARY_NAME)
    manifest_path = os.path.join(state_dir, MANIFEST_NAME)
    previous_bytes = _read(manifest_path)
    previous = None if previous_bytes is None else Manifest.from_json(previous_bytes, source=manifest_path)
    installed = _read(binary)
    plan = plan_install(
        conf_files=read_config_dir(conf_dir),
        conf_dir=conf_dir,
        conflist_name=conflist_name,
        plugin=plugin_entry(plugin_options),
        bin_dir=bin_dir,
        executable_sha256=sha256(executable_bytes),
        installed_binary_sha256=None if installed is None else sha256(installed),
        previous=previous,
    )
    # Binary first: a conflist must never name a plugin that is not there yet.
    if plan.copy_binary:
        write_atomically(plan.binary, executable_bytes, mode=0o755)
    warm_seconds = warm_run(plan.binary) if warm else None
    if plan.write_conflist:
        write_atomically(plan.conflist, plan.conflist_content, mode=0o644)
    removed = []
    for path in plan.remove:
        data = _read(path)
        still_ours = data is not None and (
            chains_kubedtn(data) or (previous is not None and sha256(data) == previous.binary_sha256)
        )
        if still_ours:
            os.unlink(path)
            removed.append(path)
    write_atomically(manifest_path, plan.manifest.to_json().encode(), mode=0o600)
    return InstallReport(
        binary=plan.binary,
        binary_copied=plan.copy_binary,
        conflist=plan.conflist,
        conflist_written=plan.write_conflist,
        primary=plan.primary,
        removed=tuple(removed),
        warm_seconds=warm_seconds,
    )


def uninstall_cni(*, state_dir: str = DEFAULT_STATE_DIR) -> UninstallReport:
    """Remove what the manifest in state_dir lists (conflist first, then binary), then it."""
    manifest_path = os.path.join(state_dir, MANIFEST_NAME)
    data = _read(manifest_path)
    if data is None:
        return UninstallReport()
    manifest = Manifest.from_json(data, source=manifest_path)
    binary = _read(manifest.binary)
    plan = plan_uninstall(
        manifest,
        binary_sha256=None if binary is None else sha256(binary),
        conflist_content=_read(manifest.conflist),
    )
    for path in plan.remove:  # the conflist comes first in plan.remove
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    os.unlink(manifest_path)
    return UninstallReport(removed=plan.remove, kept=plan.kept)


def read_config_dir(conf_dir: str) -> dict[str, bytes]:
    """The config files of a directory by name (a missing directory has none)."""
    try:
        names = os.listdir(conf_dir)
    except FileNotFoundError:
        return {}
    files: dict[str, bytes] = {}
    for name in names:
        path = os.path.join(conf_dir, name)
        if is_config_file(name) and os.path.isfile(path) and (data := _read(path)) is not None:
            files[name] = data
    return files


def write_atomically(path: str, data: bytes, *, mode: int) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a part.

    The temporary name starts with '.' and has no config extension: runtimes skip it.
    """
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    temp = os.path.join(directory, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, mode)  # whatever the umask
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def warm_run(binary: str) -> float:
    """Run `binary version` as kubelet would run the plugin (extracting the archive once)."""
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [binary, "version"],
            env={"PATH": SYSTEM_PATH},
            capture_output=True,
            timeout=WARM_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise KubedtnError(f"{binary} version: {e}") from e
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace").strip()[-500:]
        raise KubedtnError(f"{binary} version exited {proc.returncode}: {stderr}")
    return time.monotonic() - start


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
