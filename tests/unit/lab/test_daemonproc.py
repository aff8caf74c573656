"""The lab's daemon output file is owner-only, whatever the umask."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from kubedtn.lab import daemonproc


def test_the_daemon_output_file_is_made_0600_and_an_older_one_narrowed(tmp_path: Path) -> None:
    fresh, older = tmp_path / "new" / "daemon.log", tmp_path / "old.log"
    older.write_text("before\n")
    older.chmod(0o644)
    old_umask = os.umask(0o022)
    try:
        for log_file in (fresh, older):
            proc = daemonproc.spawn([sys.executable, "-c", "print('started')"], log_file=log_file)
            assert proc.wait(timeout=30) == 0
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    assert stat.S_IMODE(older.stat().st_mode) == 0o600
    assert fresh.read_text() == "started\n"
    assert older.read_text() == "before\nstarted\n"
