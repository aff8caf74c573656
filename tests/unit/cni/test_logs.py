"""The plugin's log file is made owner-only, on the fast path and the full one."""

from __future__ import annotations

import logging
from pathlib import Path

from kubedtn.cni import logs
from tests.support.filemodes import mode, usual_umask


def test_both_ways_of_writing_the_log_create_it_0600(tmp_path: Path) -> None:
    fast, full = tmp_path / "fast" / "cni.log", tmp_path / "full" / "cni.log"
    root = logging.getLogger("kubedtn")
    handlers = list(root.handlers)
    try:
        with usual_umask():
            logs.append_line(str(fast), "INFO", "cmd=ADD passthrough")
            logs.configure(str(full)).info("cmd=ADD result=ok")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in handlers:
            root.addHandler(handler)
    assert "cmd=ADD passthrough" in fast.read_text()
    assert "cmd=ADD result=ok" in full.read_text()
    assert mode(fast) == 0o600
    assert mode(full) == 0o600


def test_a_full_log_is_rotated_to_one_old_file_by_the_next_plugin(tmp_path: Path) -> None:
    path = tmp_path / "cni.log"
    old = tmp_path / "cni.log.1"
    with usual_umask():
        logs.append_line(str(path), "INFO", "first")
        with open(path, "r+b") as f:  # grown to the limit (sparse: no 10 MiB written)
            f.truncate(logs.ROTATE_BYTES)
        logs.append_line(str(path), "INFO", "after the limit")
    assert old.stat().st_size == logs.ROTATE_BYTES
    assert old.read_bytes().startswith(b"20") and b"first" in old.read_bytes()[:200]
    assert "after the limit" in path.read_text() and "first" not in path.read_text()
    assert mode(path) == 0o600
    logs.append_line(str(path), "INFO", "small files stay")
    assert "after the limit" in path.read_text() and old.stat().st_size == logs.ROTATE_BYTES
