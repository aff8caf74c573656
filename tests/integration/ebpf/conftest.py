"""Fixtures of the eBPF root tests: a cgroup and a pin directory made for the test, two
namespaces joined by a veth whose processes run in that cgroup, and a Bypass on them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedtn.ebpf.bypass import Bypass
from tests.support import bypasslab


@pytest.fixture
def cgroup() -> Iterator[Path]:
    with bypasslab.test_cgroup() as path:
        yield path


@pytest.fixture
def pin_dir() -> Iterator[Path]:
    with bypasslab.test_pin_dir() as path:
        yield path


@pytest.fixture
def pair(cgroup: Path) -> Iterator[bypasslab.Pair]:
    with bypasslab.veth_pair(cgroup) as made:
        yield made


@pytest.fixture
def bypass(pin_dir: Path, cgroup: Path) -> Iterator[Bypass]:
    """A Bypass of the test's cgroup, not enabled yet; disabled and closed after the test."""
    made = Bypass(pin_dir=pin_dir, cgroup=cgroup)
    try:
        yield made
    finally:
        made.disable()
        made.close()
