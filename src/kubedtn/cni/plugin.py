"""The CNI plugin: what runs when a container runtime execs kubedtn with CNI_COMMAND set.

    run() -> exit code

Reads CNI_* from the environment and the network configuration from stdin, dispatches on
the command, and prints exactly one JSON object on stdout (the result or a CNI error) —
nothing else ever goes to stdout; logs go to a file (kubedtn.cni.logs).

VERSION takes a short path that imports only json: runtimes call it often and every
exec pays the import time. The other commands parse their whole request first
(kubedtn.cni.spec), so nothing is done for an invalid one, then call their handler.

Adding a command: write ``def handle(request: spec.Request) -> Mapping | None`` in its own
module (return the result object, or None for commands without output: DEL, CHECK,
STATUS, GC) and register it in ``_handler`` below with a local import, so each command
loads only what it needs (e.g. grpc for ADD, nothing heavy for VERSION). Raise
kubedtn.errors or CniError; the mapping to CNI codes happens here.
"""

from __future__ import annotations

import os
import sys

from kubedtn.cni import jsonio, versions
from kubedtn.cni.errors import CniError, Code, from_exception

TYPE_CHECKING = False  # see kubedtn.cni.versions
if TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping
    from typing import Any, BinaryIO, TextIO

    from kubedtn.cni import fastpath, spec

    Handler = Callable[[spec.Request], "Mapping[str, Any] | None"]

EXIT_OK = 0
EXIT_ERROR = 1
MAX_STDIN = 1 << 20  # what is read of stdin: a runtime's configuration is far smaller


def run(
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    *,
    without_wheels: str | None = None,
) -> int:
    """Serve one CNI invocation; returns the process exit code. Never raises.

    `without_wheels` (why the executable's wheels cannot load on this Python, see
    kubedtn.main): only what needs nothing but the standard library is served (VERSION,
    the pass-through of pods in no topology, STATUS); anything else is a CNI error
    (kubedtn.cni.nowheels)."""
    environ = os.environ if environ is None else environ
    stdin = sys.stdin.buffer if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    try:
        data = stdin.read(MAX_STDIN + 1)
    except OSError as e:
        return _fail(stdout, CniError(Code.IO_FAILURE, f"cannot read stdin: {e}"), versions.LATEST_VERSION)
    if len(data) > MAX_STDIN:
        too_big = CniError(
            Code.DECODE_FAILED,
            f"the network configuration on stdin is larger than {MAX_STDIN} bytes "
            "(a chained conflist with its prevResult is a few kilobytes)",
        )
        return _fail(stdout, too_big, versions.LATEST_VERSION)
    if environ.get("CNI_COMMAND") == "VERSION":
        return _version(environ, data, stdout)
    from kubedtn.cni import fastpath

    answer = fastpath.answer(environ, data)
    if without_wheels is not None and not isinstance(answer, str):
        from kubedtn.cni import nowheels

        text, code = nowheels.answer(environ, data, answer, problem=without_wheels)
        return code if _emit_text(stdout, text) == EXIT_OK else EXIT_ERROR
    if isinstance(answer, fastpath.TopologyAdd):
        return _topology_add(answer, stdout)
    if answer is not None:  # a pod outside every topology: nothing more to load
        return _emit_text(stdout, answer)
    return _command(environ, data, stdout)


def _topology_add(call: fastpath.TopologyAdd, stdout: TextIO) -> int:
    """A checked ADD of a topology pod (see kubedtn.cni.fastpath): add.handle's SetupPod and
    answers, without the request objects or logging."""
    from kubedtn.cni import logs
    from kubedtn.cni.client import setup_pod

    try:
        setup_pod(
            call.daemon_socket,
            wait_s=call.daemon_wait_s,
            name=call.name,
            kube_ns=call.namespace,
            net_ns=call.netns,
            container_id=call.container_id,
        )
    except Exception as exc:  # the outermost layer, as in _command
        error = from_exception(exc)
        line = f"{call.fields} result=error code={error.code} msg={error.msg!r} details={error.details!r}"
        if error.code == Code.INTERNAL:
            import traceback

            line += "\n" + traceback.format_exc().rstrip()
        logs.append_line(call.log_path, "ERROR", line)
        return _fail(stdout, error, call.cni_version)
    logs.append_line(call.log_path, "INFO", f"{call.fields} result=ok")
    return _emit_text(stdout, call.result)


def _version(environ: Mapping[str, str], data: bytes, stdout: TextIO) -> int:
    try:
        answer = versions.version_info(versions.version_for_request(data))
    except CniError as e:
        _logger(environ, None).error("cmd=VERSION result=error code=%d msg=%r", e.code, e.msg)
        return _fail(stdout, e, versions.LATEST_VERSION)
    return _emit(stdout, answer)


def _command(environ: Mapping[str, str], data: bytes, stdout: TextIO) -> int:
    from kubedtn.cni import spec

    cni_version = versions.LATEST_VERSION
    config: spec.NetConf | None = None
    request: spec.Request | None = None
    logger: logging.Logger | None = None
    try:
        command = spec.parse_command(environ.get("CNI_COMMAND"))
        config = spec.parse_network_config(data)
        cni_version = config.cni_version
        logger = _logger(environ, config)  # before the handler: it logs too
        spec.check_command_version(command, cni_version)
        request = spec.Request(env=spec.parse_environment(environ, command), config=config)
        result = _handler(command)(request)
    except Exception as exc:  # the outermost layer: every failure becomes a CNI error
        error = from_exception(exc)
        if logger is None:
            logger = _logger(environ, config)
        fields = _fields(environ, request)
        if error.code == Code.INTERNAL:
            logger.exception("%s result=error code=%d msg=%r", fields, error.code, error.msg)
        else:
            logger.error(
                "%s result=error code=%d msg=%r details=%r", fields, error.code, error.msg, error.details
            )
        return _fail(stdout, error, cni_version)
    logger.info("%s result=ok", _fields(environ, request))
    return EXIT_OK if result is None else _emit(stdout, result)


# The module handling each command (its `handle`), imported only when that command runs.
_HANDLERS = {"ADD": "add", "DEL": "delete", "CHECK": "check", "STATUS": "status", "GC": "gc"}


def _handler(command: spec.Command) -> Handler:
    """The handler of a command (imported here, so a command loads only its own modules)."""
    module = _HANDLERS.get(command.value)
    if module is None:
        return _not_implemented
    import importlib

    handle: Handler = importlib.import_module(f"kubedtn.cni.{module}").handle
    return handle


def _not_implemented(request: spec.Request) -> Mapping[str, Any] | None:
    import kubedtn

    raise CniError(
        Code.NOT_IMPLEMENTED,
        f"CNI_COMMAND={request.env.command.value} is not implemented by kubedtn {kubedtn.version()}",
    )


def _fields(environ: Mapping[str, str], request: spec.Request | None) -> str:
    """key=value context of the invocation for log lines."""
    if request is None:
        return f"cmd={environ.get('CNI_COMMAND', '')} container={environ.get('CNI_CONTAINERID', '')}"
    env = request.env
    pod = f"{env.args.pod_namespace}/{env.args.pod_name}" if env.args.pod_name else "-"
    return (
        f"cmd={env.command.value} container={env.container_id} netns={env.netns or '-'} "
        f"ifname={env.ifname} pod={pod} network={request.config.name}"
    )


def _logger(environ: Mapping[str, str], config: spec.NetConf | None) -> logging.Logger:
    from kubedtn.cni import logs

    return logs.configure(logs.log_path(environ, None if config is None else config.raw))


def _emit(stdout: TextIO, result: Mapping[str, Any]) -> int:
    return _emit_text(stdout, jsonio.encode(result) + "\n")


def _emit_text(stdout: TextIO, text: str) -> int:
    try:
        stdout.write(text)
        stdout.flush()
    except OSError:
        return EXIT_ERROR  # stdout is gone: nobody is left to tell
    return EXIT_OK


def _fail(stdout: TextIO, error: CniError, cni_version: str) -> int:
    _emit(stdout, error.to_result(cni_version))
    return EXIT_ERROR
