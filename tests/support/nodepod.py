"""The kubedtn DaemonSet's pod on a containerd node, run by podman as the node's kubelet would.

``DaemonPod`` renders the cni kustomization with the node image (``hack/render-manifests.sh``,
as ``make manifests`` does), reads the DaemonSet's pod template from it
(``tests.support.podtemplate``), and runs it on a ``ContainerdNode``: its hostPath volumes are
the node's host paths, the Secret ``kubedtn-ca`` a directory holding a CA made with
``kubedtn certs ca``, the service account's files point in-cluster clients at the API double,
which serves https on 127.0.0.1 of the node's network namespace. ``start`` runs the init
containers, then the daemon detached, and waits until the template's readiness probe
passes; ``kill`` ends the daemon's container as a crash or an eviction would; ``stop``
removes it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from kubedtn.daemon import certs
from tests.support.containerd import ContainerdNode, remove_sandboxes
from tests.support.kubeapi import KubeApiServer
from tests.support.nodecni import in_netns
from tests.support.podtemplate import (
    ContainerRun,
    FieldValues,
    containers,
    podman_run,
    read_daemonset,
    volume_sources,
)

REPO: Final = Path(__file__).resolve().parents[2]
DAEMONSET: Final = "kubedtn-daemon"
NAMESPACE: Final = "kubedtn"
CA_SECRET: Final = "kubedtn-ca"
READY_DEADLINE_S: Final = 180.0  # the first start unpacks the archive and installs the plugin


def render_cni_manifests(image: str, kubectl: str) -> str:
    """The cni kustomization rendered with CNI_IMG=image (what ``make manifests`` writes to
    dist/manifests/cni.yaml)."""
    proc = subprocess.run(
        [str(REPO / "hack/render-manifests.sh"), str(REPO / "manifests/cni"), kubectl],
        env={**os.environ, "CNI_IMG": image, "IMG": "unused"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"render-manifests.sh manifests/cni failed: {proc.stderr}")
    return proc.stdout


def _run(
    argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)


@dataclass
class DaemonPod:
    node: ContainerdNode
    api: KubeApiServer
    manifests: str  # the rendered cni kustomization
    kubedtn: str  # an executable for `kubedtn certs ca` (the CA the Secret would hold)
    root: Path = field(init=False)
    api_port: int = 0
    runs: list[ContainerRun] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # container names, for cleanup

    def __post_init__(self) -> None:
        self.root = self.node.root / "pod"

    @property
    def podman(self) -> list[str]:
        return ["podman"]

    @property
    def podman_env(self) -> dict[str, str]:
        # The project's podman settings for these machines (runc, no ulimits) unless the
        # caller (the image lane) names its own.
        return {"CONTAINERS_CONF": str(REPO / "hack/podman/containers.conf"), **os.environ}

    def container_name(self, run: ContainerRun) -> str:
        return f"{self.node.name}-{run.name}"

    @property
    def daemon(self) -> ContainerRun:
        return next(r for r in self.runs if not r.init)

    def prepare(self) -> None:
        """Secret, service account, API endpoint, volumes: everything the template refers to."""
        self.root.mkdir(parents=True)
        secret_dir = self.root / "secrets" / CA_SECRET
        secret_dir.parent.mkdir(parents=True)
        made = _run([self.kubedtn, "certs", "ca", "--out", str(secret_dir)])
        assert made.returncode == 0, made.stderr
        # The API's serving certificate, for 127.0.0.1 of the node (where in-cluster clients dial).
        api_ca = self.root / "api-ca"
        certs.make_ca(api_ca, name="kubedtn-test-apiserver-ca")
        serving = certs.make_node_cert(api_ca, ip="127.0.0.1", name="kubernetes", out=self.root / "api-tls")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(serving.cert, serving.key)
        url = in_netns(self.node.netns, lambda: self.api.listen_also("127.0.0.1", tls=tls))
        self.api_port = int(url.rsplit(":", 1)[1])
        sa = self.root / "serviceaccount"
        sa.mkdir()
        (sa / "token").write_text(secrets.token_hex(16))
        (sa / "ca.crt").write_bytes((api_ca / "ca.crt").read_bytes())
        (sa / "namespace").write_text(NAMESPACE)
        template = read_daemonset(self.manifests, DAEMONSET)["spec"]["template"]
        empty = self.root / "emptydir"

        def empty_dir(name: str) -> Path:
            (empty / name).mkdir(parents=True, exist_ok=True)
            return empty / name

        volumes = volume_sources(
            template["spec"],
            host_path=self.node.host_path,
            secret=lambda name: self.root / "secrets" / name,
            empty_dir=empty_dir,
        )
        for path in volumes.values():
            path.mkdir(parents=True, exist_ok=True)
        self.runs = containers(
            template,
            fields=FieldValues(
                node_name=self.node.name,
                host_ip=self.node.ip,
                pod_name=f"{DAEMONSET}-x",
                pod_namespace=NAMESPACE,
            ),
            volumes=volumes,
            service_account=sa,
            api_host="127.0.0.1",
            api_port=self.api_port,
        )

    def start(self) -> None:
        """The pod's containers in order: each init container to success, then the daemon
        detached, until its readiness probe passes."""
        for run in self.runs:
            name = self.container_name(run)
            self.started.append(name)
            argv = podman_run(run, name=name, node_netns=f"/run/netns/{self.node.netns}", podman=self.podman)
            proc = _run(argv, env=self.podman_env, timeout=300)
            if proc.returncode != 0:
                raise AssertionError(
                    f"container {run.name} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
                )
        self.wait_ready()

    def wait_ready(self) -> None:
        name = self.container_name(self.daemon)
        end = time.monotonic() + READY_DEADLINE_S
        while True:
            if not self.running():
                raise AssertionError(f"the daemon's container {name} exited:\n{self.logs()}")
            probe = _run([*self.podman, "exec", name, *self.daemon.readiness], env=self.podman_env)
            if probe.returncode == 0:
                return
            if time.monotonic() > end:
                raise AssertionError(
                    f"{name} not ready after {READY_DEADLINE_S:.0f}s: {probe.stderr}\n{self.logs()}"
                )
            time.sleep(0.2)

    def running(self) -> bool:
        name = self.container_name(self.daemon)
        state = _run([*self.podman, "inspect", "--format", "{{.State.Running}}", name], env=self.podman_env)
        return state.stdout.strip() == "true"

    def logs(self) -> str:
        name = self.container_name(self.daemon)
        out = _run([*self.podman, "logs", "--tail", "60", name], env=self.podman_env)
        return out.stdout + out.stderr

    def kill(self) -> None:
        """The daemon's container ended as a crash does (SIGKILL), and removed."""
        name = self.container_name(self.daemon)
        _run([*self.podman, "kill", "--signal", "KILL", name], env=self.podman_env)
        _run([*self.podman, "rm", "--force", name], env=self.podman_env)

    def stop(self) -> None:
        for name in reversed(self.started):
            _run([*self.podman, "rm", "--force", "--time", "5", name], env=self.podman_env)
        self.started.clear()


@contextlib.contextmanager
def daemon_pod(
    node: ContainerdNode, api: KubeApiServer, *, manifests: str, kubedtn: str
) -> Iterator[DaemonPod]:
    """The DaemonSet's pod of the rendered ``manifests`` running on ``node`` (see the module
    docstring), removed afterwards."""
    pod = DaemonPod(node, api, manifests, kubedtn)
    try:
        pod.prepare()
        pod.start()
        yield pod
    finally:
        # The pods go first, while the daemon still answers their DELs.
        with contextlib.suppress(Exception):
            remove_sandboxes(node)
        pod.stop()
