"""The CNI plugin on a Python the executable's wheels are not for (see kubedtn.main).

kubedtn.cni.plugin serves VERSION and the pass-through of pods in no topology
(kubedtn.cni.fastpath) there as everywhere: both need only the standard library, so a
node whose python3 is not the one the executable was built for still starts its ordinary
pods. The rest is answered here:

- STATUS succeeds (its configuration's version checked): pods in no topology start, so
  the node's network is ready (see kubedtn.cni.status);
- anything else (a topology pod's ADD, DEL or CHECK, GC, and every call the fast path
  leaves to the full path, which alone words most errors) is a CNI error, code 103,
  naming the command, the pod and the Python the executable needs.

Standard library only, like the fast path, and importable on Python 3.7 and newer.
"""

from __future__ import annotations

from kubedtn.cni import jsonio, logs, rules, versions
from kubedtn.cni.errors import CniError, Code
from kubedtn.model.namespace import DEFAULT_NAMESPACE

TYPE_CHECKING = False  # see kubedtn.cni.versions
if TYPE_CHECKING:
    from collections.abc import Mapping

    from kubedtn.cni.fastpath import TopologyAdd

EXIT_OK = 0
EXIT_ERROR = 1


def answer(
    environ: Mapping[str, str], data: bytes, call: TopologyAdd | None, *, problem: str
) -> tuple[str, int]:
    """What to print and the exit code, for a call the fast path did not pass through.
    `call` is the fast path's answer (a topology pod's ADD, or None); `problem` says why
    the wheels cannot load."""
    command = environ.get("CNI_COMMAND", "")
    cni_version = versions.LATEST_VERSION
    config: Mapping[str, object] | None = None
    try:
        config = jsonio.decode_object(data, what="network configuration on stdin")
        cni_version = rules.check_config_version(config)
        if command == "STATUS":
            rules.check_command_version(command, cni_version)
            logs.append_line(
                logs.log_path(environ, config),
                "INFO",
                f"cmd=STATUS result=ok without_wheels={problem!r}: only pods in no topology start here",
            )
            return "", EXIT_OK
    except CniError as invalid:
        return _error(environ, config, invalid, cni_version)
    pod = _pod(environ, call)
    if call is not None:
        error = CniError(
            Code.WRONG_PYTHON,
            f"CNI_COMMAND={command} for pod {pod}: the pod is in a topology, and its links need "
            f"the kubedtn daemon through the plugin's full path, which cannot run here: {problem}",
            details="pods in no topology start on this node meanwhile (passed through without the wheels)",
        )
    else:
        error = CniError(
            Code.WRONG_PYTHON,
            f"CNI_COMMAND={command}{f' for pod {pod}' if pod else ''} needs the plugin's full path "
            f"(a topology pod, or a call only it answers), which cannot run here: {problem}",
            details="without the wheels only VERSION, STATUS and the pass-through of a valid call "
            "for a pod in no topology are served",
        )
    return _error(environ, config, error, cni_version)


def _pod(environ: Mapping[str, str], call: TopologyAdd | None) -> str:
    """namespace/name of the call's pod; "" when CNI_ARGS names none (or cannot be read)."""
    if call is not None:
        return f"{call.namespace}/{call.name}"
    try:
        known, _, _ = rules.split_cni_args(environ.get("CNI_ARGS", ""))
    except CniError:
        return ""
    name = known.get("K8S_POD_NAME")
    return f"{known.get('K8S_POD_NAMESPACE') or DEFAULT_NAMESPACE}/{name}" if name else ""


def _error(
    environ: Mapping[str, str], config: Mapping[str, object] | None, error: CniError, cni_version: str
) -> tuple[str, int]:
    logs.append_line(
        logs.log_path(environ, config),
        "ERROR",
        f"cmd={environ.get('CNI_COMMAND', '')} container={environ.get('CNI_CONTAINERID', '')} "
        f"result=error code={error.code} msg={error.msg!r}",
    )
    return error.to_json(cni_version) + "\n", EXIT_ERROR
