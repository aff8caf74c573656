"""What bpftool (an independent reading of the kernel) says about the bypass's programs:
what is attached to a cgroup, to an interface's tc hooks, and what is pinned."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Final

# Every pin of the bypass, relative to its pin directory (kubedtn.ebpf.pins' layout).
BYPASS_PINS: Final = [
    "maps/kubedtn_counts",
    "maps/kubedtn_flows",
    "maps/kubedtn_marked",
    "maps/kubedtn_socks",
    "progs/kubedtn_marker",
    "progs/kubedtn_sk_msg",
    "progs/kubedtn_sockops",
]


def _bpftool(*argv: str, netns: str | None = None) -> Any:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    out = subprocess.run(
        [*prefix, "bpftool", "-j", *argv], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(out.stdout.strip() or "null")


def cgroup_programs(cgroup: Path) -> dict[int, str]:
    """Programs attached to the cgroup itself: id -> name (empty when none or no cgroup)."""
    if not cgroup.exists():
        return {}
    return {int(p["id"]): str(p.get("name", "")) for p in _bpftool("cgroup", "show", str(cgroup)) or []}


def egress_programs(netns: str, dev: str) -> dict[int, str]:
    """tc programs on the interface's clsact egress hook: program id -> filter name."""
    (shown,) = _bpftool("net", "show", "dev", dev, netns=netns)
    return {int(p["id"]): str(p["name"]) for p in shown.get("tc", []) if p.get("kind") == "clsact/egress"}


def pinned_program_id(path: Path) -> int:
    return int(_bpftool("prog", "show", "pinned", str(path))["id"])


def pins(pin_dir: Path) -> list[str]:
    """Every file under the pin directory, relative to it (empty when it is gone)."""
    if not pin_dir.exists():
        return []
    return sorted(str(p.relative_to(pin_dir)) for p in pin_dir.rglob("*") if p.is_file())


def pinned_objects(pin_dir: Path) -> list[tuple[str, int]]:
    """("prog" or "map", id) of every object pinned under the directory."""
    found = []
    for path in sorted(pin_dir.rglob("*")) if pin_dir.exists() else []:
        if path.is_file():
            for kind in ("prog", "map"):
                shown = subprocess.run(
                    ["bpftool", "-j", kind, "show", "pinned", str(path)],
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=60,
                )
                if shown.returncode == 0:
                    found.append((kind, int(json.loads(shown.stdout)["id"])))
                    break
    return found


def exists(kind: str, object_id: int) -> bool:
    """Whether the kernel still holds the program or map with this id."""
    shown = subprocess.run(
        ["bpftool", kind, "show", "id", str(object_id)], capture_output=True, check=False, timeout=60
    )
    return shown.returncode == 0
