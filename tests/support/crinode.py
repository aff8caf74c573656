"""One Kubernetes node with a real runtime, for tests and benchmarks: the API double, a
containerd node (``tests.support.containerd``) and the kubedtn DaemonSet's pod on it
(``tests.support.nodepod``), run in the node image.

``cri_node`` yields a ``CriNode``: ``apply`` writes Topologies to the double, ``run_pod`` starts
a pod through CRI RunPodSandbox as kubelet does, ``remove_pod`` is kubelet's StopPodSandbox
then RemovePodSandbox, and the helpers read a pod's namespace from the test's side.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tests.support.containerd import ContainerdNode, containerd_node
from tests.support.cri.client import CriClient, Sandbox
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import TOPOLOGY_CRD
from tests.support.kubeapi.routes import Target
from tests.support.netns import wait_until
from tests.support.nodecni import in_netns
from tests.support.nodepod import DAEMONSET, REPO, DaemonPod, daemon_pod, render_cni_manifests
from tests.support.podtemplate import read_daemonset

PREFIX: Final = "kdtncri"
GROUP: Final = "kubedtn.io"
# The plugin's log on the node (kubedtn.cni.logs' default): a host path of the node too.
CNI_LOG_DIR: Final = "/var/log/kubedtn"


def node_image() -> str:
    """The node image the DaemonSet runs: $CNI_IMG (the Makefile's variable, which the images
    lane sets), else the Makefile's default name for this checkout (kubedtn-node:VERSION).
    Built with ``make cni-docker`` (podman) only when podman has no image of that name, so the
    build the images lane makes once per run is reused."""
    version = subprocess.run(
        [str(REPO / "hack/version.sh")], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.strip()
    image = os.environ.get("CNI_IMG") or f"kubedtn-node:{version}"
    exists = subprocess.run(["podman", "image", "exists", image], capture_output=True, check=False)
    if exists.returncode == 0:
        return image
    made = subprocess.run(
        ["make", "-C", str(REPO), "cni-docker", "CONTAINER_TOOL=podman", f"CNI_IMG={image}"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if made.returncode != 0:
        raise RuntimeError(f"make cni-docker failed:\n{made.stdout[-3000:]}{made.stderr[-3000:]}")
    return image


def topology(name: str, links: list[dict[str, Any]], namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Topology",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"links": links},
    }


def ns_run(netns: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A command in a pod's network namespace (by its file, as seen from the test)."""
    proc = subprocess.run(
        ["nsenter", f"--net={netns}", *argv], capture_output=True, text=True, timeout=60, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} in {netns}: {proc.stderr.strip()}")
    return proc


def interfaces(netns: Path) -> dict[str, dict[str, Any]]:
    return {i["ifname"]: i for i in json.loads(ns_run(netns, "ip", "-j", "-d", "link", "show").stdout)}


def tbf_rate(netns: Path, dev: str) -> int | None:
    """The rate (bytes/s) of the tbf qdisc on ``dev``, None without one."""
    for q in json.loads(ns_run(netns, "tc", "-j", "qdisc", "show", "dev", dev).stdout or "[]"):
        if q.get("kind") == "tbf":
            return int(q["options"]["rate"])
    return None


@dataclass
class CriNode:
    api: KubeApiServer
    node: ContainerdNode
    daemon: DaemonPod
    cri: CriClient

    def apply(self, *objects: dict[str, Any]) -> None:
        rt = self.api.registry.find(GROUP, "v1", "topologies")
        assert rt is not None
        for obj in objects:
            self.api.api.create(Target(rt, obj["metadata"]["namespace"]), obj)

    def get(self, name: str, namespace: str) -> dict[str, Any]:
        rt = self.api.registry.find(GROUP, "v1", "topologies")
        assert rt is not None
        return self.api.api.get(Target(rt, namespace, name))

    def namespace(self) -> str:
        """A new Kubernetes namespace for one test's pods."""
        name = f"{PREFIX}-{uuid.uuid4().hex[:6]}"
        self.api.create("", "v1", "namespaces", {"metadata": {"name": name}})
        return name

    def pod_list(self) -> set[str]:
        """The topology pods the daemon has listed for the plugin (its pod list file)."""
        path = self.node.host_path("/var/lib/kubedtn/topology-pods.json")
        with contextlib.suppress(OSError, ValueError):
            return set(json.loads(path.read_text())["pods"])
        return set()

    def wait_listed(self, *keys: str) -> None:
        """Until the daemon has seen these pods' Topologies (its watch has them): a pod started
        before would be one in no topology, for the plugin."""
        wait_until(lambda: set(keys) <= self.pod_list(), timeout_s=30, what=f"{keys} in the pod list")

    def run_pod(self, name: str, namespace: str) -> Sandbox:
        sandbox_id = self.cri.run_pod_sandbox(name, namespace, cgroup_parent=self.node.cgroup_parent)
        return self.cri.sandbox(sandbox_id)

    def remove_pod(self, sandbox: Sandbox) -> None:
        """As kubelet deletes a pod: StopPodSandbox (CNI DEL), then RemovePodSandbox (DEL again)."""
        self.cri.delete_pod(sandbox.id)

    def netns(self, sandbox: Sandbox) -> Path:
        return self.node.netns_path(sandbox.netns)

    def node_veths(self) -> set[str]:
        """The veth interfaces in the node's network namespace."""
        shown = ns_run(Path(f"/run/netns/{self.node.netns}"), "ip", "-j", "link", "show", "type", "veth")
        return {i["ifname"] for i in json.loads(shown.stdout or "[]")}

    def metrics(self) -> dict[str, float]:
        """The daemon's metrics without labels (name -> value), scraped as Prometheus does:
        on the metrics port of the template, on the node's network (the pod's is the host's)."""
        url = f"http://127.0.0.1:{template_port(self.daemon.manifests, 'metrics')}/metrics"

        def scrape() -> str:
            with urllib.request.urlopen(url, timeout=10) as reply:
                return str(reply.read().decode())

        samples = {}
        for line in in_netns(self.node.netns, scrape).splitlines():
            fields = line.split()
            if len(fields) == 2 and not line.startswith("#") and "{" not in fields[0]:
                samples[fields[0]] = float(fields[1])
        return samples

    def cni_log(self) -> str:
        path = self.node.host_path(CNI_LOG_DIR) / "cni.log"
        return path.read_text() if path.exists() else ""


def template_host_paths(manifests: str) -> list[str]:
    spec = read_daemonset(manifests, DAEMONSET)["spec"]["template"]["spec"]
    return [v["hostPath"]["path"] for v in spec.get("volumes") or [] if "hostPath" in v]


def template_port(manifests: str, name: str) -> int:
    """The containerPort named ``name`` of the DaemonSet's daemon container."""
    spec = read_daemonset(manifests, DAEMONSET)["spec"]["template"]["spec"]
    for container in spec["containers"]:
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
    raise LookupError(f"no port named {name!r} in DaemonSet {DAEMONSET}")


@contextlib.contextmanager
def cri_node(image: str, kubectl: str) -> Iterator[CriNode]:
    """The node (module docstring), everything removed afterwards. ``kubectl`` renders the
    manifests (kustomize)."""
    kubedtn = str(REPO / "dist" / "kubedtn")
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    name = f"{PREFIX}-{uuid.uuid4().hex[:6]}"
    with KubeApiServer(bookmark_every=0.2) as api:
        api.register_crd(TOPOLOGY_CRD)
        manifests = render_cni_manifests(image, kubectl)
        host_paths = [*template_host_paths(manifests), CNI_LOG_DIR]
        with (
            containerd_node(root, name, host_paths=host_paths) as node,
            daemon_pod(node, api, manifests=manifests, kubedtn=kubedtn) as daemon,
            node.cri() as cri,
        ):
            yield CriNode(api, node, daemon, cri)
