"""The plugin run in-process as a runtime runs it (`invoke`), and the `kubedtn` logger it
configures restored after each test."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedtn.cni import plugin


@pytest.fixture(autouse=True)
def _restore_kubedtn_logger() -> Iterator[None]:
    logger = logging.getLogger("kubedtn")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in list(logger.handlers):
        if handler not in saved[0]:
            logger.removeHandler(handler)
            handler.close()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


class Invocation:
    """One run of the plugin: its exit code, stdout lines and the log file."""

    def __init__(self, code: int, stdout: str, log: Path) -> None:
        self.code = code
        self.stdout = stdout
        self.log = log.read_text() if log.exists() else ""

    @property
    def result(self) -> dict[str, Any]:
        lines = self.stdout.splitlines()
        assert len(lines) == 1, f"stdout must be exactly one JSON line, got {self.stdout!r}"
        parsed: dict[str, Any] = json.loads(lines[0])
        return parsed


@pytest.fixture
def invoke(tmp_path: Path) -> Callable[..., Invocation]:
    log = tmp_path / "cni.log"

    def run(command: str | None, stdin: bytes | str | dict[str, Any] = b"", **env: str) -> Invocation:
        data = json.dumps(stdin).encode() if isinstance(stdin, dict) else stdin
        data = data.encode() if isinstance(data, str) else data
        environ = {"KUBEDTN_CNI_LOG": str(log), **env}
        if command is not None:
            environ["CNI_COMMAND"] = command
        out = io.StringIO()
        code = plugin.run(environ=environ, stdin=io.BytesIO(data), stdout=out)
        return Invocation(code, out.getvalue(), log)

    return run
