"""The plugin's log file is made owner-only, on the fast path and the full one."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from kubedtn.cni import logs


def test_both_ways_of_writing_the_log_create_it_0600(tmp_path: Path) -> None:
    fast, full = tmp_path / "fast" / "cni.log", tmp_path / "full" / "cni.log"
    old_umask = os.umask(0o022)
    root = logging.getLogger("kubedtn")
    handlers = list(root.handlers)
    try:
        logs.append_line(str(fast), "INFO", "cmd=ADD passthrough")
        logs.configure(str(full)).info("cmd=ADD result=ok")
    finally:
        os.umask(old_umask)
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            root.addHandler(handler)
    assert "cmd=ADD passthrough" in fast.read_text()
    assert "cmd=ADD result=ok" in full.read_text()
    assert stat.S_IMODE(fast.stat().st_mode) == 0o600
    assert stat.S_IMODE(full.stat().st_mode) == 0o600
