"""The lab's eBPF TCP/IP bypass, in a cgroup of the lab's own: nothing outside the lab is touched.

``lab up`` with the bypass (``--tcpip-bypass``, or TCPIP_BYPASS=1 as for the daemon):

1. makes the cgroup ``kubedtn-lab-<lab>`` under the host's cgroup v2 root;
2. loads the bypass with its pins in ``/sys/fs/bpf/kubedtn-lab-<lab>`` and attaches it to
   that cgroup (``kubedtn.ebpf``), so that it sees only sockets of processes in it;
3. starts the lab's daemons with the same two places (``daemonproc.daemon_argv``): they
   reuse the pins and mark the link ends with properties, as a node daemon does.

``lab exec`` runs its command in the cgroup (``kubedtn.lab.enter.join_cgroup``), so the pods' programs are
bypassed and nothing else on the host is. ``lab down`` detaches and unpins, moves what
still runs in the cgroup to its parent, and removes the cgroup (``remove``).

A lab that asked for the bypass and cannot have it (the kernel, no bpffs) comes up
without it, saying why; its TCP then takes the stack.
"""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Final

from kubedtn.daemon.bypass import real_bypass, resolve_cgroup
from kubedtn.errors import KubedtnError
from kubedtn.lab.state import BypassRecord

PREFIX: Final = "kubedtn-lab-"
BPFFS: Final = Path("/sys/fs/bpf")


def places(lab: str, *, cgroup_root: Path | None = None) -> BypassRecord:
    """The lab's cgroup (under the cgroup v2 root) and pin directory."""
    root = resolve_cgroup(cgroup_root)
    return BypassRecord(cgroup=str(root / f"{PREFIX}{lab}"), pin_dir=str(BPFFS / f"{PREFIX}{lab}"))


def enable(record: BypassRecord) -> None:
    """The cgroup made, the bypass loaded (or its pins reused) and attached to it."""
    cgroup = Path(record.cgroup)
    try:
        cgroup.mkdir(exist_ok=True)
    except OSError as e:
        raise KubedtnError(f"cannot make the lab's cgroup {cgroup}: {e.strerror}") from e
    bypass = real_bypass(Path(record.pin_dir), cgroup)
    try:
        bypass.enable()
    finally:
        bypass.close()


def remove(record: BypassRecord) -> list[str]:
    """Detached, unpinned and the cgroup gone; the problems (none: all done). Idempotent."""
    problems: list[str] = []
    cgroup = Path(record.cgroup)
    try:
        bypass = real_bypass(Path(record.pin_dir), cgroup)
        try:
            bypass.disable()
        finally:
            bypass.close()
    except KubedtnError as e:
        problems.append(f"the lab's TCP/IP bypass in {record.pin_dir}: {e}")
    problems += _remove_cgroup(cgroup)
    return problems


def _remove_cgroup(cgroup: Path) -> list[str]:
    try:
        pids = (cgroup / "cgroup.procs").read_text().split()
    except FileNotFoundError:
        return []
    except OSError as e:
        return [f"cannot read {cgroup}/cgroup.procs: {e.strerror}"]
    # Processes `lab exec` started and that still run go on, in the parent cgroup: a
    # cgroup with processes cannot be removed.
    for pid in pids:
        try:
            (cgroup.parent / "cgroup.procs").write_text(pid)
        except ProcessLookupError:
            continue  # it ended meanwhile
        except OSError as e:
            return [f"cannot move process {pid} out of the lab's cgroup {cgroup}: {e.strerror}"]
    try:
        cgroup.rmdir()
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno != errno.ENOENT:
            return [f"cannot remove the lab's cgroup {cgroup}: {e.strerror}"]
    return []
