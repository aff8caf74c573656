"""What the containerd node harness writes (tests.support.containerd, tests.support.pauseimage),
checked without running anything: containerd's config, the primary network, the sandbox
image archive, and the pure helpers."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tomllib
from pathlib import Path

from tests.support import pauseimage
from tests.support.containerd import containerd_config, mount_of, primary_conflist
from tests.support.cri.client import sandbox_netns


def test_containerd_config_is_the_node_s_own() -> None:
    text = containerd_config(
        root=Path("/tmp/r"), socket=Path("/tmp/r/c.sock"), sandbox_image="img:1", cni_bin="/b", cni_conf="/c"
    )
    config = tomllib.loads(text)
    assert config["root"].startswith("/tmp/r/") and config["state"].startswith("/tmp/r/")
    assert config["grpc"]["address"] == "/tmp/r/c.sock"
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "img:1"
    assert cri["restrict_oom_score_adj"] is True
    # Pod namespaces in the node's /var/run/netns, the directory the DaemonSet mounts.
    assert cri["netns_mounts_under_state_dir"] is False
    assert cri["cni"] == {"bin_dir": "/b", "conf_dir": "/c", "max_conf_num": 1}
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"]["Root"].startswith("/tmp/r/")
    assert config["plugins"]["io.containerd.internal.v1.opt"]["path"].startswith("/tmp/r/")


def test_the_primary_network_is_debian_s_bridge_with_its_own_ipam_dir() -> None:
    conflist = primary_conflist(ipam_dir=Path("/tmp/r/ipam"))
    (plugin,) = conflist["plugins"]
    assert plugin["type"] == "bridge"
    assert plugin["ipam"]["type"] == "host-local" and plugin["ipam"]["dataDir"] == "/tmp/r/ipam"


def test_mount_of_is_the_longest_mount_point_above() -> None:
    mounts = ["/", "/run", "/run/user/0", "/sys"]
    assert mount_of("/run/kubedtn", mounts) == "/run"
    assert mount_of("/run/user/0/x", mounts) == "/run/user/0"
    assert mount_of("/running", mounts) == "/"
    assert mount_of("/opt/cni/bin", mounts) == "/"


def test_sandbox_netns_reads_the_runtime_spec() -> None:
    info = {
        "runtimeSpec": {
            "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/x"}]}
        }
    }
    assert sandbox_netns(info) == "/var/run/netns/x"
    assert sandbox_netns({"runtimeSpec": {"linux": {"namespaces": [{"type": "network"}]}}}) == ""
    assert sandbox_netns({}) == ""


def test_the_pause_archive_is_an_oci_layout_whose_digests_hold() -> None:
    archive = pauseimage.oci_archive(b"\x7fELF not really", image="localhost/p:7")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in files.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    (entry,) = json.loads(files["index.json"])["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == "localhost/p:7"
    manifest = json.loads(files["blobs/sha256/" + entry["digest"].split(":")[1]])
    config = json.loads(files["blobs/sha256/" + manifest["config"]["digest"].split(":")[1]])
    assert config["config"]["Entrypoint"] == ["/pause"] and config["os"] == "linux"
    (layer,) = manifest["layers"]
    layer_tar = files["blobs/sha256/" + layer["digest"].split(":")[1]]
    assert config["rootfs"]["diff_ids"] == [layer["digest"]]  # uncompressed: diff id = digest
    with tarfile.open(fileobj=io.BytesIO(layer_tar)) as tar:
        (pause,) = tar.getmembers()
    assert pause.name == "pause" and pause.mode == 0o755
