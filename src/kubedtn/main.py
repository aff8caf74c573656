"""Entry point of the one executable: the CNI plugin when a runtime execs it, the CLI otherwise.

Kept free of imports beyond the standard library so the CNI path stays fast and so a
wrong Python gets a readable error instead of a traceback from a dependency.
"""

import os
import sys

REQUIRED_PYTHON = (3, 11)


def _python_mismatch_message() -> str:
    found = ".".join(map(str, sys.version_info[:3]))
    want = ".".join(map(str, REQUIRED_PYTHON))
    return (
        f"kubedtn needs Python {want} (it carries cp{want.replace('.', '')} wheels); "
        f"this is Python {found} at {sys.executable}. Install python{want} on this node."
    )


def is_cni_invocation(environ: "os._Environ[str] | dict[str, str]", argv: "list[str]") -> bool:
    """A runtime execs the plugin with CNI_COMMAND set and no arguments."""
    return bool(environ.get("CNI_COMMAND")) and len(argv) <= 1


def main() -> None:
    cni = is_cni_invocation(os.environ, sys.argv)
    if sys.version_info[:2] != REQUIRED_PYTHON:
        message = _python_mismatch_message()
        if cni:
            _plugin_without_wheels(message)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    if cni:
        from kubedtn.cni.plugin import run

        sys.exit(run())
    from kubedtn.cli.root import cli

    try:
        cli()
        code: object = 0
    except SystemExit as e:
        code = e.code
    _leave(code)


def _plugin_without_wheels(message: str) -> None:
    """The CNI plugin on a Python the wheels are not for: pods in no topology still start
    (kubedtn.cni.plugin's pass-through needs only the standard library); every other call
    is a CNI error carrying `message`. Exits."""
    import json  # CNI errors go to stdout as JSON; code 999 is "other"

    try:
        from kubedtn.cni.plugin import run
    except (SyntaxError, ImportError):  # older than the plugin's modules (3.7 is the oldest)
        print(json.dumps({"cniVersion": "1.0.0", "code": 999, "msg": message}))
        sys.exit(1)
    try:
        code = run(without_wheels=message)
    except Exception as e:  # something of a newer Python met on an old one: still one JSON line
        print(json.dumps({"cniVersion": "1.0.0", "code": 999, "msg": f"{message} ({e!r})"}))
        sys.exit(1)
    sys.exit(code)


def _leave(code: object) -> None:
    """Exit now, skipping the interpreter's teardown: freeing a command's objects one by one
    (a lab's parsed topologies, the gRPC and store modules) took a noticeable time after
    `lab up` had printed its summary. Output is flushed and logging shut down first; nothing else
    this program writes is left in a buffer (files are closed where they are written)."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
    status = code if isinstance(code, int) else (0 if code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # what Python exits with when it cannot flush stdout
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    os._exit(status)


if __name__ == "__main__":
    main()
