"""``kubedtn lab exec POD -- CMD``: run a command inside a pod's network namespace.

Like ``ip netns exec``: this process joins the namespace (setns, as the dataplane does it), then, in a mount
namespace of its own (unshare, mounts made private-to-us with MS_SLAVE so nothing
propagates back), mounts a fresh sysfs on /sys — so ``/sys/class/net`` shows the pod's
interfaces, not the host's — and finally execs CMD, whose exit code becomes ours.
Unlike ``ip netns exec`` it does not bind ``/etc/netns/<name>/*`` over ``/etc``.

Standard library only (ctypes), and no threads before the exec: ``unshare(CLONE_NEWNS)``
refuses a multi-threaded process.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from typing import Final, NoReturn

from kubedtn.dataplane.errors import NamespaceNotFoundError
from kubedtn.dataplane.netns import enter_for_good
from kubedtn.errors import KubedtnError, NotFoundError
from kubedtn.lab import state
from kubedtn.lab.names import known_labs, lab_paths, split_pod
from kubedtn.lab.state import LabState, PodRecord

CLONE_NEWNS: Final = 0x00020000
MS_REC: Final = 0x4000
MS_SLAVE: Final = 1 << 19
MNT_DETACH: Final = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _call(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def find_pod(pod: str, *, lab: str | None) -> tuple[LabState, PodRecord]:
    """The lab and record of ``pod``: ``namespace/name``, or a bare ``name`` in whichever
    Kubernetes namespace has it; with no ``lab`` given, in whichever lab has it. Exactly one
    pod must match: else the error says where the pods of that name are."""
    kube_ns, name = split_pod(pod) if "/" in pod else (None, pod)
    labs = [lab] if lab else known_labs()
    named: list[tuple[LabState, PodRecord]] = []  # every pod of that name, in any namespace
    for candidate in labs:
        current = state.load(lab_paths(candidate))
        if current is not None:
            named += [(current, record) for record in current.pods if record.name == name]
    found = [(s, r) for s, r in named if kube_ns is None or r.kube_ns == kube_ns]
    if len(found) == 1:
        return found[0]
    if not found:
        where = f"lab {lab}" if lab else f"any lab ({', '.join(labs) or 'there are none'})"
        elsewhere = f"; {_places(named)}" if named else ""
        raise NotFoundError(f"pod {pod} is not in {where}{elsewhere}")
    labs_found = sorted({s.name for s, _ in found})
    if len(labs_found) > 1 and len({r.kube_ns for _, r in found}) == 1:
        raise KubedtnError(f"pod {pod} is in several labs ({', '.join(labs_found)}); say which with --name")
    also = " and --name LAB" if len(labs_found) > 1 else ""
    raise KubedtnError(f"pod {pod} is ambiguous ({_places(found)}): give NAMESPACE/{name}{also}")


def _places(pods: Sequence[tuple[LabState, PodRecord]]) -> str:
    """``lab kdtn has default/r1 and team/r1``; ``lab a has team/r1, lab b has team/r1``."""
    by_lab: dict[str, list[str]] = {}
    for s, record in pods:
        by_lab.setdefault(s.name, []).append(record.key)
    return ", ".join(f"lab {lab} has {' and '.join(keys)}" for lab, keys in sorted(by_lab.items()))


def enter_netns(path: str, *, private_sys: bool = True) -> None:
    """Moves this (single-threaded) process into the network namespace at path."""
    try:
        enter_for_good(path)
    except NamespaceNotFoundError:
        raise NotFoundError(f"network namespace {path} does not exist; run `kubedtn lab up` again") from None
    if not private_sys:
        return
    _call(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    _call(_libc.mount(b"", b"/", None, MS_SLAVE | MS_REC, None), "make / a slave mount")
    # /sys may not be mounted at all (minimal containers): then just mount ours.
    _libc.umount2(b"/sys", MNT_DETACH)
    _call(_libc.mount(b"sysfs", b"/sys", b"sysfs", 0, None), "mount sysfs on /sys")


def exec_in_pod(pod: str, argv: Sequence[str], *, lab: str | None) -> NoReturn:
    """Execs argv in the pod's namespace; returns only by raising (exit 127/126 for a command
    that cannot be found / run, like a shell)."""
    if not argv:
        raise KubedtnError("no command given: kubedtn lab exec POD -- CMD [ARG...]")
    current, record = find_pod(pod, lab=lab)
    if current.bypass is not None:
        # Before the new mount namespace: its fresh /sys hides the cgroup filesystem.
        join_cgroup(current.bypass.cgroup)
    enter_netns(record.netns_path)
    try:
        os.execvp(argv[0], list(argv))
    except FileNotFoundError:
        raise CommandError(f"{argv[0]}: command not found", 127) from None
    except PermissionError:
        raise CommandError(f"{argv[0]}: permission denied", 126) from None


def join_cgroup(cgroup: str) -> None:
    """Moves this process into the lab's cgroup, where its TCP/IP bypass applies
    (``kubedtn.lab.bypass``); the command exec'd next stays there."""
    try:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
    except OSError as e:
        raise KubedtnError(
            f"cannot join the lab's cgroup {cgroup} (for its TCP/IP bypass): {e.strerror}; "
            "`kubedtn lab up` again makes it"
        ) from e


class CommandError(KubedtnError):
    """The command could not be exec'd; ``exit_code`` as a shell would give."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
