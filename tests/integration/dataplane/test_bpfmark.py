"""The bypass marker on one interface, on the kernel: added once however often it is
asked for, pointed at a newly loaded program in place, removed with its clsact qdisc.
bpftool reads what is attached (tests.support.bpfcheck)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubedtn.dataplane import bpfmark
from kubedtn.ebpf.bypass import Bypass
from kubedtn.ebpf.syscall import prog_info
from tests.support import bypasslab
from tests.support.bpfcheck import egress_programs
from tests.support.netns import NamespacePool, path, qdiscs, sh

pytestmark = pytest.mark.root


@pytest.fixture
def marker() -> Iterator[Bypass]:
    """A Bypass enabled on a cgroup of the test's (only its marker program is used)."""
    with bypasslab.test_cgroup() as cgroup, bypasslab.test_pin_dir() as pin_dir:
        made = Bypass(pin_dir=pin_dir, cgroup=cgroup)
        try:
            made.enable()
            yield made
        finally:
            made.disable()
            made.close()


def test_mark_twice_is_one_filter_and_unmark_removes_it(pool: NamespacePool, marker: Bypass) -> None:
    (ns,) = pool.make(1)
    sh(ns, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth2")
    fd = marker.marker_program_fd()
    program = prog_info(fd).id
    assert bpfmark.read_marker(path(ns), "eth1") is None

    bpfmark.mark(path(ns), "eth1", fd)
    bpfmark.mark(path(ns), "eth1", fd)
    assert egress_programs(ns, "eth1") == {program: bpfmark.MARKER_NAME}
    assert bpfmark.read_marker(path(ns), "eth1") == bpfmark.LiveMarker(program_id=program, direct_action=True)
    assert [q["kind"] for q in qdiscs(ns, "eth1") if q["kind"] == "clsact"] == ["clsact"]
    assert egress_programs(ns, "eth2") == {}

    assert bpfmark.unmark(path(ns), "eth1") is True
    assert egress_programs(ns, "eth1") == {}
    assert not [q for q in qdiscs(ns, "eth1") if q["kind"] == "clsact"]
    assert bpfmark.unmark(path(ns), "eth1") is False  # nothing left: done
    assert bpfmark.unmark(path(ns), "nope") is False


def test_a_mark_with_another_program_replaces_the_filter_in_place(
    pool: NamespacePool, marker: Bypass
) -> None:
    (ns,) = pool.make(1)
    sh(ns, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth2")
    bpfmark.mark(path(ns), "eth1", marker.marker_program_fd())
    with bypasslab.test_cgroup() as other_cgroup, bypasslab.test_pin_dir() as other_pins:
        other = Bypass(pin_dir=other_pins, cgroup=other_cgroup)
        try:
            other.enable()
            fd = other.marker_program_fd()  # a second load: another program
            bpfmark.mark(path(ns), "eth1", fd)
            assert list(egress_programs(ns, "eth1")) == [prog_info(fd).id]
        finally:
            bpfmark.unmark(path(ns), "eth1")
            other.disable()
            other.close()
