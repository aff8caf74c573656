"""The built images, run with podman, for the image lane (``make test-images``, tests/images).

The lane builds the images first (``make cni-docker docker-build`` with podman) and names
them in the environment: CNI_IMG, IMG, CONTAINERS_CONF (hack/podman/containers.conf: runc,
no default ulimits). Run directly, ``KUBEDTN_TEST_IMAGES=1 pytest -m images tests/images``
tests the images of the current version (hack/version.sh) if they were built.

``Podman`` runs containers in a network namespace of the test's own (``--network
ns:PATH``), never on the host's network, and removes every container it started (the
fixture's finally). Names start with ``kdtn-img-``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.netns import wait_until

REPO = Path(__file__).resolve().parents[2]
PREFIX = "kdtn-img"


def version() -> str:
    return subprocess.run(
        [str(REPO / "hack" / "version.sh")], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.strip()


def node_image() -> str:
    return os.environ.get("CNI_IMG") or f"kubedtn-node:{version()}"


def controller_image() -> str:
    return os.environ.get("IMG") or f"kubedtn-controller:{version()}"


def unique(prefix: str = PREFIX) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "hack" / "podman" / "containers.conf"))
    return env


@dataclass
class Podman:
    """podman with this project's settings; remembers the containers it started."""

    started: list[str] = field(default_factory=list)

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["podman", *args],
            capture_output=True,
            text=True,
            env=_environment(),
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
            )
        return proc

    def start(self, image: str, *args: str, options: tuple[str, ...] = ()) -> str:
        """A detached container (``podman run -d``); its name."""
        name = unique()
        self.started.append(name)
        self.run("run", "-d", "--name", name, *options, image, *args)
        return name

    def exec(self, name: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.run("exec", name, *argv, check=False, timeout=timeout)

    def inspect(self, name: str) -> dict[str, object]:
        document: list[dict[str, object]] = json.loads(self.run("inspect", name).stdout)
        return document[0]

    def state(self, name: str) -> dict[str, object]:
        state = self.inspect(name)["State"]
        assert isinstance(state, dict)
        return state

    def logs(self, name: str) -> str:
        proc = self.run("logs", name, check=False)
        return (proc.stdout + proc.stderr)[-4000:]

    def built(self, image: str) -> str:
        """``image``, after checking that it was built (make test-images builds it first)."""
        if self.run("image", "exists", image, check=False).returncode != 0:
            raise AssertionError(
                f"image {image} is not built: make test-images builds it (or cni-docker, docker-build)"
            )
        return image

    def cleanup(self) -> None:
        for name in self.started:
            self.run("rm", "--force", "--time", "0", name, check=False)
        left = [n for n in self.started if self.run("container", "exists", n, check=False).returncode == 0]
        self.started.clear()
        if left:
            raise RuntimeError(f"containers left behind: {', '.join(left)}")


@pytest.fixture
def podman() -> Iterator[Podman]:
    tool = Podman()
    try:
        yield tool
    finally:
        tool.cleanup()


@pytest.fixture
def netns() -> Iterator[str]:
    """A network namespace of this test's own, its loopback up: the containers' host network."""
    name = unique()
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=30)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=30)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)
        if os.path.exists(f"/run/netns/{name}"):
            raise RuntimeError(f"network namespace {name} left behind")


@contextlib.contextmanager
def served_in(
    netns: str, argv: list[str], *, log: Path, ready: Callable[[], bool], what: str
) -> Iterator[None]:
    """A server process (``argv``) in ``netns`` until the block ends (SIGTERM, waited for);
    the block starts once ``ready()``, and fails with the log if the process exits first."""
    with log.open("w") as out:
        proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{netns}", *argv], stdout=out, stderr=out)
        try:
            wait_until(lambda: ready() or proc.poll() is not None, timeout_s=30, what=what)
            assert proc.poll() is None, f"{what}: exited {proc.returncode}: {log.read_text()[-2000:]}"
            yield
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
