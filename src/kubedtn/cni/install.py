"""Install kubedtn as a chained CNI plugin on a node, and remove exactly that again.

    install_cni(*, executable=None, bin_dir="/opt/cni/bin", conf_dir="/etc/cni/net.d",
                conflist_name="00-kubedtn.conflist", state_dir="/var/lib/kubedtn",
                plugin_options=None, warm=True, launcher=True,
                python_runtime="auto") -> InstallReport
    uninstall_cni(*, state_dir="/var/lib/kubedtn") -> UninstallReport

``kubedtn daemon --install-cni`` / ``--uninstall-cni`` call these (every directory a flag).

install_cni:
- copies the running executable (the zipapp; ``executable`` overrides, and is required when
  kubedtn does not run from a zipapp, e.g. a dev venv) into ``bin_dir`` atomically (temp
  file + rename) and runs it once (``version``, clean environment) so the archive is
  extracted before the first pod's ADD. With ``launcher`` (the default, for a zipapp) the
  archive goes to ``bin_dir/kubedtn.pyz`` and ``bin_dir/kubedtn`` is a 10-line Python
  launcher that runs the extracted archive directly: a runtime execs the plugin for every
  pod, and opening the zipapp costs time on every exec (Python reads its whole index),
  more than Debian's bridge plugin takes for a whole ADD. Anything unusual (another Python,
  the extraction gone) makes the launcher exec the archive itself, which copes. Without
  ``launcher`` (or for an executable that is no zipapp) ``bin_dir/kubedtn`` is the copy;
- with ``python_runtime`` (a directory made by hack/portable-python.sh; "auto": the node
  image's /usr/lib/kubedtn/python when present; None or "none": no runtime) first copies
  that Python runtime to ``state_dir/python/<id>/`` (kubedtn.cni.pyruntime) and names its
  interpreter on the launcher's ``#!`` line: the host then needs no Python, nor any libc.
  The warm run runs the archive on it. The paths written are the host's only when the
  DaemonSet mounts ``bin_dir`` and ``state_dir`` at the same paths as on the host;
- writes ``conf_dir/conflist_name``: the node's primary network (the first config in
  ``conf_dir`` by file name that is not ours: ``.conf``/``.json`` single plugin or
  ``.conflist``) with kubedtn's entry ``{"type": "kubedtn", **plugin_options}`` appended.
  The name must sort before every other config (runtimes use the first file);
- records what it wrote in ``state_dir/cni-install.json`` (the manifest).
Idempotent; run again after the primary config changed, it regenerates the conflist.
Raises kubedtn.errors.ValidationError ("no primary CNI config in /etc/cni/net.d; install
the cluster network first", a config that cannot be chained, a name that does not sort
first, no zipapp to copy, a runtime that is none or for another Python) before touching
anything.

uninstall_cni: removes what the manifest lists — our conflist, the files we put in
``bin_dir`` if they are unchanged, the runtime's copy — then the manifest; nothing else.
Idempotent.

Layout: pure planning (``plan_install``, ``plan_uninstall``: directory contents in, files
to write/remove out) and thin effects (reading the directories, atomic writes, the warm run).
"""

from __future__ import annotations

import contextlib
import functools
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

from kubedtn.cni import pyruntime, versions
from kubedtn.cni.errors import CniError
from kubedtn.cni.options import parse_options
from kubedtn.cni.rules import (
    DEFAULT_CNI_BIN_DIR,
    DEFAULT_CNI_CONF_DIR,
    DEFAULT_CONFLIST_NAME,
    DEFAULT_STATE_DIR,
)
from kubedtn.errors import KubedtnError, ValidationError

MANIFEST_NAME = "cni-install.json"
BINARY_NAME = "kubedtn"
ARCHIVE_NAME = "kubedtn.pyz"  # launcher mode: the zipapp, next to its launcher
UNPACKED_MARKER = "complete"  # as hack/zipapp/launcher.py's MARKER
PLUGIN_TYPE = "kubedtn"
# The files a runtime reads from the configuration directory (libcni's ConfFiles).
CONFIG_EXTENSIONS = (".conf", ".conflist", ".json")
# What the warm run gets: a kubelet-like environment (no HOME, system PATH).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
WARM_TIMEOUT_S = 300.0  # the first run extracts and compiles the archive


# ---- planning (pure) ----------------------------------------------------------------------


@dataclass(frozen=True)
class Manifest:
    """What an install wrote (``state_dir/cni-install.json``), so uninstall removes only that."""

    conflist: str
    conflist_sha256: str
    primary: str  # the config chained after, when last installed
    files: tuple[tuple[str, str], ...]  # (path, sha256) of what is in bin_dir, the plugin first
    runtime: str | None = None  # the Python runtime's copy on the node (kubedtn.cni.pyruntime)

    def to_json(self) -> str:
        document: dict[str, Any] = {
            "version": 1,
            "conflist": self.conflist,
            "conflist_sha256": self.conflist_sha256,
            "primary": self.primary,
            "files": dict(self.files),
        }
        if self.runtime is not None:
            document["runtime"] = self.runtime
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, data: bytes, *, source: str) -> Manifest:
        try:
            raw = json.loads(data)
            files = tuple((str(path), str(digest)) for path, digest in raw["files"].items())
            runtime = raw.get("runtime")
            return cls(
                conflist=str(raw["conflist"]),
                conflist_sha256=str(raw["conflist_sha256"]),
                primary=str(raw["primary"]),
                files=files,
                runtime=None if runtime is None else str(runtime),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValidationError(f"{source}: not a kubedtn CNI install manifest ({e!r})") from e


@dataclass(frozen=True)
class FileWrite:
    path: str
    content: bytes
    mode: int
    write: bool  # False: the same bytes are there already

    @property
    def sha256(self) -> str:
        return sha256(self.content)


@dataclass(frozen=True)
class InstallPlan:
    files: tuple[FileWrite, ...]  # into bin_dir, in this order (the archive before its launcher)
    warm: str  # the executable to run once
    site_packages: str | None  # where the launcher expects the extracted archive
    conflist: FileWrite
    primary: str  # path of the primary config chained after
    # An earlier install's files, when now elsewhere (removed only if still ours).
    remove: tuple[str, ...]
    manifest: Manifest
    remove_runtime: str | None = None  # an earlier install's runtime, no longer used


@dataclass(frozen=True)
class UninstallPlan:
    remove: tuple[str, ...]
    kept: tuple[tuple[str, str], ...]  # (path, why it stays)
    runtime: str | None = None  # the Python runtime's copy, removed last (if still a runtime)


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


def extracted_site_packages(environment: Mapping[str, Any], *, archive: str) -> str | None:
    """Where a shiv zipapp at `archive` extracts its site-packages when run with a clean
    environment (as hack/zipapp/launcher.py computes it); None when that is not fixed at
    build time (no root, or a root taken from an environment variable)."""
    root, build_id = environment.get("root"), environment.get("build_id")
    if not isinstance(root, str) or not root.startswith("/") or not isinstance(build_id, str):
        return None
    return os.path.join(root, f"{os.path.basename(archive)}_{build_id}", "site-packages")


def unpacked_marker(site_packages: str) -> str:
    """The file the archive's launcher writes last when it unpacks (hack/zipapp/launcher.py,
    MARKER): an unpacked copy without it is incomplete and is unpacked again."""
    return os.path.join(os.path.dirname(site_packages), UNPACKED_MARKER)


def launcher_script(*, site_packages: str, archive: str, runtime_python: str | None = None) -> bytes:
    """The plugin executable in launcher mode (see the module doc). It runs the extracted
    archive on `runtime_python` (the Python runtime installed beside it, which needs
    nothing of the host's: kubedtn.cni.pyruntime), or else on the Python running this
    install. Either is the one the archive was built for (kubedtn.main refuses any other)."""
    python = tuple(sys.version_info[:2])
    # An interpreter by its path: kubelet's PATH may find another python3 first, or a
    # wrapper (pyenv's shim is a shell script, run on every exec). -S: no site.py, so the
    # system's packages cannot shadow the archive's; -E: no PYTHONHOME/PYTHONPATH of the
    # runtime's environment (they would point the interpreter at another standard library).
    interpreter = runtime_python or sys.executable
    # Without the unpacked copy: the runtime runs the archive (the host may have no other
    # Python); without a runtime, the archive's own #! line picks a Python and copes.
    fallback = (runtime_python, "-S", "-E", archive) if runtime_python else (archive,)
    return f"""#!{interpreter} -SE
# The kubedtn CNI plugin, installed by `kubedtn daemon --install-cni` (kubedtn.cni.install).
# Runs the extracted archive directly: opening the zipapp costs time on every exec. With
# another Python, or the unpacked copy incomplete or gone, the archive runs itself (and
# unpacks again; on another Python it passes pods in no topology through).
import os
import sys

SITE_PACKAGES = {site_packages!r}
COMPLETE = {unpacked_marker(site_packages)!r}  # written last by the archive's unpacking
FALLBACK = {fallback!r}  # runs the archive
if sys.version_info[:2] == {python!r} and os.path.exists(COMPLETE):
    sys.path[0] = SITE_PACKAGES  # instead of this script's directory (the CNI bin dir)
    from kubedtn.main import main

    main()
else:
    os.execv(FALLBACK[0], [*FALLBACK, *sys.argv[1:]])
""".encode()


def runtime_without_launcher(runtime: str) -> ValidationError:
    return ValidationError(
        f"--cni-python-runtime {runtime}: a Python runtime is installed only for the launcher, "
        "which needs a zipapp with a fixed extraction root (use --cni-python-runtime=none)"
    )


def plan_install(
    *,
    conf_files: Mapping[str, bytes],
    conf_dir: str,
    conflist_name: str,
    plugin: Mapping[str, Any],
    bin_dir: str,
    executable: bytes,
    archive_environment: Mapping[str, Any] | None,
    installed: Mapping[str, str],
    previous: Manifest | None,
    runtime: pyruntime.InstalledRuntime | None = None,
) -> InstallPlan:
    """What to write and remove, from the directories' contents (nothing is read here).

    `archive_environment` is the zipapp's environment.json (None: no launcher, copy the
    executable as the plugin); `installed` the sha256 of files already in bin_dir by path;
    `runtime` the Python runtime installed on the node for the launcher (launcher mode only).
    """
    conflist = os.path.join(conf_dir, conflist_name)
    # An earlier install's conflist (maybe under another name) is ours, never the primary.
    earlier = previous.conflist if previous is not None and previous.conflist != conflist else None
    ours = frozenset([os.path.basename(earlier)] if earlier and os.path.dirname(earlier) == conf_dir else [])
    primary, content = plan_conflist(
        conf_files, conf_dir=conf_dir, conflist_name=conflist_name, plugin=plugin, ours=ours
    )
    plugin_path = os.path.join(bin_dir, BINARY_NAME)
    archive = os.path.join(bin_dir, ARCHIVE_NAME)
    site_packages = (
        None if archive_environment is None else extracted_site_packages(archive_environment, archive=archive)
    )
    if runtime is not None and site_packages is None:
        raise runtime_without_launcher(runtime.path)
    runtime_python = runtime.python if runtime is not None else None
    contents: list[tuple[str, bytes]] = []
    if site_packages is not None:
        contents.append((archive, executable))
        script = launcher_script(site_packages=site_packages, archive=archive, runtime_python=runtime_python)
        contents.append((plugin_path, script))
    else:
        contents.append((plugin_path, executable))
    files = tuple(
        FileWrite(path=path, content=data, mode=0o755, write=installed.get(path) != sha256(data))
        for path, data in contents
    )
    # The plugin first in the manifest; the archive after it.
    recorded = tuple((f.path, f.sha256) for f in sorted(files, key=lambda f: f.path != plugin_path))
    paths = {f.path for f in files}
    stale = [earlier] if earlier else []
    stale += [path for path, _ in (previous.files if previous else ()) if path not in paths]
    runtime_path = runtime.path if runtime is not None else None
    earlier_runtime = previous.runtime if previous is not None else None
    return InstallPlan(
        files=files,
        warm=archive if site_packages is not None else plugin_path,
        site_packages=site_packages,
        conflist=FileWrite(
            path=conflist, content=content, mode=0o644, write=conf_files.get(conflist_name) != content
        ),
        primary=os.path.join(conf_dir, primary),
        remove=tuple(stale),
        manifest=Manifest(
            conflist=conflist,
            conflist_sha256=sha256(content),
            primary=os.path.join(conf_dir, primary),
            files=recorded,
            runtime=runtime_path,
        ),
        remove_runtime=earlier_runtime if earlier_runtime != runtime_path else None,
    )


def plan_uninstall(
    manifest: Manifest, *, current: Mapping[str, str | None], conflist_content: bytes | None
) -> UninstallPlan:
    """What to remove, given the sha256 of the manifest's files now (None: gone) and the
    conflist's bytes (None: gone). The conflist first: without it no pod reaches the plugin.

    The conflist goes when it is the one written or still chains kubedtn (left behind,
    it would send every pod to a plugin that is gone); the other files only when unchanged.
    """
    remove: list[str] = []
    kept: list[tuple[str, str]] = []
    if conflist_content is not None:
        if sha256(conflist_content) == manifest.conflist_sha256 or chains_kubedtn(conflist_content):
            remove.append(manifest.conflist)
        else:
            kept.append((manifest.conflist, "changed since install and no longer chains kubedtn"))
    for path, digest in manifest.files:
        now = current.get(path)
        if now is None:
            continue
        if now == digest:
            remove.append(path)
        else:
            kept.append((path, "replaced since install (not the file kubedtn wrote)"))
    return UninstallPlan(remove=tuple(remove), kept=tuple(kept), runtime=manifest.runtime)


# ---- effects --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstallReport:
    plugin: str  # the executable runtimes exec: bin_dir/kubedtn
    written: tuple[str, ...]  # files (re)written; the others were up to date
    conflist: str
    primary: str
    site_packages: str | None = None  # launcher mode: the extracted archive it runs
    removed: tuple[str, ...] = ()
    warm_seconds: float | None = None
    warnings: tuple[str, ...] = ()
    runtime: str | None = None  # the Python runtime's copy the launcher runs on

    def lines(self) -> list[str]:
        warm = "" if self.warm_seconds is None else f" (warm run {self.warm_seconds:.1f}s)"
        mode = f", runs {self.site_packages}" if self.site_packages else ""
        mode += f" on {self.runtime}" if self.runtime else ""
        lines = [
            f"{self.plugin}: {'installed' if self.plugin in self.written else 'up to date'}{mode}{warm}",
            f"{self.conflist}: {'written' if self.conflist in self.written else 'up to date'}, "
            f"chains kubedtn after {self.primary}",
        ]
        lines += [f"{path}: removed (left by an earlier install)" for path in self.removed]
        lines += [f"warning: {text}" for text in self.warnings]
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
    return zipapp_environment(path) is not None


def zipapp_environment(path: str) -> dict[str, Any] | None:
    """The environment.json of a shiv zipapp; None for any other file."""
    try:
        with zipfile.ZipFile(path) as archive:
            environment = json.loads(archive.read("environment.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return environment if isinstance(environment, dict) else None


def install_cni(
    *,
    executable: str | os.PathLike[str] | None = None,
    bin_dir: str = DEFAULT_CNI_BIN_DIR,
    conf_dir: str = DEFAULT_CNI_CONF_DIR,
    conflist_name: str = DEFAULT_CONFLIST_NAME,
    state_dir: str = DEFAULT_STATE_DIR,
    plugin_options: Mapping[str, Any] | None = None,
    warm: bool = True,
    launcher: bool = True,
    python_runtime: str | os.PathLike[str] | None = pyruntime.AUTO,
) -> InstallReport:
    """Install (or refresh) the plugin and the chaining conflist; see the module doc."""
    source = resolve_executable(executable)
    runtime_source = pyruntime.resolve_source(python_runtime)
    with open(source, "rb") as f:
        executable_bytes = f.read()
    manifest_path = os.path.join(state_dir, MANIFEST_NAME)
    previous_bytes = _read(manifest_path)
    previous = None if previous_bytes is None else Manifest.from_json(previous_bytes, source=manifest_path)
    candidates = [os.path.join(bin_dir, BINARY_NAME), os.path.join(bin_dir, ARCHIVE_NAME)]
    installed = {path: sha256(data) for path in candidates if (data := _read(path)) is not None}
    archive_environment = zipapp_environment(source) if launcher else None
    archive = os.path.join(bin_dir, ARCHIVE_NAME)
    if runtime_source is not None and (
        archive_environment is None or extracted_site_packages(archive_environment, archive=archive) is None
    ):
        if python_runtime != pyruntime.AUTO:
            raise runtime_without_launcher(runtime_source)
        runtime_source = None  # the image's runtime, for a plugin that runs no launcher
    plan_with = functools.partial(
        plan_install,
        conf_files=read_config_dir(conf_dir),
        conf_dir=conf_dir,
        conflist_name=conflist_name,
        plugin=plugin_entry(plugin_options),
        bin_dir=bin_dir,
        executable=executable_bytes,
        archive_environment=archive_environment,
        installed=installed,
        previous=previous,
    )
    plan = plan_with(runtime=None)  # every problem of the directories, before any write
    runtime = None
    if runtime_source is not None:
        # Before anything the conflist names: the launcher's #! line names this copy.
        runtime = pyruntime.install_runtime(
            runtime_source,
            runtimes_dir=os.path.join(state_dir, pyruntime.RUNTIMES_DIR),
            python_version=(sys.version_info[0], sys.version_info[1]),
        )
        plan = plan_with(runtime=runtime)
    # Executables first (the archive before its launcher): a conflist must never name a
    # plugin that is not there yet.
    for file in plan.files:
        if file.write:
            write_atomically(file.path, file.content, mode=file.mode)
    # With a runtime, the warm run is on it: what the plugin will run on, checked now.
    warm_argv = [runtime.python, "-S", "-E", plan.warm] if runtime is not None else [plan.warm]
    warm_seconds = warm_run(warm_argv) if warm else None
    warnings = []
    if warm and plan.site_packages is not None and not os.path.exists(unpacked_marker(plan.site_packages)):
        warnings.append(
            f"{plan.site_packages} is not there after the warm run: every ADD will run the archive "
            "(slower); is the archive's extraction root writable?"
        )
    if plan.conflist.write:
        write_atomically(plan.conflist.path, plan.conflist.content, mode=plan.conflist.mode)
    removed = []
    earlier = dict(previous.files) if previous is not None else {}
    for path in plan.remove:
        data = _read(path)
        if data is not None and (chains_kubedtn(data) or earlier.get(path) == sha256(data)):
            os.unlink(path)
            removed.append(path)
    # The launcher no longer names it (a pod's plugin started before may still run on it,
    # from files it has open).
    if plan.remove_runtime is not None and pyruntime.remove_runtime(plan.remove_runtime):
        removed.append(plan.remove_runtime)
    write_atomically(manifest_path, plan.manifest.to_json().encode(), mode=0o600)
    return InstallReport(
        plugin=os.path.join(bin_dir, BINARY_NAME),
        written=tuple(f.path for f in (*plan.files, plan.conflist) if f.write),
        conflist=plan.conflist.path,
        primary=plan.primary,
        site_packages=plan.site_packages,
        removed=tuple(removed),
        warm_seconds=warm_seconds,
        warnings=tuple(warnings),
        runtime=runtime.path if runtime is not None else None,
    )


def uninstall_cni(*, state_dir: str = DEFAULT_STATE_DIR) -> UninstallReport:
    """Remove what the manifest in state_dir lists (conflist first), then the manifest."""
    manifest_path = os.path.join(state_dir, MANIFEST_NAME)
    data = _read(manifest_path)
    if data is None:
        return UninstallReport()
    manifest = Manifest.from_json(data, source=manifest_path)
    current = {path: None if (now := _read(path)) is None else sha256(now) for path, _ in manifest.files}
    plan = plan_uninstall(manifest, current=current, conflist_content=_read(manifest.conflist))
    for path in plan.remove:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    removed = plan.remove
    if plan.runtime is not None and pyruntime.remove_runtime(plan.runtime):
        removed += (plan.runtime,)
    os.unlink(manifest_path)
    return UninstallReport(removed=removed, kept=plan.kept)


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


def warm_run(argv: list[str]) -> float:
    """Run `argv version` as kubelet would run the plugin (extracting the archive once)."""
    binary = " ".join(argv)
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [*argv, "version"],
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
