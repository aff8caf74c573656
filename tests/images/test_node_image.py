"""The node image (``make cni-docker``, CNI_IMG): what it carries works in it.

The version is the tag; `kubedtn certs node` (the init container's command) makes a
certificate with the image's openssl, as root with no capabilities; the portable Python
runs the executable; the daemon starts on the host network of a namespace of the test's,
answers `kubedtn status` inside the container and on its socket outside it, and exits 0 on
SIGTERM as PID 1. (The DaemonSet's whole pod template in this image, on a containerd node
with pods through CRI, is tests/e2e/test_containerd_node.py.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.images import Podman, node_image
from tests.support.netns import wait_until
from tests.unit.manifests.render import one, render_text

pytestmark = [pytest.mark.images, pytest.mark.root]

HOST_IP = "10.251.7.1"
NODE = "kdtn-img-node"
RUNTIME = "/usr/lib/kubedtn/python"


def _openssl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30, check=False)


def test_version_is_the_tag_and_the_daemonset_names_it(podman: Podman) -> None:
    image = podman.built(node_image())
    proc = podman.run("run", "--rm", "--network", "none", image, "version")
    assert proc.stdout.strip() == image.rsplit(":", 1)[1]
    # make cni-deploy renders with the CNI_IMG make cni-docker built.
    objects = list(yaml.safe_load_all(render_text("cni", CNI_IMG=image)))
    pod = one(objects, "DaemonSet", "kubedtn-daemon")["spec"]["template"]["spec"]
    assert {c["image"] for c in [*pod["initContainers"], *pod["containers"]]} == {image}


def test_certs_node_with_no_capabilities(podman: Podman, tmp_path: Path) -> None:
    image = podman.built(node_image())
    podman.run(
        "run",
        "--rm",
        "--network",
        "none",
        "--volume",
        f"{tmp_path}:/v",
        image,
        "certs",
        "ca",
        "--out",
        "/v/ca",
    )
    (tmp_path / "tls").mkdir()
    ca, out = "/etc/kubedtn/ca", "/etc/kubedtn/tls"  # the init container's mounts
    podman.run(
        "run", "--rm", "--network", "none", "--cap-drop=ALL", "--security-opt", "no-new-privileges",
        "--volume", f"{tmp_path / 'ca'}:{ca}:ro", "--volume", f"{tmp_path / 'tls'}:{out}",
        image, "certs", "node", f"--ca={ca}", f"--ip={HOST_IP}", f"--name={NODE}", f"--out={out}",
    )  # fmt: skip
    tls = tmp_path / "tls"
    assert sorted(p.name for p in tls.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    verified = _openssl("verify", "-CAfile", str(tmp_path / "ca" / "ca.crt"), str(tls / "tls.crt"))
    assert verified.returncode == 0, verified.stderr
    san = _openssl("x509", "-in", str(tls / "tls.crt"), "-noout", "-ext", "subjectAltName").stdout
    assert f"IP Address:{HOST_IP}" in san and f"DNS:{NODE}" in san, san


def test_the_portable_python_runs_kubedtn(podman: Podman) -> None:
    image = podman.built(node_image())
    # No PATH, no other Python: the runtime's own loader and libraries, the image's archive.
    proc = podman.run(
        "run", "--rm", "--network", "none", "--entrypoint", f"{RUNTIME}/bin/python3.11",
        image, "-S", "-E", "/usr/local/bin/kubedtn", "version",
    )  # fmt: skip
    assert proc.stdout.strip() == image.rsplit(":", 1)[1]


def test_the_daemon_serves_and_stops_on_sigterm(podman: Podman, netns: str, tmp_path: Path) -> None:
    image = podman.built(node_image())
    subprocess.run(["ip", "-n", netns, "addr", "add", f"{HOST_IP}/32", "dev", "lo"], check=True, timeout=30)
    run, state = tmp_path / "run", tmp_path / "state"
    run.mkdir()
    state.mkdir()
    name = podman.start(
        image, "daemon", f"--host-ip={HOST_IP}", f"--node-name={NODE}", "--http-addr=off",
        options=(
            "--network", f"ns:/run/netns/{netns}", "--cap-drop=ALL", "--cap-add=NET_ADMIN,SYS_ADMIN",
            "--volume", f"{run}:/run/kubedtn", "--volume", f"{state}:/var/lib/kubedtn",
        ),
    )  # fmt: skip
    wait_until(
        lambda: (
            podman.exec(name, "kubedtn", "status", "--quiet").returncode == 0
            or podman.state(name)["Status"] != "running"
        ),
        timeout_s=60,
        what="the daemon's Status in the container",
    )
    assert podman.state(name)["Status"] == "running", podman.logs(name)
    # The socket answers outside the container too, where the plugin on the host dials it.
    status = subprocess.run(
        [sys.executable, "-m", "kubedtn", "status", "--socket", str(run / "daemon.sock")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert (state / "store.db").exists()

    podman.run("stop", "--time", "20", name)
    assert podman.state(name)["ExitCode"] == 0, podman.logs(name)
