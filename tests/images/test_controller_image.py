"""The controller image (``make docker-build``, IMG) runs as the Deployment runs it.

The Deployment's container (command, args, env, volumes, securityContext), read from the
rendered manifests, runs under podman in a network namespace of the test's, against the
API server double served in that namespace: as uid 65532, on a read-only root, with no
capabilities, it becomes ready (/readyz) and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import http.client
import os
from pathlib import Path

import pytest
import yaml

from tests.support.images import Podman, args_of, container_env, controller_image, run_options
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD
from tests.support.netmeter import in_netns
from tests.support.netns import wait_until
from tests.unit.manifests.render import one, render_text

pytestmark = [pytest.mark.images, pytest.mark.root]


def _get(netns: str, port: int, path: str) -> int:
    """The status of GET http://127.0.0.1:PORT/PATH inside the namespace; 0 when refused."""
    with in_netns(netns):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request("GET", path)
            return conn.getresponse().status
        except OSError:
            return 0
        finally:
            conn.close()


def _deployment_container(image: str) -> tuple[dict[str, object], dict[str, object]]:
    objects = list(yaml.safe_load_all(render_text("controller", IMG=image)))
    deployment = one(objects, "Deployment", "kubedtn-controller")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def test_version_is_the_tag_and_the_user_is_not_root(podman: Podman) -> None:
    image = podman.built(controller_image())
    proc = podman.run("run", "--rm", "--network", "none", image, "version")
    assert proc.stdout.strip() == image.rsplit(":", 1)[1]
    # Without a runAsUser (a cluster whose policy does not set one) it is not root either.
    user = podman.run("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    assert user == "65532:65532"
    proc = podman.run("run", "--rm", "--network", "none", "--entrypoint", "id", image, "-u")
    assert proc.stdout.strip() == "65532"


def test_the_deployment_runs_it_non_root_read_only_and_ready(
    podman: Podman, netns: str, kubeapi: KubeApiServer, tmp_path: Path
) -> None:
    image = podman.built(controller_image())
    pod, container = _deployment_container(image)
    assert container["image"] == image, "the manifests name the image make docker-build builds"

    kubeapi.register_crd(TOPOLOGY_CRD)
    with in_netns(netns):
        url = kubeapi.listen_also("127.0.0.1")
    kubeconfig = kubeapi.write_kubeconfig(tmp_path / "kubeconfig", url=url)
    kubeconfig.chmod(0o644)  # read by uid 65532
    scratch = tmp_path / "tmp"  # the Deployment's emptyDir /tmp
    scratch.mkdir(mode=0o1777)
    scratch.chmod(0o1777)

    env = {**container_env(container, {"metadata.name": "kdtn-img-controller-0"}), "KUBECONFIG": "/kube/config"}
    security = pod["securityContext"]
    options = [
        "--network",
        f"ns:/run/netns/{netns}",
        "--user",
        f"{security['runAsUser']}:{security['runAsGroup']}",
        "--volume",
        f"{kubeconfig}:/kube/config:ro",
        *run_options(container, env=env, volumes={"tmp": scratch}),
    ]
    name = podman.start(image, *args_of(container, env), options=tuple(options))
    health = next(p["containerPort"] for p in container["ports"] if p["name"] == "health")

    wait_until(
        lambda: _get(netns, health, "/readyz") == 200 or podman.state(name)["Status"] != "running",
        timeout_s=60,
        what="the controller's /readyz",
    )
    assert podman.state(name)["Status"] == "running", podman.logs(name)
    assert _get(netns, health, "/healthz") == 200

    pid = int(str(podman.state(name)["Pid"]))
    with open(f"/proc/{pid}/status") as f:
        ids = {line.split(":")[0]: line.split()[1:] for line in f if line.startswith(("Uid:", "Gid:"))}
    assert ids == {"Uid": ["65532"] * 4, "Gid": ["65532"] * 4}
    with open(f"/proc/{pid}/status") as f:
        (effective,) = [line.split()[1] for line in f if line.startswith("CapEff:")]
    assert int(effective, 16) == 0

    # Root in the container, no capabilities needed to write a root-owned directory: only a
    # read-only root refuses it.
    write = podman.run("exec", "--user", "0", name, "sh", "-c", "echo > /usr/local/bin/kdtn-img", check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write

    podman.run("stop", "--time", "20", name)
    assert podman.state(name)["ExitCode"] == 0, podman.logs(name)
    # It ran the copy unpacked in the image: nothing unpacked under XDG_CACHE_HOME (/tmp/cache).
    assert not (scratch / "cache").exists(), os.listdir(scratch)
