"""`kubedtn daemon` from the built executable: --install-cni chains the plugin and serves,
--uninstall-cni removes exactly what it added."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from tests.support import zipapp
from tests.support.daemon import running_daemon

pytestmark = [pytest.mark.e2e, pytest.mark.root]

PRIMARY = {
    "cniVersion": "1.0.0",
    "name": "podnet",
    "type": "bridge",
    "bridge": "cni0",
    "ipam": {"type": "host-local", "subnet": "10.244.0.0/24"},
}
EXTRACTED = Path("/var/lib/kubedtn/zipapp")


def test_install_cni_chains_the_plugin_then_serves_and_uninstall_removes_exactly_that(tmp_path: Path) -> None:
    exe = zipapp.executable()
    bin_dir, conf_dir = tmp_path / "bin", tmp_path / "net.d"
    bin_dir.mkdir()
    conf_dir.mkdir()
    (conf_dir / "10-podnet.conf").write_text(json.dumps(PRIMARY))
    before = set(EXTRACTED.iterdir()) if EXTRACTED.is_dir() else set()
    install = ["--install-cni", "--cni-bin-dir", str(bin_dir), "--cni-conf-dir", str(conf_dir)]
    try:
        with running_daemon(program=(str(exe),), extra_args=install) as d:
            conflist = json.loads((conf_dir / "00-kubedtn.conflist").read_text())
            assert [p["type"] for p in conflist["plugins"]] == ["bridge", "kubedtn"]
            ours = conflist["plugins"][1]
            assert (ours["daemonSocket"], ours["podList"]) == (str(d.socket_path), str(d.pod_list_path))
            assert (bin_dir / "kubedtn").exists()
            assert d.local().Status(pb.StatusQuery(), timeout=10).node_ip == d.host_ip
            assert d.kill(signal.SIGTERM) == 0
            assert (conf_dir / "00-kubedtn.conflist").exists()  # pods on the node still need it

            uninstall = subprocess.run(
                [
                    str(exe),
                    "daemon",
                    "--uninstall-cni",
                    "--state-dir",
                    str(d.state_dir),
                    "--host-ip",
                    d.host_ip,
                ],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert uninstall.returncode == 0, uninstall.stderr
            assert f"{conf_dir / '00-kubedtn.conflist'}: removed" in uninstall.stdout
        assert sorted(p.name for p in conf_dir.iterdir()) == ["10-podnet.conf"]
        assert list(bin_dir.iterdir()) == []
    finally:
        for extracted in (set(EXTRACTED.iterdir()) if EXTRACTED.is_dir() else set()) - before:
            shutil.rmtree(extracted, ignore_errors=True)
