"""The node image (``make cni-docker``, CNI_IMG) runs as the DaemonSet runs it.

The DaemonSet's init container and daemon (command, args, env, volumeMounts,
securityContext, readiness probe), read from the rendered manifests, run under podman on
the host network of a namespace of the test's, every hostPath a directory of the test's,
against the API server double served in that namespace. The init container makes the
node's certificate (openssl in the image); the daemon installs the CNI plugin and the
portable Python beside it, serves, answers its readiness probe inside the container and
`kubedtn status` on the socket outside it (where the plugin on the host dials), and stops
cleanly on SIGTERM. (containerd running the same pod template, with pods through CRI, is
tests/integration's cri lane.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.images import Podman, args_of, container_env, node_image, run_options
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD
from tests.support.netmeter import in_netns
from tests.support.netns import wait_until
from tests.unit.manifests.render import one, render_text

pytestmark = [pytest.mark.images, pytest.mark.root]

HOST_IP = "10.251.7.1"
NODE = "kdtn-img-node"
PRIMARY = {
    "cniVersion": "1.0.0",
    "name": "kdtn-img-primary",
    "plugins": [{"type": "bridge", "bridge": "kdtnimg0", "ipam": {"type": "host-local", "subnet": "10.252.0.0/24"}}],
}


def _pod(image: str) -> dict[str, Any]:
    objects = list(yaml.safe_load_all(render_text("cni", CNI_IMG=image)))
    pod: dict[str, Any] = one(objects, "DaemonSet", "kubedtn-daemon")["spec"]["template"]["spec"]
    return pod


def _sha256_in(podman: Podman, image: str, path: str) -> str:
    proc = podman.run("run", "--rm", "--network", "none", "--entrypoint", "sha256sum", image, path)
    return proc.stdout.split()[0]


def test_version_is_the_tag_and_openssl_is_there(podman: Podman) -> None:
    image = podman.built(node_image())
    proc = podman.run("run", "--rm", "--network", "none", image, "version")
    assert proc.stdout.strip() == image.rsplit(":", 1)[1]
    proc = podman.run("run", "--rm", "--network", "none", "--entrypoint", "openssl", image, "version")
    assert proc.stdout.startswith("OpenSSL 3.")


def test_the_daemonset_runs_it(podman: Podman, netns: str, kubeapi: KubeApiServer, tmp_path: Path) -> None:
    image = podman.built(node_image())
    pod = _pod(image)
    (init,) = pod["initContainers"]
    (daemon,) = pod["containers"]
    assert init["image"] == daemon["image"] == image, "the manifests name the image make cni-docker builds"
    subprocess.run(["ip", "-n", netns, "addr", "add", f"{HOST_IP}/32", "dev", "lo"], check=True)

    kubeapi.register_crd(TOPOLOGY_CRD)
    with in_netns(netns):
        url = kubeapi.listen_also(HOST_IP)
    kubeconfig = kubeapi.write_kubeconfig(tmp_path / "kubeconfig", url=url)

    # Every volume a directory of the test's: hostPaths, the CA Secret, the emptyDirs.
    volumes = {v["name"]: tmp_path / "volumes" / v["name"] for v in pod["volumes"]}
    for directory in volumes.values():
        directory.mkdir(parents=True)
    (volumes["cni-conf"] / "10-primary.conflist").write_text(json.dumps(PRIMARY))
    ca = volumes["ca"]
    ca.rmdir()  # `kubedtn certs ca` refuses to replace a CA; it makes the directory
    podman.run("run", "--rm", "--network", "none", "--volume", f"{tmp_path / 'volumes'}:/v", image, "certs", "ca", "--out", "/v/ca")

    fields = {"status.hostIP": HOST_IP, "spec.nodeName": NODE}
    network = ("--network", f"ns:/run/netns/{netns}")

    # The init container: the node's certificate, made with the image's openssl.
    env = container_env(init, fields)
    podman.run("run", "--rm", *network, *run_options(init, env=env, volumes=volumes), image, *args_of(init, env))
    tls = volumes["tls"]
    assert sorted(p.name for p in tls.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca / "ca.crt"), str(tls / "tls.crt")], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stderr
    san = subprocess.run(
        ["openssl", "x509", "-in", str(tls / "tls.crt"), "-noout", "-ext", "subjectAltName"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"IP Address:{HOST_IP}" in san and f"DNS:{NODE}" in san, san

    # The daemon, with the pod's host PID namespace; out of a pod, its API is the kubeconfig's.
    env = {**container_env(daemon, fields), "KUBECONFIG": "/kube/config"}
    options = [*network, "--pid", "host", "--volume", f"{kubeconfig}:/kube/config:ro"]
    options += run_options(daemon, env=env, volumes=volumes)
    name = podman.start(image, *args_of(daemon, env), options=tuple(options))

    probe = daemon["readinessProbe"]["exec"]["command"]
    wait_until(
        lambda: podman.exec(name, *probe).returncode == 0 or podman.state(name)["Status"] != "running",
        timeout_s=90,
        what="the daemon's readiness probe",
    )
    assert podman.state(name)["Status"] == "running", podman.logs(name)

    # The socket in the hostPath answers outside the container too, as the host's plugin dials it.
    socket = volumes["run"] / "daemon.sock"
    status = subprocess.run(
        [sys.executable, "-m", "kubedtn", "status", "--socket", str(socket)], capture_output=True, text=True
    )
    assert status.returncode == 0, status.stderr

    # --install-cni: the zipapp of the image beside its launcher, the conflist chained after
    # the primary network, the portable Python copied into the state directory.
    bin_dir = volumes["cni-bin"]
    assert {"kubedtn", "kubedtn.pyz"} <= {p.name for p in bin_dir.iterdir()}
    archive = subprocess.run(["sha256sum", str(bin_dir / "kubedtn.pyz")], capture_output=True, text=True, check=True)
    assert archive.stdout.split()[0] == _sha256_in(podman, image, "/usr/local/bin/kubedtn")
    conflist = json.loads((volumes["cni-conf"] / "00-kubedtn.conflist").read_text())
    assert [p["type"] for p in conflist["plugins"]] == ["bridge", "kubedtn"]
    runtimes = list((volumes["state"] / "python").glob("*/runtime.json"))
    assert len(runtimes) == 1, list((volumes["state"]).rglob("*"))[:20]

    podman.run("stop", "--time", "20", name)
    assert podman.state(name)["ExitCode"] == 0, podman.logs(name)
