"""The --via-cni network configuration: bridge + host-local, then kubedtn with the lab's paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedtn.errors import ValidationError
from kubedtn.lab.cnimode import check_subnet, conflist
from kubedtn.lab.cniruntime import parse_network_list
from kubedtn.lab.names import lab_paths


def test_conflist_chains_kubedtn_after_the_bridge(tmp_path: Path) -> None:
    paths = lab_paths(
        "t1", {"KUBEDTN_LAB_STATE_DIR": str(tmp_path / "s"), "KUBEDTN_LAB_RUN_DIR": str(tmp_path / "r")}
    )
    network = parse_network_list(conflist(paths, subnet="10.250.0.0/16"))
    bridge, kubedtn = network.plugins
    assert bridge["type"] == "bridge" and bridge["bridge"] == "kdtn-t1" and not bridge["isGateway"]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.250.0.0/16"}]]
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path / "s" / "t1"))
    assert kubedtn["type"] == "kubedtn"
    assert kubedtn["daemonSocket"] == str(paths.socket)
    assert kubedtn["podList"] == str(paths.pod_list)


def test_subnet_check() -> None:
    assert check_subnet("10.251.0.0/24") == "10.251.0.0/24"
    with pytest.raises(ValidationError, match=r"--subnet: '10\.1\.2\.3/16' is not a network"):
        check_subnet("10.1.2.3/16")
    with pytest.raises(ValidationError, match="too small"):
        check_subnet("10.1.2.3/32")
