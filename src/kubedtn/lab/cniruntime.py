"""A minimal CNI runtime: run a network configuration list's plugins as kubelet's runtime does.

What libcni does for containerd/CRI-O, reduced to what the lab and the e2e tests need::

    from kubedtn.lab.cniruntime import Attachment, CniRuntime, load_network_list, pod_args

    network = load_network_list("/etc/cni/net.d/00-kubedtn.conflist")   # or parse_network_list(dict)
    runtime = CniRuntime(cni_path=["/usr/lib/cni", "/opt/cni/bin"])
    pod = Attachment(container_id="r1-0a1b", netns="/run/netns/r1", ifname="eth0",
                     args=pod_args(namespace="default", name="r1"))
    result = runtime.add(network, pod)          # the last plugin's result (a dict)
    runtime.check(network, pod, prev_result=result)
    runtime.delete(network, pod, prev_result=result)   # prev_result optional
    runtime.status(network)                      # plugins of cniVersion >= 1.1.0 only

Each plugin is exec'd from ``cni_path`` by its ``type`` with CNI_COMMAND, CNI_CONTAINERID,
CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH in its environment, and on stdin its own
entry of the list plus the list's ``name`` and ``cniVersion`` and (chaining) the previous
plugin's result as ``prevResult``. ADD runs the plugins in order, DEL in reverse (each with
the ADD's result as prevResult, for cniVersion >= 0.4.0, as libcni), CHECK in order.

A failing plugin raises :class:`PluginError`, which carries the plugin's CNI error object
(code, msg, details). ADD does not undo the plugins that succeeded before a failure (nor
does libcni): the caller runs DEL, which every plugin must accept.

With ``cache_dir`` set, ADD results are kept on disk (as libcni keeps them under
/var/lib/cni/results) so that a later process can DEL or CHECK without passing them.
Debian's plugins reject CNI_ARGS they do not know unless IgnoreUnknown=1 is among them:
``pod_args`` puts it first.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubedtn.cni import versions
from kubedtn.cni.rules import DEFAULT_CNI_BIN_DIR
from kubedtn.errors import KubedtnError, ValidationError

DEFAULT_CNI_PATH = (DEFAULT_CNI_BIN_DIR, "/usr/lib/cni")
# The extensions libcni reads from a configuration directory.
CONFIG_EXTENSIONS = (".conf", ".conflist", ".json")


@dataclass(frozen=True)
class NetworkList:
    """A network configuration list: the plugins run, in order, for one attachment."""

    name: str
    cni_version: str
    plugins: tuple[Mapping[str, Any], ...]
    disable_check: bool = False
    source: str = "<memory>"


def load_network_list(path: str | os.PathLike[str]) -> NetworkList:
    """Read a ``.conflist`` or a single-plugin ``.conf``/``.json`` file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValidationError(f"{path}: cannot read the CNI configuration: {e.strerror}") from e
    return parse_network_list(data, source=str(path))


def parse_network_list(data: bytes | str | Mapping[str, Any], *, source: str = "<memory>") -> NetworkList:
    """A configuration list from JSON text or a dict; a single plugin's config (it has a
    ``type`` and no ``plugins``) becomes a list of one, as libcni's ConfListFromConf."""
    if isinstance(data, Mapping):
        raw: Any = dict(data)
    else:
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValidationError(f"{source}: not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise ValidationError(f"{source}: a CNI configuration must be a JSON object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ValidationError(f"{source}: name must be a non-empty string, got {name!r}")
    cni_version = raw.get("cniVersion")
    if not isinstance(cni_version, str):
        raise ValidationError(f"{source}: cniVersion must be a string such as '1.0.0', got {cni_version!r}")
    if "plugins" in raw:
        plugins = raw["plugins"]
        if not isinstance(plugins, list) or not plugins:
            raise ValidationError(f"{source}: plugins must be a non-empty list of plugin configurations")
    elif "type" in raw:
        plugins = [{k: v for k, v in raw.items() if k not in ("name", "cniVersion")}]
    else:
        raise ValidationError(f"{source}: neither a configuration list (plugins) nor a plugin (type)")
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get("type"), str) or not plugin["type"]:
            raise ValidationError(f"{source}: plugins[{i}] must be an object with a non-empty string type")
    disable_check = raw.get("disableCheck", False)
    if isinstance(disable_check, str):  # libcni accepts "true"/"false" strings too
        disable_check = disable_check.lower() == "true"
    return NetworkList(
        name=name,
        cni_version=cni_version,
        plugins=tuple(plugins),
        disable_check=bool(disable_check),
        source=source,
    )


@dataclass(frozen=True)
class Attachment:
    """One container's attachment to a network (libcni's RuntimeConf)."""

    container_id: str
    netns: str  # path of the network namespace; may be "" for DEL
    ifname: str = "eth0"
    args: tuple[tuple[str, str], ...] = ()  # CNI_ARGS, in order

    @property
    def cni_args(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.args)


def pod_args(
    *, namespace: str, name: str, infra_container_id: str = "", uid: str = ""
) -> tuple[tuple[str, str], ...]:
    """CNI_ARGS as kubelet's runtimes pass them (IgnoreUnknown first, so every plugin accepts them)."""
    args = [("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", namespace), ("K8S_POD_NAME", name)]
    if infra_container_id:
        args.append(("K8S_POD_INFRA_CONTAINER_ID", infra_container_id))
    if uid:
        args.append(("K8S_POD_UID", uid))
    return tuple(args)


class PluginError(KubedtnError):
    """A plugin failed: its CNI error object (code, msg, details), the command and the plugin."""

    def __init__(
        self, *, plugin: str, command: str, code: int, msg: str, details: str = "", stderr: str = ""
    ) -> None:
        self.plugin = plugin
        self.command = command
        self.code = code
        self.msg = msg
        self.details = details
        self.stderr = stderr
        text = f"CNI plugin {plugin} {command} failed with code {code}: {msg}"
        if details:
            text += f"\n{details}"
        super().__init__(text)

    @property
    def error(self) -> dict[str, Any]:
        """The CNI error object as the plugin printed it (without cniVersion)."""
        error: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.details:
            error["details"] = self.details
        return error


# A runtime-side failure (plugin not found, no output, timeout) gets code 999 ("other").
_RUNTIME_FAILURE = 999


@dataclass(frozen=True)
class CniRuntime:
    """Execs CNI plugins. ``environ`` is the base environment of every plugin (default:
    this process's, as libcni); ``timeout_s`` bounds each exec."""

    cni_path: Sequence[str] = DEFAULT_CNI_PATH
    environ: Mapping[str, str] | None = None
    timeout_s: float = 180.0
    cache_dir: str | None = None
    _path: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_path", tuple(str(p) for p in self.cni_path))

    # ---- the commands ---------------------------------------------------------------------

    def add(self, network: NetworkList, attachment: Attachment) -> dict[str, Any]:
        """ADD through the chain; the last plugin's result (also cached when cache_dir is set)."""
        result: dict[str, Any] | None = None
        for plugin in network.plugins:
            stdin = _plugin_config(network, plugin, prev_result=result)
            result = self._exec(plugin["type"], "ADD", stdin=stdin, attachment=attachment)
            if result is None:
                raise PluginError(
                    plugin=plugin["type"],
                    command="ADD",
                    code=_RUNTIME_FAILURE,
                    msg="the plugin succeeded but printed no result",
                )
        assert result is not None  # a list has at least one plugin
        self._cache_put(network, attachment, result)
        return result

    def delete(
        self, network: NetworkList, attachment: Attachment, *, prev_result: Mapping[str, Any] | None = None
    ) -> None:
        """DEL through the chain in reverse order; prevResult is the given or cached ADD result
        (cniVersion >= 0.4.0). Every plugin runs even if one fails; the first error is raised."""
        if prev_result is None:
            prev_result = self._cache_get(network, attachment)
        if not versions.is_at_least(network.cni_version, "0.4.0"):
            prev_result = None
        first_error: PluginError | None = None
        for plugin in reversed(network.plugins):
            stdin = _plugin_config(network, plugin, prev_result=prev_result)
            try:
                self._exec(plugin["type"], "DEL", stdin=stdin, attachment=attachment)
            except PluginError as e:
                first_error = first_error or e
        if first_error is not None:
            raise first_error
        self._cache_drop(network, attachment)

    def check(
        self, network: NetworkList, attachment: Attachment, *, prev_result: Mapping[str, Any] | None = None
    ) -> None:
        """CHECK through the chain (cniVersion >= 0.4.0; a list with disableCheck skips it)."""
        if not versions.is_at_least(network.cni_version, "0.4.0"):
            raise ValidationError(f"{network.source}: CHECK needs cniVersion 0.4.0 or newer")
        if network.disable_check:
            return
        if prev_result is None:
            prev_result = self._cache_get(network, attachment)
        if prev_result is None:
            raise ValidationError(
                f"CHECK of {attachment.container_id}/{attachment.ifname} on {network.name}: "
                "no result of an ADD to check against (pass prev_result or use cache_dir)"
            )
        for plugin in network.plugins:
            stdin = _plugin_config(network, plugin, prev_result=prev_result)
            self._exec(plugin["type"], "CHECK", stdin=stdin, attachment=attachment)

    def status(self, network: NetworkList) -> None:
        """STATUS of every plugin (cniVersion >= 1.1.0; older lists have no STATUS: no-op)."""
        if not versions.is_at_least(network.cni_version, "1.1.0"):
            return
        for plugin in network.plugins:
            self._exec(plugin["type"], "STATUS", stdin=_plugin_config(network, plugin), attachment=None)

    def version(self, plugin_type: str, *, cni_version: str = versions.LATEST_VERSION) -> dict[str, Any]:
        """A plugin's VERSION answer (supportedVersions)."""
        answer = self._exec(plugin_type, "VERSION", stdin={"cniVersion": cni_version}, attachment=None)
        return answer or {}

    # ---- exec -----------------------------------------------------------------------------

    def find_plugin(self, plugin_type: str) -> str:
        """The executable for a plugin type, first found on cni_path."""
        if "/" in plugin_type or plugin_type in (".", ".."):
            raise ValidationError(f"CNI plugin type {plugin_type!r} must be a plain file name")
        for directory in self._path:
            candidate = os.path.join(directory, plugin_type)
            if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
        raise PluginError(
            plugin=plugin_type,
            command="find",
            code=_RUNTIME_FAILURE,
            msg=f"no executable {plugin_type!r} in CNI path {':'.join(self._path)}",
        )

    def _exec(
        self,
        plugin_type: str,
        command: str,
        *,
        stdin: Mapping[str, Any],
        attachment: Attachment | None,
    ) -> dict[str, Any] | None:
        executable = self.find_plugin(plugin_type)
        env = dict(os.environ if self.environ is None else self.environ)
        env["CNI_COMMAND"] = command
        env["CNI_PATH"] = ":".join(self._path)
        if attachment is not None:
            env["CNI_CONTAINERID"] = attachment.container_id
            env["CNI_NETNS"] = attachment.netns
            env["CNI_IFNAME"] = attachment.ifname
            env["CNI_ARGS"] = attachment.cni_args
        try:
            proc = subprocess.run(
                [executable],
                input=json.dumps(stdin).encode(),
                env=env,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise PluginError(
                plugin=plugin_type,
                command=command,
                code=_RUNTIME_FAILURE,
                msg=f"no answer within {self.timeout_s:g}s",
            ) from e
        except OSError as e:
            msg = f"cannot exec {executable}: {e}"
            raise PluginError(plugin=plugin_type, command=command, code=_RUNTIME_FAILURE, msg=msg) from e
        return _parse_output(plugin_type, command, proc)

    # ---- result cache ---------------------------------------------------------------------

    def _cache_file(self, network: NetworkList, attachment: Attachment) -> Path | None:
        if self.cache_dir is None:
            return None
        return Path(self.cache_dir) / f"{network.name}-{attachment.container_id}-{attachment.ifname}"

    def _cache_put(self, network: NetworkList, attachment: Attachment, result: Mapping[str, Any]) -> None:
        path = self._cache_file(network, attachment)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(path.name + ".tmp")
        temp.write_text(json.dumps(result))
        temp.replace(path)

    def _cache_get(self, network: NetworkList, attachment: Attachment) -> dict[str, Any] | None:
        path = self._cache_file(network, attachment)
        if path is None:
            return None
        try:
            cached: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return cached

    def _cache_drop(self, network: NetworkList, attachment: Attachment) -> None:
        path = self._cache_file(network, attachment)
        if path is not None:
            path.unlink(missing_ok=True)


def _plugin_config(
    network: NetworkList, plugin: Mapping[str, Any], *, prev_result: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One plugin's stdin: its entry plus the list's name and cniVersion (and prevResult)."""
    config = dict(plugin)
    config["name"] = network.name
    config["cniVersion"] = network.cni_version
    if prev_result is not None:
        config["prevResult"] = dict(prev_result)
    return config


def _parse_output(
    plugin_type: str, command: str, proc: subprocess.CompletedProcess[bytes]
) -> dict[str, Any] | None:
    stdout = proc.stdout.strip()
    stderr = proc.stderr.decode(errors="replace").strip()
    parsed: Any = None
    if stdout:
        try:
            parsed = json.loads(stdout)
        except ValueError:
            parsed = None
    if proc.returncode == 0:
        if stdout and not isinstance(parsed, dict):
            raise PluginError(
                plugin=plugin_type,
                command=command,
                code=_RUNTIME_FAILURE,
                msg=f"the plugin printed something that is not a JSON object: {stdout[:200]!r}",
                stderr=stderr,
            )
        result: dict[str, Any] | None = parsed
        return result
    if isinstance(parsed, dict) and isinstance(parsed.get("code"), int):
        raise PluginError(
            plugin=plugin_type,
            command=command,
            code=parsed["code"],
            msg=str(parsed.get("msg", "")),
            details=str(parsed.get("details", "")),
            stderr=stderr,
        )
    raise PluginError(
        plugin=plugin_type,
        command=command,
        code=_RUNTIME_FAILURE,
        msg=f"exited {proc.returncode} without a CNI error object",
        details=(stderr or stdout.decode(errors="replace"))[-500:],
        stderr=stderr,
    )
