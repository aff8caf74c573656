"""The controller image (``make docker-build``, IMG) runs as the Deployment runs it.

The Deployment's container (command, args, env, the pod's and the container's
securityContext), read from the rendered manifests, runs under podman in a network
namespace of the test's, against the API server double served there: as uid 65532, with
no capabilities, on a read-only root with only the /tmp emptyDir writable, it becomes ready
(/readyz), unpacks nothing at start and exits 0 on SIGTERM.
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.images import Podman, controller_image
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD
from tests.support.netmeter import in_netns
from tests.support.netns import wait_until
from tests.support.podtemplate import FieldValues, container_env, expand
from tests.unit.manifests.render import one, render_text

pytestmark = [pytest.mark.images, pytest.mark.root]

POD = FieldValues(
    node_name="kdtn-img-node",
    host_ip="10.251.7.1",
    pod_name="kdtn-img-controller-0",
    pod_namespace="kubedtn-system",
)


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


def _deployment(image: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Deployment's pod spec and its one container, rendered with IMG=image."""
    objects = list(yaml.safe_load_all(render_text("controller", IMG=image)))
    pod: dict[str, Any] = one(objects, "Deployment", "kubedtn-controller")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def _security_options(pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    """podman's spelling of the pod's and the container's securityContext (each field the
    Deployment sets; a field this does not know fails the test)."""
    pod_security, security = pod["securityContext"], container["securityContext"]
    known_pod = {"runAsNonRoot", "runAsUser", "runAsGroup", "seccompProfile"}
    known = {"allowPrivilegeEscalation", "readOnlyRootFilesystem", "capabilities"}
    assert set(pod_security) <= known_pod and set(security) <= known, (pod_security, security)
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}  # podman's default profile
    options = ["--user", f"{pod_security['runAsUser']}:{pod_security['runAsGroup']}"]
    options += [f"--cap-drop={c}" for c in security["capabilities"].get("drop", [])]
    options += [f"--cap-add={c}" for c in security["capabilities"].get("add", [])]
    if security["allowPrivilegeEscalation"] is False:
        options += ["--security-opt", "no-new-privileges"]
    if security["readOnlyRootFilesystem"]:
        # Kubernetes makes only the volumes writable; podman would add tmpfs mounts of its own.
        options += ["--read-only", "--read-only-tmpfs=false"]
    return options


def test_version_is_the_tag_and_the_user_is_not_root(podman: Podman) -> None:
    image = podman.built(controller_image())
    proc = podman.run("run", "--rm", "--network", "none", image, "version")
    assert proc.stdout.strip() == image.rsplit(":", 1)[1]
    # Without a runAsUser (a cluster whose policy sets none) it is not root either.
    user = podman.run("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
    assert user == "65532:65532"
    proc = podman.run("run", "--rm", "--network", "none", "--entrypoint", "id", image, "-u")
    assert proc.stdout.strip() == "65532"


def test_the_deployment_runs_it_non_root_read_only_and_ready(
    podman: Podman, netns: str, kubeapi: KubeApiServer, tmp_path: Path
) -> None:
    image = podman.built(controller_image())
    pod, container = _deployment(image)
    assert container["image"] == image, "the manifests name the image make docker-build builds"

    kubeapi.register_crd(TOPOLOGY_CRD)
    with in_netns(netns):
        url = kubeapi.listen_also("127.0.0.1")
    kubeconfig = kubeapi.write_kubeconfig(tmp_path / "kubeconfig", url=url)
    kubeconfig.chmod(0o644)  # read by uid 65532
    scratch = tmp_path / "tmp"  # the emptyDir at /tmp
    scratch.mkdir()
    scratch.chmod(0o1777)
    ((mount,),) = [container["volumeMounts"]]
    assert mount == {"name": "tmp", "mountPath": "/tmp"}, "the test mounts the Deployment's one volume"

    # Out of a pod, its API server is the kubeconfig's (in one, the service account's).
    env = container_env(container, POD, {"KUBECONFIG": "/kube/config"})
    options = ["--network", f"ns:/run/netns/{netns}", *_security_options(pod, container)]
    options += ["--volume", f"{kubeconfig}:/kube/config:ro", "--volume", f"{scratch}:/tmp"]
    options += ["--entrypoint", json.dumps(container["command"])]
    options += [f"--env={k}={v}" for k, v in env.items()]
    name = podman.start(image, *(expand(a, env) for a in container["args"]), options=tuple(options))
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
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f)
    assert status["Uid"].split() == ["65532"] * 4 and status["Gid"].split() == ["65532"] * 4
    assert int(status["CapEff"], 16) == 0

    # Root in the container needs no capability to write a root-owned directory: only a
    # read-only root refuses it.
    write = podman.run("exec", "--user", "0", name, "sh", "-c", "echo > /usr/local/bin/kdtn-img", check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write

    podman.run("stop", "--time", "20", name)
    assert podman.state(name)["ExitCode"] == 0, podman.logs(name)
    # It ran the copy unpacked in the image: nothing unpacked under XDG_CACHE_HOME (/tmp/cache).
    assert not (scratch / "cache").exists(), list(scratch.iterdir())
