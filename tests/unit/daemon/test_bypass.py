"""Where the daemon's bypass attaches (the loading itself is tested on the kernel:
tests/integration/daemon/test_bypass.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubedtn.daemon.bypass import FALLBACK_CGROUP, BypassSwitch, cgroup2_root, resolve_cgroup
from kubedtn.daemon.config import DaemonConfig, load_config
from kubedtn.errors import ValidationError

MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_the_cgroup_v2_mount_is_found_in_the_mounts_table() -> None:
    assert cgroup2_root(MOUNTS) == Path("/sys/fs/cgroup/unified")
    assert cgroup2_root("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n") == Path("/sys/fs/cgroup")
    assert cgroup2_root(MOUNTS.replace("cgroup2", "cgroup")) is None


def test_a_hybrid_hosts_cgroup_directory_resolves_to_its_unified_hierarchy(tmp_path: Path) -> None:
    (tmp_path / "hybrid" / "unified").mkdir(parents=True)
    (tmp_path / "hybrid" / "unified" / "cgroup.controllers").touch()
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "cgroup.controllers").touch()
    assert resolve_cgroup(tmp_path / "hybrid") == tmp_path / "hybrid" / "unified"
    assert resolve_cgroup(tmp_path / "v2") == tmp_path / "v2"
    assert resolve_cgroup(tmp_path / "none") == tmp_path / "none"  # (the loader says what is wrong)
    assert resolve_cgroup(None) in (cgroup2_root(Path("/proc/self/mounts").read_text()), FALLBACK_CGROUP)


def test_the_bypass_settings_come_from_flags_or_environment() -> None:
    def config(flags: dict[str, object], env: dict[str, str]) -> DaemonConfig:
        return load_config(flags, env, detect_ip=lambda: "10.0.0.1")

    c = config({}, {"TCPIP_BYPASS": "1", "KUBEDTN_BYPASS_CGROUP": "/host/sys/fs/cgroup/"})
    assert (c.tcpip_bypass, c.bypass_cgroup, c.bypass_pin_dir) == (
        True,
        Path("/host/sys/fs/cgroup"),
        Path("/sys/fs/bpf/kubedtn"),
    )
    c = config({"tcpip_bypass": False, "bypass_pin_dir": "/sys/fs/bpf/lab"}, {"TCPIP_BYPASS": "1"})
    assert (c.tcpip_bypass, c.bypass_cgroup, c.bypass_pin_dir) == (False, None, Path("/sys/fs/bpf/lab"))


def test_a_relative_pin_dir_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError) as e:
        load_config({}, {"KUBEDTN_BYPASS_PIN_DIR": "bpf/kubedtn"}, detect_ip=lambda: "10.0.0.1")
    assert "KUBEDTN_BYPASS_PIN_DIR: 'bpf/kubedtn' is not an absolute, normalised directory" in str(e.value)


def test_off_with_nothing_pinned_touches_nothing_and_is_no_job(tmp_path: Path) -> None:
    switch = BypassSwitch(enabled=False, pin_dir=tmp_path / "not-pinned", cgroup=tmp_path)
    assert switch.start() is None
    assert switch.counters() is None
    assert switch.report() is None
    assert not (tmp_path / "not-pinned").exists()
