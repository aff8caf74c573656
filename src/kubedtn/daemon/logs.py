"""Structured daemon logs: one line per event, ``key=value`` fields (pod, namespace, link, action).

Usage::

    log = EventLog(logging.getLogger(__name__))
    log.bind(pod="r1", namespace="default", action="setup").info("pod set up", links=3)
    # ts=2024-... level=info logger=kubedtn.daemon.manager msg="pod set up" pod=r1 namespace=default
    #   action=setup links=3

Records from other modules (plain ``logging`` calls) come out in the same shape, with
their message as ``msg``.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

FIELDS_ATTR: Final = "kubedtn_fields"
LOG_FILE_MODE: Final = 0o600
LOG_MAX_BYTES: Final = 10 * 1024 * 1024  # per file: a busy node's day of setups fits in a few
LOG_BACKUPS: Final = 5


def _value(value: object) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=... logger=... msg="..." k=v ...``; exceptions as an ``error_trace`` field."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={ts}.{int(record.msecs):03d}Z",
            f"level={record.levelname.lower()}",
            f"logger={record.name}",
            f"msg={_value(record.getMessage())}",
        ]
        fields: Mapping[str, Any] = getattr(record, FIELDS_ATTR, {})
        parts += [f"{k}={_value(v)}" for k, v in fields.items() if v is not None]
        if record.exc_info:
            parts.append(f"error_trace={_value(self.formatException(record.exc_info))}")
        return " ".join(parts)


class EventLog:
    """A logger with bound fields; each call may add more (``log.info("msg", link=3)``)."""

    def __init__(self, logger: logging.Logger, **fields: object) -> None:
        self.logger = logger
        self.fields = fields

    def bind(self, **fields: object) -> EventLog:
        return EventLog(self.logger, **{**self.fields, **fields})

    def _log(self, level: int, event: str, fields: Mapping[str, object], *, exc_info: bool = False) -> None:
        if self.logger.isEnabledFor(level):
            self.logger.log(
                level, event, extra={FIELDS_ATTR: {**self.fields, **fields}}, exc_info=exc_info, stacklevel=3
            )

    def debug(self, event: str, **fields: object) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: object) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: object) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, *, exc_info: bool = False, **fields: object) -> None:
        self._log(logging.ERROR, event, fields, exc_info=exc_info)


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files (the current one and each new one after a
    rotation) are readable by their owner only: the daemon logs pod names, namespace paths
    and peer addresses. Each record is formatted once (the standard handler formats it a
    second time to size it, and stats the file for every line)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
            if self.stream is None:
                self.stream = self._open()
            if self.maxBytes > 0:
                self.stream.seek(0, os.SEEK_END)  # another writer may have grown the file
                # Only a regular file rotates (not /dev/null or a pipe given as the log file).
                if self.stream.tell() + len(line) >= self.maxBytes and os.path.isfile(self.baseFilename):
                    self.doRollover()
                    if self.stream is None:
                        self.stream = self._open()
            self.stream.write(line)
            self.flush()
        except Exception:
            self.handleError(record)

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE)
        try:
            os.fchmod(fd, LOG_FILE_MODE)  # a file an older kubedtn made with the umask's mode
            return open(fd, "a", encoding=self.encoding, errors=self.errors)
        except BaseException:
            os.close(fd)
            raise


def configure_logging(
    *,
    log_file: Path | None = None,
    level: int = logging.INFO,
    max_bytes: int = LOG_MAX_BYTES,
    backups: int = LOG_BACKUPS,
) -> None:
    """Send the ``kubedtn`` loggers to stderr (default) or ``log_file``, one key=value line each.

    A log file rotates by size (``log_file.1`` ... ``log_file.<backups>``), by the daemon
    itself: a node has no logrotate rule for it, and in a container none runs (see the
    README, "Daemon logs")."""
    root = logging.getLogger("kubedtn")
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler: logging.Handler
    if log_file is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler = PrivateRotatingFileHandler(
            log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
    handler.setFormatter(KeyValueFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
