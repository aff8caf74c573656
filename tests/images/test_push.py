"""make cni-push / docker-push: an image reaches a registry; a name without one is refused.

The registry is Debian's docker-registry, started for the test on 127.0.0.1:5000 of a
network namespace of the test's (storage in a temporary directory); make runs in that
namespace too, so podman reaches it there and nowhere else.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.images import REPO, Podman, node_image, served_in
from tests.support.netmeter import in_netns

pytestmark = [pytest.mark.images, pytest.mark.root]

REGISTRY = "127.0.0.1:5000"
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"
)


def _listening(netns: str) -> bool:
    with in_netns(netns):
        sock = socket.socket()
    try:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", 5000)) == 0
    finally:
        sock.close()


@pytest.fixture
def registry(netns: str, tmp_path: Path) -> Iterator[str]:
    """docker-registry serving on REGISTRY inside ``netns``."""
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'registry'}\n"
        f"http:\n  addr: {REGISTRY}\n"
    )
    argv = ["docker-registry", "serve", str(config)]
    with served_in(
        netns, argv, log=tmp_path / "registry.log", ready=lambda: _listening(netns), what="docker-registry"
    ):
        yield netns


def _make(*args: str, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    enter = ["nsenter", f"--net=/run/netns/{netns}"] if netns else []
    return subprocess.run(
        [*enter, "make", "-s", "-C", str(REPO), *args, "CONTAINER_TOOL=podman"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("IMG", "CNI_IMG", "MAKEFLAGS", "MFLAGS")},
    )


def _manifest(netns: str, repository: str, tag: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://{REGISTRY}/v2/{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES}
    )
    with in_netns(netns):
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=30) as response:
            document: dict[str, object] = json.loads(response.read())
    return document


def test_cni_push_puts_the_image_in_the_registry(podman: Podman, registry: str) -> None:
    image = podman.built(node_image())
    tag = image.rsplit(":", 1)[1]
    pushed = f"{REGISTRY}/kubedtn-node:{tag}"
    podman.run("tag", image, pushed)
    try:
        made = _make("cni-push", f"CNI_IMG={pushed}", "PUSH_FLAGS=--tls-verify=false", netns=registry)
        assert made.returncode == 0, made.stdout + made.stderr
    finally:
        podman.run("untag", image, pushed)
    manifest = _manifest(registry, "kubedtn-node", tag)
    config = manifest["config"]
    assert isinstance(config, dict)
    image_id = podman.run("image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    assert config["digest"] == f"sha256:{image_id}"


@pytest.mark.parametrize(("target", "variable"), [("cni-push", "CNI_IMG"), ("docker-push", "IMG")])
def test_a_name_without_a_registry_is_refused(target: str, variable: str) -> None:
    made = _make(target, f"{variable}=kubedtn-x:v1")
    assert made.returncode != 0
    assert "'kubedtn-x:v1' names no registry" in made.stderr and f"{variable}=" in made.stderr, made.stderr
