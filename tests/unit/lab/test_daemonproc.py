"""The lab's daemon output file is owner-only, whatever the umask."""

from __future__ import annotations

import sys
from pathlib import Path

from kubedtn.lab import daemonproc
from tests.support.filemodes import mode, usual_umask


def test_the_daemon_output_file_is_made_0600_and_an_older_one_narrowed(tmp_path: Path) -> None:
    fresh, older = tmp_path / "new" / "daemon.log", tmp_path / "old.log"
    older.write_text("before\n")
    older.chmod(0o644)
    with usual_umask():
        for log_file in (fresh, older):
            proc = daemonproc.spawn([sys.executable, "-c", "print('started')"], log_file=log_file)
            assert proc.wait(timeout=30) == 0
    assert mode(fresh) == 0o600
    assert mode(older) == 0o600
    assert fresh.read_text() == "started\n"
    assert older.read_text() == "before\nstarted\n"
