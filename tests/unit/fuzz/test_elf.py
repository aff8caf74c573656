"""Fuzz: the ELF reader on the committed object with bytes changed, cut short or spliced.
It returns a spec or raises ElfError naming the file, never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubedtn.ebpf import objects
from kubedtn.ebpf.elf import read_object_bytes
from kubedtn.ebpf.errors import ElfError
from kubedtn.ebpf.spec import ObjectSpec
from tests.unit.fuzz.budget import examples

pytestmark = pytest.mark.fuzz

GOOD = objects.object_bytes(objects.BYPASS)

_edits = st.lists(
    st.tuples(st.integers(min_value=0, max_value=len(GOOD) - 1), st.binary(min_size=1, max_size=8)),
    min_size=1,
    max_size=6,
)


def _read(data: bytes) -> None:
    try:
        spec = read_object_bytes(data, source="fuzzed.o")
    except ElfError as e:
        assert str(e).startswith("fuzzed.o: ")
        return
    assert isinstance(spec, ObjectSpec)


@examples(300)
@given(_edits)
def test_changed_bytes(edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(GOOD)
    for at, new in edits:
        data[at : at + len(new)] = new
    _read(bytes(data[: len(GOOD)]))


@examples(100)
@given(st.integers(min_value=0, max_value=len(GOOD)), st.binary(max_size=64))
def test_cut_short_and_padded(keep: int, tail: bytes) -> None:
    _read(GOOD[:keep] + tail)
