"""Progress of a long lab command: a bar on a terminal, plain lines otherwise (both to stderr).

On a terminal each step redraws one line (``\\r``); into a file or pipe each finished
step is one line (``lab kdtn: namespaces 50/50 (0.08 s)``), so logs stay readable.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 30


class Progress:
    def __init__(self, lab: str, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.lab = lab
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty()
        self._step = ""
        self._total = 0
        self._done = 0
        self._started = 0.0
        self._last_draw = 0.0

    def step(self, name: str, total: int = 0) -> None:
        """Starts a step (finishing the previous one) of ``total`` units (0: not counted)."""
        self.finish()
        self._step, self._total, self._done = name, total, 0
        self._started = time.monotonic()
        self._draw(force=True)

    def advance(self, done: int) -> None:
        """Sets how many units of the current step are done."""
        self._done = min(done, self._total) if self._total else done
        self._draw()

    def finish(self, note: str = "") -> None:
        """Ends the current step, with an optional note (``created 3, kept 0``)."""
        if not self._step:
            return
        if self._total:
            self._done = self._total
        elapsed = time.monotonic() - self._started
        count = f" {self._done}/{self._total}" if self._total else ""
        text = f"lab {self.lab}: {self._step}{count}{' — ' + note if note else ''} ({elapsed:.2f} s)"
        if self.tty:
            self._write(f"\r\x1b[2K{text}\n")
        elif self.enabled:
            self._write(text + "\n")
        self._step = ""

    def abort(self) -> None:
        """Drops the current step without a line (the error that follows says what failed)."""
        if self._step and self.tty:
            self._write("\r\x1b[2K")
        self._step = ""

    def _draw(self, *, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.05:
            return
        self._last_draw = now
        if self._total:
            filled = int(_WIDTH * self._done / self._total)
            bar = f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {self._done}/{self._total}"
        else:
            bar = "..."
        self._write(f"\r\x1b[2Klab {self.lab}: {self._step} {bar}")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
