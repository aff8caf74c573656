"""A real `kubedtn daemon` process for tests: temp socket/state/store, free ports, always cleaned up.

Usage::

    from tests.support.daemon import running_daemon

    with running_daemon() as d:               # returns once the unix socket answers Status
        store = d.store()                     # the daemon's SQLite store (close it yourself)
        stub = d.local()                      # a Local stub over the unix socket
        stub.SetupPod(pb.SetupPodQuery(...), timeout=30)
        d.kill(signal.SIGKILL); d.start()     # crash and start again on the same paths

or as a pytest fixture: ``from tests.support.daemon import kubedtn_daemon`` in a conftest
(or test module), then a test takes ``kubedtn_daemon: DaemonHandle``.

The process runs ``.venv``'s ``python -m kubedtn daemon`` (the source tree, not the zipapp)
with every path and port given on the command line, so it never touches /run/kubedtn or
/var/lib/kubedtn, and its log goes to ``d.log_path`` (shown when start-up fails).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc
from kubedtn.store import SqliteStore

REPO = Path(__file__).resolve().parents[2]
# A documentation address (TEST-NET-3): on no interface, so VXLAN is off and veth links work.
DEFAULT_HOST_IP = "203.0.113.7"
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


@dataclass
class DaemonHandle:
    """A running daemon and its files (see the module docstring)."""

    root: Path
    host_ip: str
    grpc_port: int
    http_port: int
    extra_args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    # The kubedtn command to run (e.g. ("dist/kubedtn",)); default: the source tree's.
    program: Sequence[str] = ()

    @property
    def socket_path(self) -> Path:
        return self.root / "run" / "daemon.sock"

    @property
    def pidfile(self) -> Path:
        return self.root / "run" / "daemon.pid"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def store_path(self) -> Path:
        return self.state_dir / "store.db"

    @property
    def pod_list_path(self) -> Path:
        return self.state_dir / "topology-pods.json"

    @property
    def log_path(self) -> Path:
        return self.root / "daemon.log"

    @property
    def pid(self) -> int:
        assert self.process is not None, "the daemon is not running"
        return self.process.pid

    @property
    def grpc_target(self) -> str:
        """TCP target of Local + Remote."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def unix_target(self) -> str:
        """Unix-socket target of Local (what the CNI plugin uses)."""
        return f"unix:{self.socket_path}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/metrics"

    def argv(self) -> list[str]:
        return [
            *(self.program or (python(), "-m", "kubedtn")),
            "daemon",
            "--host-ip",
            self.host_ip,
            "--grpc-port",
            str(self.grpc_port),
            "--grpc-bind",
            "127.0.0.1",
            "--http-addr",
            f"127.0.0.1:{self.http_port}",
            "--socket",
            str(self.socket_path),
            "--pidfile",
            str(self.pidfile),
            "--state-dir",
            str(self.state_dir),
            "--store",
            str(self.store_path),
            "--node-name",
            "test-node",
            "--log-file",
            str(self.log_path),
            *self.extra_args,
        ]

    def log(self) -> str:
        try:
            return self.log_path.read_text()
        except FileNotFoundError:
            return "(no log)"

    def start(self, *, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start the process and wait until Status answers on the unix socket."""
        env = {**os.environ, **self.env}
        # The flags say where everything is; the bypass is off unless a test asks for it
        # (an inherited TCPIP_BYPASS=1 would attach to the host's cgroup v2 root).
        for name in ("KUBEDTN_STORE", "TCPIP_BYPASS", "KUBEDTN_BYPASS_CGROUP", "KUBEDTN_BYPASS_PIN_DIR"):
            if name not in self.env:
                env.pop(name, None)
        # stderr to a file, not a pipe: nobody drains a pipe, and a full one would block the daemon.
        with open(self.root / "stderr.log", "ab") as stderr:
            self.process = subprocess.Popen(
                self.argv(), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
            )
        deadline = time.monotonic() + timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                err = (self.root / "stderr.log").read_text(errors="replace")
                raise RuntimeError(f"kubedtn daemon exited with {code} during start:\n{err}\n{self.log()}")
            if self.socket_path.exists() and self._answers():
                return
            if time.monotonic() > deadline:
                self.kill(signal.SIGKILL)
                raise RuntimeError(f"kubedtn daemon did not answer within {timeout_s}s:\n{self.log()}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with grpc.insecure_channel(self.unix_target) as channel:
                pb_grpc.LocalStub(channel).Status(pb.StatusQuery(), timeout=2)
            return True
        except grpc.RpcError:
            return False

    def kill(self, sig: int = signal.SIGTERM, *, timeout_s: float = 30.0) -> int:
        """Send sig and wait for the process; returns its exit code (None when not running: 0)."""
        proc, self.process = self.process, None
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            code = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait(timeout=timeout_s)
        return code

    def store(self) -> SqliteStore:
        return SqliteStore(self.store_path)

    @contextlib.contextmanager
    def channel(self, *, tcp: bool = False) -> Iterator[grpc.Channel]:
        with grpc.insecure_channel(self.grpc_target if tcp else self.unix_target) as chan:
            yield chan

    def local(self, channel: grpc.Channel | None = None) -> pb_grpc.LocalStub:
        """A Local stub; without a channel, one over the unix socket kept until cleanup."""
        if channel is None:
            channel = grpc.insecure_channel(self.unix_target)
            self._channels.append(channel)
        return pb_grpc.LocalStub(channel)

    def remote(self, credentials: grpc.ChannelCredentials | None = None) -> pb_grpc.RemoteStub:
        """A Remote stub over TCP; with ``credentials``, mutual TLS (tests.support.pki)."""
        channel = (
            grpc.insecure_channel(self.grpc_target)
            if credentials is None
            else grpc.secure_channel(self.grpc_target, credentials)
        )
        self._channels.append(channel)
        return pb_grpc.RemoteStub(channel)

    def close_channels(self) -> None:
        for channel in self._channels:
            channel.close()
        self._channels.clear()

    def __post_init__(self) -> None:
        self._channels: list[grpc.Channel] = []


@contextlib.contextmanager
def running_daemon(
    *,
    host_ip: str = DEFAULT_HOST_IP,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    start: bool = True,
    program: Sequence[str] = (),
) -> Iterator[DaemonHandle]:
    """A started daemon (``start=False``: only the handle; call ``start()``); always stopped and
    its files removed afterwards. ``program``: the kubedtn command (default ``python -m kubedtn``
    of this tree; ``(str(zipapp.executable()),)`` runs the built executable)."""
    root = Path(tempfile.mkdtemp(prefix="kdtn-d-"))  # short: unix socket paths max 107 bytes
    handle = DaemonHandle(
        root=root,
        host_ip=host_ip,
        grpc_port=free_port(),
        http_port=free_port(),
        extra_args=tuple(extra_args),
        env=dict(env or {}),
        program=tuple(program),
    )
    try:
        if start:
            handle.start()
        yield handle
    finally:
        handle.close_channels()
        handle.kill(signal.SIGTERM)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def kubedtn_daemon() -> Iterator[DaemonHandle]:
    """A started daemon for one test (see ``running_daemon``)."""
    with running_daemon() as handle:
        yield handle
