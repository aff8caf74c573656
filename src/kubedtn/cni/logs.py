"""Where the CNI plugin logs: a file, never stdout (stdout carries only the protocol JSON).

The path is, first found: $KUBEDTN_CNI_LOG (tests, the lab), the ``logFile`` key of the
network configuration, /var/log/kubedtn/cni.log. "-" means stderr, which the runtime
keeps apart from the result; so does an unwritable path (with a line saying so).

The file rotates itself: a plugin that finds it at ``ROTATE_BYTES`` or more renames it to
``<path>.1`` (replacing the one before) and starts a new one, so a node keeps at most
twice that. No logrotate rule is needed, and none exists on most nodes.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # see kubedtn.cni.versions: logging is a costly import; the fast path avoids it
if TYPE_CHECKING:
    import logging
    from collections.abc import Mapping

LOG_FILE_ENV = "KUBEDTN_CNI_LOG"
LOG_FILE_KEY = "logFile"
DEFAULT_LOG_FILE = "/var/log/kubedtn/cni.log"
LOG_FILE_MODE = 0o600  # when the plugin creates it: owner-only, as the daemon's logs
ROTATE_BYTES = 10 * 1024 * 1024
_FORMAT = "%(asctime)s %(levelname)s pid=%(process)d %(name)s %(message)s"


def log_path(environ: Mapping[str, str], config: Mapping[str, object] | None = None) -> str:
    """The log destination for this invocation (a path, or "-" for stderr)."""
    from_config = (config or {}).get(LOG_FILE_KEY)
    if not isinstance(from_config, str):
        from_config = ""
    return environ.get(LOG_FILE_ENV) or from_config or DEFAULT_LOG_FILE


def rotate_if_large(path: str) -> None:
    """``path`` → ``path.1`` when it has grown to ROTATE_BYTES (module docstring). One stat per
    call; two plugins rotating at once both rename, and the second moves the first's fresh
    file: a few lines of the old one are lost, never the plugin's answer."""
    try:
        if os.stat(path).st_size >= ROTATE_BYTES:
            os.replace(path, f"{path}.1")
    except OSError:
        pass


def configure(path: str) -> logging.Logger:
    """Send the `kubedtn` loggers to `path` at INFO; returns the plugin's logger."""
    import logging

    root = logging.getLogger("kubedtn")
    for old in list(root.handlers):  # configure() may run more than once in one process (tests)
        root.removeHandler(old)
        old.close()
    handler: logging.Handler
    problem = None
    if path == "-":
        handler = logging.StreamHandler(sys.stderr)
    else:
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            rotate_if_large(path)
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE))  # made 0600
            handler = logging.FileHandler(path, encoding="utf-8")
        except OSError as e:
            handler = logging.StreamHandler(sys.stderr)
            problem = f"cannot open log file {path}: {e.strerror}; logging to stderr"
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    logger = logging.getLogger("kubedtn.cni")
    if problem:
        logger.warning(problem)
    return logger


def append_line(path: str, level: str, message: str) -> None:
    """One line in the log file's format, without the logging module (the fast path).

    Best effort: a log that cannot be written never fails the plugin."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"
    line = f"{stamp} {level} pid={os.getpid()} kubedtn.cni {message}\n"
    try:
        if path == "-":
            sys.stderr.write(line)
            return
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        rotate_if_large(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError:
        pass
