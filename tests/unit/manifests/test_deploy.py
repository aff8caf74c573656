"""`make install cni-deploy deploy` and back out, with the real kubectl against the API server
double: every object of the rendered manifests arrives with the images IMG and CNI_IMG, the
CA Secret is made once, and the undeploy targets remove what the deploy targets made."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from kubedtn.store import NotFoundError
from kubedtn.store.kube import KubeStore, api_client
from kubedtn.store.resource import Resource
from tests.support.kubeapi import KubeApiServer
from tests.support.kubeapi.fixture import Kubectl, kubeapi, kubectl
from tests.unit.manifests.render import REPO, key, render

__all__ = ["kubeapi", "kubectl"]  # fixtures

IMG, CNI_IMG = "registry.example/kubedtn-controller:v9.9.9", "registry.example/kubedtn-node:v9.9.9"
SECRET = Resource(group="", version="v1", plural="secrets", kind="Secret")


def _make(kubectl: Kubectl, *targets: str) -> str:
    venv_bin = Path(kubectl.binary).parent
    command = " ".join(kubectl.argv("--request-timeout=20s"))
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *targets,
         f"KUBECTL={command}", f"KUBECTL_KUSTOMIZE={kubectl.binary}", f"IMG={IMG}", f"CNI_IMG={CNI_IMG}",
         f"KUBEDTN={venv_bin / 'kubedtn'}"],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, "MAKEFLAGS": ""},
    )  # fmt: skip
    assert proc.returncode == 0, f"make {' '.join(targets)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _resource(api_version: str, kind: str, namespaced: bool) -> Resource:
    group, _, version = api_version.rpartition("/")
    # (The plural of every kind the manifests hold is its name in lower case with an s.)
    return Resource(group=group, version=version, plural=kind.lower() + "s", kind=kind, namespaced=namespaced)


def test_make_deploy_applies_every_object_and_undeploy_removes_them(
    kubeapi: KubeApiServer, kubectl: Kubectl, tmp_path: Path
) -> None:
    _make(kubectl, "install", "cni-deploy", "deploy")
    client = api_client(kubeconfig=str(kubectl.kubeconfig))
    expected = render("crd") + render("cni") + render("controller")
    try:
        for obj in expected:
            api_version, kind, namespace, name = key(obj)
            store = KubeStore(client, resource=_resource(api_version, kind, bool(namespace)))
            held = store.get(namespace or None, name)
            assert held["metadata"]["name"] == name
            if kind in ("DaemonSet", "Deployment"):
                spec = held["spec"]["template"]["spec"]
                images = {c["image"] for c in [*spec.get("initContainers", []), *spec["containers"]]}
                assert images == ({CNI_IMG} if kind == "DaemonSet" else {IMG})
        secrets = KubeStore(client, resource=SECRET)
        ca = secrets.get("kubedtn", "kubedtn-ca")
        assert set(ca["data"]) == {"ca.crt", "ca.key"}
        assert base64.b64decode(ca["data"]["ca.crt"]).startswith(b"-----BEGIN CERTIFICATE-----")

        # A second deploy keeps the CA: the nodes' certificates stay trusted.
        assert "keeping its CA" in _make(kubectl, "cni-deploy")
        assert secrets.get("kubedtn", "kubedtn-ca")["data"] == ca["data"]

        _make(kubectl, "undeploy", "cni-undeploy", "uninstall")
        for obj in expected:
            api_version, kind, namespace, name = key(obj)
            store = KubeStore(client, resource=_resource(api_version, kind, bool(namespace)))
            try:
                store.get(namespace or None, name)
            except NotFoundError:
                continue
            raise AssertionError(f"{kind} {namespace}/{name} is still there after the undeploy targets")
    finally:
        client.close()
