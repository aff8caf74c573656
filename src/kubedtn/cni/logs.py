"""Where the CNI plugin logs: a file, never stdout (stdout carries only the protocol JSON).

The path is, first found: $KUBEDTN_CNI_LOG (tests, the lab), the ``logFile`` key of the
network configuration, /var/log/kubedtn/cni.log. "-" means stderr, which the runtime
keeps apart from the result; so does an unwritable path (with a line saying so).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

LOG_FILE_ENV = "KUBEDTN_CNI_LOG"
LOG_FILE_KEY = "logFile"
DEFAULT_LOG_FILE = "/var/log/kubedtn/cni.log"
_FORMAT = "%(asctime)s %(levelname)s pid=%(process)d %(name)s %(message)s"


def log_path(environ: Mapping[str, str], config: Mapping[str, object] | None = None) -> str:
    """The log destination for this invocation (a path, or "-" for stderr)."""
    from_config = (config or {}).get(LOG_FILE_KEY)
    if not isinstance(from_config, str):
        from_config = ""
    return environ.get(LOG_FILE_ENV) or from_config or DEFAULT_LOG_FILE


def configure(path: str) -> logging.Logger:
    """Send the `kubedtn` loggers to `path` at INFO; returns the plugin's logger."""
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
