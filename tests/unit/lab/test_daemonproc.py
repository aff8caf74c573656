"""The lab's daemon output file is owner-only, whatever the umask."""

from __future__ import annotations

import sys
from pathlib import Path

from kubedtn.daemon.config import DEFAULT_BYPASS_PIN_DIR
from kubedtn.lab import bypass as labbypass
from kubedtn.lab import daemonproc
from kubedtn.lab.names import RUN_ROOT_ENV, STATE_ROOT_ENV, lab_name_problem, lab_paths
from kubedtn.lab.state import BypassRecord
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


def test_a_lab_daemon_gets_the_labs_bypass_or_a_pin_dir_no_lab_can_have(tmp_path: Path) -> None:
    paths = lab_paths("t1", {STATE_ROOT_ENV: str(tmp_path / "s"), RUN_ROOT_ENV: str(tmp_path / "r")})
    record = BypassRecord(
        cgroup="/sys/fs/cgroup/unified/kubedtn-lab-t1", pin_dir="/sys/fs/bpf/kubedtn-lab-t1"
    )
    on = daemonproc.daemon_argv(paths, host_ip="127.0.0.1", store="s.db", command=["kubedtn"], bypass=record)
    off = daemonproc.daemon_argv(paths, host_ip="127.0.0.1", store="s.db", command=["kubedtn"])

    def after(argv: list[str], flag: str) -> str:
        return argv[argv.index(flag) + 1]

    assert "--tcpip-bypass" in on and "--no-tcpip-bypass" not in on
    assert (after(on, "--bypass-cgroup"), after(on, "--bypass-pin-dir")) == (record.cgroup, record.pin_dir)
    assert "--no-tcpip-bypass" in off and "--tcpip-bypass" not in off
    # never the host daemon's pins (the default), never a lab's: "_" is in no lab name
    off_pins = Path(after(off, "--bypass-pin-dir"))
    assert off_pins != Path(DEFAULT_BYPASS_PIN_DIR)
    assert lab_name_problem(off_pins.name.removeprefix(labbypass.PREFIX)) is not None
