"""Probes for what the running kernel can do, so tests skip with a reason instead of failing."""

from __future__ import annotations

import functools
import os
import subprocess
import uuid


def _in_throwaway_netns(*commands: list[str]) -> bool:
    name = f"kdtn-probe-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        runs = (
            subprocess.run(["ip", "netns", "exec", name, *cmd], check=False, capture_output=True)
            for cmd in commands
        )
        return all(run.returncode == 0 for run in runs)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)


@functools.cache
def has_netem() -> bool:
    """True when sch_netem can be attached (it is missing from the development kernel)."""
    if os.geteuid() != 0:
        return False
    return _in_throwaway_netns(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])


@functools.cache
def in_uml() -> bool:
    """True inside the user-mode Linux lane (hack/uml/run-tests)."""
    try:
        with open("/proc/cmdline") as f:
            return "kubedtn_uml=1" in f.read()
    except OSError:
        return False
