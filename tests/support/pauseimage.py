"""The sandbox ("pause") image a CRI runtime needs for every pod, made offline.

There is no registry to pull ``registry.k8s.io/pause`` from, so the tests build their own: a
few lines of C (wait for a signal, reap orphans), linked statically with gcc, as the one
file of a one-layer OCI image archive that ``ctr images import`` reads. ``build_archive``
writes it (gcc takes about a second, once per node); the image's name is ``IMAGE``.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Final

IMAGE: Final = "localhost/kubedtn-test-pause:1"

# SIGINT/SIGTERM end it (containerd stops a sandbox with SIGTERM), SIGCHLD reaps what the
# pod's processes left behind (it is PID 1 of the pod's PID namespace).
PAUSE_C: Final = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }

int main(void) {
    struct sigaction sa = {0};
    sa.sa_handler = stop;
    sigaction(SIGINT, &sa, 0);
    sigaction(SIGTERM, &sa, 0);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, 0);
    for (;;) pause();
}
"""

_ARCH: Final = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}


def compile_pause(out: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "pause.c"
        source.write_text(PAUSE_C)
        subprocess.run(["gcc", "-static", "-Os", "-s", "-o", str(out), str(source)], check=True, timeout=120)
    return out


def _blob(blobs: dict[str, bytes], data: bytes, media_type: str) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def _tar(files: dict[str, tuple[bytes, int]]) -> bytes:
    """A reproducible tar (fixed owner and times) of path -> (content, mode)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def oci_archive(pause: bytes, *, image: str = IMAGE) -> bytes:
    """The OCI image layout (as one tar) of an image whose only file is /pause, its entrypoint."""
    blobs: dict[str, bytes] = {}
    layer = _tar({"pause": (pause, 0o755)})
    config = {
        "architecture": _ARCH.get(platform.machine(), platform.machine()),
        "os": "linux",
        "config": {"Entrypoint": ["/pause"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": _blob(blobs, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json"),
        "layers": [_blob(blobs, layer, "application/vnd.oci.image.layer.v1.tar")],
    }
    entry = _blob(blobs, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    entry["annotations"] = {
        "io.containerd.image.name": image,
        "org.opencontainers.image.ref.name": image.rsplit(":", 1)[-1],
    }
    index = {"schemaVersion": 2, "manifests": [entry]}
    files = {
        "oci-layout": (b'{"imageLayoutVersion":"1.0.0"}', 0o644),
        "index.json": (json.dumps(index).encode(), 0o644),
    }
    for digest, data in blobs.items():
        files["blobs/sha256/" + digest.split(":", 1)[1]] = (data, 0o644)
    return _tar(files)


def build_archive(out: Path) -> Path:
    """The image archive at ``out`` (made once: kept while it exists)."""
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            pause = compile_pause(Path(tmp) / "pause")
            partial = out.with_suffix(".partial")
            partial.write_bytes(oci_archive(pause.read_bytes()))
            partial.rename(out)
    return out
