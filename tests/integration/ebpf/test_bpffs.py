"""bpffs mounted by the code when /sys/fs/bpf has none: in a mount namespace of the test's
own, where /sys/fs/bpf is unmounted first (the host's mount is never touched)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.root

CHECK = """
from pathlib import Path
from kubedtn.ebpf.bpffs import ensure_bpffs, filesystem_of
pins = Path("/sys/fs/bpf/kdtn-ebpf-mount/pins")
print(*filesystem_of(pins))
ensure_bpffs(pins)
print(*filesystem_of(pins))
ensure_bpffs(pins)  # mounted once: a second call finds it
print(sum(1 for line in open("/proc/self/mounts") if line.split()[1:3] == ["/sys/fs/bpf", "bpf"]))
"""


def test_a_missing_bpffs_is_mounted() -> None:
    script = 'umount /sys/fs/bpf 2>/dev/null; exec "$0" -c "$1"'
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, sys.executable, CHECK],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    before, after, mounts = result.stdout.splitlines()
    assert before.split()[1] != "bpf"
    assert after == "/sys/fs/bpf bpf"
    assert mounts == "1"
