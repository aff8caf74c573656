"""hack/distribute-image.sh puts an image into a node's containerd, under the name kubelet asks for.

The "node" is Debian's containerd started for the test (its own root, state and socket in
a temporary directory, in a network namespace of the test's; no CRI plugin), reached
through NODE_EXEC (a command that runs the rest of its arguments here instead of over
ssh) and CTR (ctr on that socket). The imported image then runs under containerd.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.images import REPO, Podman, node_image, served_in, unique

pytestmark = [pytest.mark.images, pytest.mark.root]

NODE_EXEC = '#!/bin/sh\n# $1 is the node\'s name; run the command here.\nshift\nexec "$@"\n'


@pytest.fixture
def containerd(netns: str, tmp_path: Path) -> Iterator[Path]:
    """A containerd of the test's; its socket."""
    root = tmp_path / "containerd"
    root.mkdir()
    socket = root / "containerd.sock"
    config = root / "config.toml"
    config.write_text(
        "version = 2\n"
        f'root = "{root}/root"\nstate = "{root}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{socket}"\n[ttrpc]\n  address = "{socket}.ttrpc"\n'
    )
    try:
        argv = ["containerd", "--config", str(config)]
        with served_in(netns, argv, log=root / "log", ready=socket.exists, what="containerd"):
            yield socket
    finally:
        with open("/proc/self/mounts") as f:
            left = [line.split()[1] for line in f if str(root) in line.split()[1]]
        for mount in reversed(left):
            subprocess.run(["umount", mount], check=False, timeout=30)
        assert not left, f"containerd left mounts behind: {left}"


def test_the_image_runs_under_containerd_by_its_manifest_name(
    podman: Podman, containerd: Path, tmp_path: Path
) -> None:
    image = podman.built(node_image())
    node_exec = tmp_path / "node-exec"
    node_exec.write_text(NODE_EXEC)
    node_exec.chmod(0o755)
    ctr = ["ctr", "--address", str(containerd), "-n", "k8s.io"]
    env = {
        **os.environ,
        "CONTAINER_TOOL": "podman",
        "NODE_EXEC": str(node_exec),
        "CTR": f"ctr --address {containerd}",
        "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(REPO / "hack/podman/containers.conf")),
    }
    proc = subprocess.run(
        [str(REPO / "hack/distribute-image.sh"), image, "node-a"],
        capture_output=True, text=True, env=env, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr

    # kubelet resolves the manifests' `kubedtn-node:TAG` as Docker does.
    wanted = f"docker.io/library/{image}"
    listed = subprocess.run(
        [*ctr, "images", "ls", "-q"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert wanted in listed, listed
    container = unique()
    run = subprocess.run(
        [*ctr, "run", "--rm", wanted, container, "kubedtn", "version"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip() == image.rsplit(":", 1)[1], run
