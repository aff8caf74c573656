"""dist/kubedtn topo apply|get|diff|delete against the Kubernetes API double, as from a laptop."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.support import zipapp
from tests.support.kubeapi.fixture import TOPOLOGY_CRD, Kubectl, kubeapi, kubectl
from tests.support.kubeapi.server import KubeApiServer

__all__ = ["kubeapi", "kubectl"]

pytestmark = pytest.mark.e2e

SAMPLE = zipapp.REPO / "examples" / "kube-dtn" / "3node.yml"


def kubedtn(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": str(kubeconfig)}
    return subprocess.run(
        [str(zipapp.executable()), "topo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_executable_applies_kube_dtn_files_that_kubectl_then_sees(
    kubeapi: KubeApiServer, kubectl: Kubectl, tmp_path: Path
) -> None:
    kubeapi.register_crd(TOPOLOGY_CRD)
    config = tmp_path / "kubeconfig"
    assert kubedtn(config, "diff", "-f", str(SAMPLE)).returncode == 1
    applied = kubedtn(config, "apply", "-f", str(SAMPLE))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.splitlines() == [f"topology.kubedtn.io/r{i} created" for i in (1, 2, 3)]
    listed = json.loads(kubectl.run("get", "topologies", "-o", "json").stdout)
    ours = json.loads(kubedtn(config, "get", "-o", "json").stdout)
    assert [o["spec"] for o in listed["items"]] == [o["spec"] for o in ours["items"]]
    assert [o["metadata"]["name"] for o in listed["items"]] == ["r1", "r2", "r3"]
    assert kubedtn(config, "diff", "-f", str(SAMPLE)).returncode == 0
    assert kubedtn(config, "delete", "-f", str(SAMPLE), "--wait").returncode == 0
    assert kubectl.run("get", "topologies", "-o", "name").stdout == ""
