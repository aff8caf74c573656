"""Enable, restart, disable: what is pinned and attached, and that a restarted daemon
reuses what is pinned when it is this build's, and replaces it when it is not."""

from __future__ import annotations

import dataclasses
import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubedtn.ebpf import loader, objects, syscall
from kubedtn.ebpf.bypass import SOCKOPS, Bypass
from kubedtn.ebpf.errors import BpfSyscallError, EbpfError
from kubedtn.ebpf.spec import ObjectSpec
from tests.support.bpfcheck import BYPASS_PINS

pytestmark = pytest.mark.root

# Another process: enable, then exit (its fds closed, its pins and attachment left).
ENABLE = (
    "import sys; from pathlib import Path; from kubedtn.ebpf.bypass import Bypass; "
    "Bypass(pin_dir=Path(sys.argv[1]), cgroup=Path(sys.argv[2])).enable()"
)

# mov r0, 1; exit: a sockops program that does nothing
RETURN_ONE = bytes.fromhex("b700000001000000") + bytes.fromhex("9500000000000000")


def attached(cgroup: Path) -> list[int]:
    fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return syscall.prog_query(target_fd=fd, attach_type=syscall.CGROUP_SOCK_OPS, what=str(cgroup))
    finally:
        os.close(fd)


def pinned_ids(pin_dir: Path) -> dict[str, int]:
    """Kernel ids of everything pinned, by pin path."""
    ids = {}
    for path in sorted(pin_dir.rglob("*")):
        if path.is_file():
            fd = syscall.obj_get(str(path))
            try:
                ids[str(path.relative_to(pin_dir))] = (
                    syscall.prog_info(fd).id if path.parent.name == "progs" else syscall.map_info(fd).id
                )
            finally:
                os.close(fd)
    return ids


def gone(ids: dict[str, int], *, timeout: float = 10.0) -> list[str]:
    """The objects among ``ids`` the kernel still has after ``timeout`` (freeing a map is
    deferred to a workqueue)."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for path, object_id in ids.items():
            get = syscall.prog_fd_by_id if path.startswith("progs/") else syscall.map_fd_by_id
            try:
                os.close(get(object_id))
                left.append(path)
            except BpfSyscallError as e:
                assert e.errno == errno.ENOENT
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_enable_pins_and_attaches_once(bypass: Bypass, pin_dir: Path, cgroup: Path) -> None:
    bypass.enable()
    bypass.enable()
    ids = pinned_ids(pin_dir)
    assert sorted(ids) == BYPASS_PINS
    assert attached(cgroup) == [ids["progs/kubedtn_sockops"]]
    assert bypass.enabled()
    fd = syscall.obj_get(str(pin_dir / "maps" / "kubedtn_socks"))
    try:
        verdicts = syscall.prog_query(target_fd=fd, attach_type=syscall.SK_MSG_VERDICT, what="socket map")
    finally:
        os.close(fd)
    assert verdicts == [ids["progs/kubedtn_sk_msg"]]
    # the kernel's tag of each program is the one computed from the object
    spec = objects.object_spec(objects.BYPASS)
    for name, program in spec.programs.items():
        fd = syscall.obj_get(str(pin_dir / "progs" / name))
        try:
            assert syscall.prog_info(fd).tag in loader.expected_tags(program)
        finally:
            os.close(fd)


def test_a_restart_reuses_what_is_pinned(bypass: Bypass, pin_dir: Path, cgroup: Path) -> None:
    bypass.enable()
    before = pinned_ids(pin_dir)
    bypass.close()
    again = Bypass(pin_dir=pin_dir, cgroup=cgroup)
    try:
        again.enable()
        assert pinned_ids(pin_dir) == before
        assert attached(cgroup) == [before["progs/kubedtn_sockops"]]
        assert again.enabled()
    finally:
        again.close()


def older_build() -> ObjectSpec:
    """bypass.o with another sockops program under the same name: what an older kubedtn
    would have pinned."""
    spec = objects.object_spec(objects.BYPASS)
    sockops = dataclasses.replace(spec.programs[SOCKOPS], instructions=RETURN_ONE, relocations=())
    return dataclasses.replace(spec, programs={**spec.programs, SOCKOPS: sockops})


def test_another_builds_pins_are_replaced(bypass: Bypass, pin_dir: Path, cgroup: Path) -> None:
    old = Bypass(pin_dir=pin_dir, cgroup=cgroup, object_spec=older_build())
    try:
        old.enable()
        old_ids = pinned_ids(pin_dir)
    finally:
        old.close()
    bypass.enable()
    new_ids = pinned_ids(pin_dir)
    assert new_ids["progs/kubedtn_sockops"] != old_ids["progs/kubedtn_sockops"]
    assert attached(cgroup) == [new_ids["progs/kubedtn_sockops"]]
    fd = syscall.obj_get(str(pin_dir / "progs" / SOCKOPS))
    try:
        assert syscall.prog_info(fd).tag in loader.expected_tags(
            objects.object_spec(objects.BYPASS).programs[SOCKOPS]
        )
    finally:
        os.close(fd)
    # the whole older build went (its maps too: this build's programs need fresh ones)
    assert gone(old_ids) == []


def test_disable_leaves_nothing_of_another_process(pin_dir: Path, cgroup: Path) -> None:
    """A process enables and exits (a daemon killed); disable from this one removes its
    attachment and pins, and the kernel frees every object."""
    subprocess.run([sys.executable, "-c", ENABLE, str(pin_dir), str(cgroup)], check=True, timeout=60)
    ids = pinned_ids(pin_dir)
    assert attached(cgroup) == [ids["progs/kubedtn_sockops"]]
    here = Bypass(pin_dir=pin_dir, cgroup=cgroup)
    here.disable()
    assert attached(cgroup) == []
    assert not pin_dir.exists()
    assert not here.enabled()
    assert gone(ids) == []
    here.disable()  # again: nothing to do, no error


def test_a_cgroup_that_is_not_cgroup2_is_refused_before_loading(pin_dir: Path, tmp_path: Path) -> None:
    bypass = Bypass(pin_dir=pin_dir, cgroup=tmp_path)
    with pytest.raises(EbpfError, match=rf"cgroup {tmp_path} is on \w+ \(mounted at .*\), not cgroup2"):
        bypass.enable()
    assert not pin_dir.exists()


def test_two_processes_enabling_at_once_share_one_load(pin_dir: Path, cgroup: Path) -> None:
    """Two daemons starting together: both succeed, one set of pins, one attachment."""
    starts = [subprocess.Popen([sys.executable, "-c", ENABLE, str(pin_dir), str(cgroup)]) for _ in range(4)]
    assert [p.wait(timeout=60) for p in starts] == [0, 0, 0, 0]
    ids = pinned_ids(pin_dir)
    assert len(ids) == 7
    assert attached(cgroup) == [ids["progs/kubedtn_sockops"]]
    assert sorted(p.name for p in pin_dir.parent.iterdir() if p.name.startswith(f"{pin_dir.name}-new-")) == []
