"""The lab's daemon process: is it running, start it detached, stop it.

Each lab runs its own ``kubedtn daemon`` (socket, pidfile, state and store under the
lab's directories, see ``kubedtn.lab.names``), so labs side by side never share a
daemon or stop one another's. The daemon is started in a new session with its output
going to ``daemon.log``; it outlives the ``lab up`` that started it, and ``lab down``
stops it (SIGTERM, SIGKILL after a grace period).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, Protocol

from kubedtn.daemon.config import TlsFiles
from kubedtn.daemon.logs import LOG_FILE_MODE
from kubedtn.errors import KubedtnError, TemporaryError
from kubedtn.lab import selfexec
from kubedtn.lab.state import BypassRecord

START_TIMEOUT_S: Final = 30.0
# The pin directory a lab daemon without the bypass is given: never one that exists, so the
# daemon has no earlier bypass to remove (the default would be the host daemon's).
NO_BYPASS_PIN_DIR: Final = Path("/sys/fs/bpf/kubedtn-lab-_off")  # ("_" is in no lab name)
STOP_TIMEOUT_S: Final = 10.0


class DaemonStartError(KubedtnError):
    """The lab's daemon did not come up; the message carries the end of its log."""


class DaemonFiles(Protocol):
    """Where one daemon keeps its socket, pidfile, state and log (the lab's, or a node's)."""

    @property
    def socket(self) -> Path: ...
    @property
    def pidfile(self) -> Path: ...
    @property
    def daemon_state_dir(self) -> Path: ...
    @property
    def daemon_log(self) -> Path: ...


def daemon_argv(
    paths: DaemonFiles,
    *,
    host_ip: str,
    store: str,
    command: Sequence[str] | None = None,
    node: tuple[str, str] | None = None,
    tls: TlsFiles | None = None,
    bypass: BypassRecord | None = None,
) -> list[str]:
    """The command line of a lab daemon: gRPC on a free loopback port, no metrics (lab daemons run
    side by side; the lab talks to its daemon over the unix socket).

    ``node`` (name, namespace): the daemon of a simulated node runs inside the node's namespace
    and serves gRPC on the default port there (namespaces keep the nodes' ports apart), so
    the peer daemons reach it at its HOST_IP as on a cluster; ``tls``: its node certificate,
    so that they call one another with mutual TLS; ``bypass``: the lab's TCP/IP bypass, whose
    pins the daemon reuses (without it the daemon runs without: it never touches the bypass
    of the host's own daemon in /sys/fs/bpf/kubedtn)."""
    grpc = ["--grpc-port", "0", "--grpc-bind", "127.0.0.1"]
    if node is not None:
        grpc = ["--netns", node[1], "--node-name", node[0]]
    return [
        *(command or selfexec.command()),
        "daemon",
        "--socket",
        str(paths.socket),
        "--pidfile",
        str(paths.pidfile),
        "--state-dir",
        str(paths.daemon_state_dir),
        "--store",
        store,
        "--host-ip",
        host_ip,
        *grpc,
        *(
            ()
            if tls is None
            else ("--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--tls-ca", str(tls.ca))
        ),
        *(
            ("--no-tcpip-bypass", "--bypass-pin-dir", str(NO_BYPASS_PIN_DIR))
            if bypass is None
            else ("--tcpip-bypass", "--bypass-cgroup", bypass.cgroup, "--bypass-pin-dir", bypass.pin_dir)
        ),
        "--http-addr",
        "off",
        "--log-file",
        str(paths.daemon_log),
    ]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child, not reaped yet) is not running.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def running_pid(paths: DaemonFiles) -> int | None:
    """The pid in the lab daemon's pidfile when that process is alive."""
    try:
        pid = int(paths.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if process_alive(pid) else None


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty log)"


def spawn(argv: Sequence[str], *, log_file: Path) -> subprocess.Popen[bytes]:
    """Starts the daemon detached (own session, output to log_file); does not wait."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only, as the daemon's own log files (kubedtn.daemon.logs): it names pods and paths.
    fd = os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE)
    os.fchmod(fd, LOG_FILE_MODE)
    with open(fd, "ab") as log, open(os.devnull, "rb") as null:
        return subprocess.Popen(
            list(argv), stdin=null, stdout=log, stderr=log, start_new_session=True, close_fds=True
        )


def wait_started(
    proc: subprocess.Popen[bytes],
    *,
    ready: Callable[[], bool],
    log_file: Path,
    timeout_s: float = START_TIMEOUT_S,
) -> int:
    """Waits until a spawned daemon is ``ready()``; its pid. DaemonStartError (with the end of
    its log) when it exits or is not ready in time; in the latter case it is stopped again."""
    deadline = time.monotonic() + timeout_s
    while True:
        code = proc.poll()
        if code is not None:
            raise DaemonStartError(
                f"the lab's daemon exited with {code} while starting ({_command_line(proc)}); "
                f"the end of {log_file}:\n{log_tail(log_file)}"
            )
        with contextlib.suppress(TemporaryError):
            if ready():
                return proc.pid
        if time.monotonic() > deadline:
            stop(proc.pid)
            raise DaemonStartError(
                f"the lab's daemon did not answer within {timeout_s:.0f} s; "
                f"the end of {log_file}:\n{log_tail(log_file)}"
            )
        time.sleep(0.05)


def _command_line(proc: subprocess.Popen[bytes]) -> str:
    args = proc.args
    return " ".join(str(a) for a in args) if isinstance(args, list | tuple) else str(args)


def start(
    argv: Sequence[str],
    *,
    log_file: Path,
    ready: Callable[[], bool],
    timeout_s: float = START_TIMEOUT_S,
) -> int:
    """Starts the daemon detached and waits until ``ready()``; its pid (see wait_started)."""
    return wait_started(spawn(argv, log_file=log_file), ready=ready, log_file=log_file, timeout_s=timeout_s)


def wait_ready(
    pid: int, *, ready: Callable[[], bool], log_file: Path, timeout_s: float = START_TIMEOUT_S
) -> None:
    """Waits until a running daemon answers; DaemonStartError if it dies or stays silent."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(TemporaryError):
            if ready():
                return
        if not process_alive(pid):
            raise DaemonStartError(
                f"the lab's daemon (pid {pid}) exited; the end of {log_file}:\n{log_tail(log_file)}"
            )
        if time.monotonic() > deadline:
            raise DaemonStartError(
                f"the lab's daemon (pid {pid}) runs but does not answer on its socket after "
                f"{timeout_s:.0f} s; the end of {log_file}:\n{log_tail(log_file)}"
            )
        time.sleep(0.05)


def stop(pid: int, *, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM, then SIGKILL after timeout_s; True when the process was running."""
    if not process_alive(pid):
        _reap(pid)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while process_alive(pid) and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.05)
    if process_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while process_alive(pid):
            _reap(pid)
            time.sleep(0.02)
    _reap(pid)
    return True


def _reap(pid: int) -> None:
    """Collects the exit status when the daemon is our child (started by this process)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
