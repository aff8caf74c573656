"""A program the kernel's verifier refuses: VerifierError with the verifier's own words,
and nothing of the object left loaded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kubedtn.ebpf import loader, syscall
from kubedtn.ebpf.elf import read_object
from kubedtn.ebpf.errors import BpfSyscallError, VerifierError
from tests.support import bpfc

pytestmark = pytest.mark.root


def test_a_refused_program_raises_with_the_verifier_log(tmp_path: Path) -> None:
    spec = read_object(bpfc.compile_c(bpfc.UNCHECKED_LOOKUP, tmp_path))
    with pytest.raises(VerifierError) as raised:
        loader.load_collection(spec)
    error = raised.value
    # the kernel's words, in the summary and in the whole log
    assert "invalid mem access 'map_value_or_null'" in str(error)
    assert "kdtn_unchecked" in str(error)
    assert "invalid mem access" in error.log
    assert len(error.log.splitlines()) > len(str(error).splitlines()) - 1
    assert error.program == "kdtn_unchecked"


def map_names() -> set[str]:
    names = set()
    for map_id in syscall.map_ids():
        try:
            fd = syscall.map_fd_by_id(map_id)
        except BpfSyscallError:  # freed meanwhile
            continue
        try:
            names.add(syscall.map_info(fd).name)
        finally:
            os.close(fd)
    return names


def test_a_refused_load_leaves_no_map_behind(tmp_path: Path) -> None:
    spec = read_object(
        bpfc.compile_c(bpfc.UNCHECKED_LOOKUP.replace("kdtn_legacy", "kdtn_leftover"), tmp_path)
    )
    with pytest.raises(VerifierError):
        loader.load_collection(spec)
    # a map is freed from a workqueue once its last fd is closed: poll
    deadline = time.monotonic() + 10
    while "kdtn_leftover" in map_names():
        assert time.monotonic() < deadline, "the map of a refused load is still in the kernel"
        time.sleep(0.05)
