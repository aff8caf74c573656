"""PT_INTERP read and rewritten in place, on this machine's Python binary (a real ELF)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubedtn.cni import elfinterp
from kubedtn.errors import ValidationError

BINARY = os.path.realpath(sys.executable)


@pytest.fixture(scope="module")
def elf() -> bytes:
    return Path(BINARY).read_bytes()


def test_the_interpreter_of_a_dynamic_executable(elf: bytes) -> None:
    slot = elfinterp.interpreter(elf, source=BINARY)
    # What the kernel reads: the segment's bytes, NUL-terminated.
    assert elf[slot.offset : slot.offset + slot.size] == slot.path.encode() + b"\0"
    assert os.path.isabs(slot.path) and os.path.exists(slot.path)


def test_a_shorter_path_is_written_into_the_slot_and_nothing_else_changes(elf: bytes) -> None:
    slot = elfinterp.interpreter(elf, source=BINARY)
    patched = elfinterp.with_interpreter(elf, "/x/ld.so", source=BINARY)
    assert len(patched) == len(elf)
    assert elfinterp.interpreter(patched, source="p") == elfinterp.Slot("/x/ld.so", slot.offset, slot.size)
    assert patched[: slot.offset] == elf[: slot.offset]
    assert patched[slot.offset + slot.size :] == elf[slot.offset + slot.size :]
    assert patched[slot.offset + len("/x/ld.so") : slot.offset + slot.size] == b"\0" * (slot.size - 8)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kdi", dir="/tmp"))  # short: the slot is the loader's length
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_the_kernel_runs_a_rewritten_executable(elf: bytes, short_dir: Path) -> None:
    loader = short_dir / "ld"
    loader.symlink_to(elfinterp.interpreter(elf, source=BINARY).path)
    binary = short_dir / "python"
    binary.write_bytes(elfinterp.with_interpreter(elf, str(loader), source=BINARY))
    binary.chmod(0o755)
    proc = subprocess.run([str(binary), "-S", "-c", "print(6 * 7)"], capture_output=True, check=False)
    assert (proc.returncode, proc.stdout) == (0, b"42\n"), proc.stderr
    loader.unlink()  # the interpreter it names now: without it, no exec
    with pytest.raises(FileNotFoundError):
        subprocess.run([str(binary), "-c", "pass"], check=False)


def test_what_does_not_fit_or_is_no_elf_is_refused(elf: bytes) -> None:
    slot = elfinterp.interpreter(elf, source=BINARY)
    too_long = "/" + "a" * (slot.size - 1)
    with pytest.raises(
        ValidationError,
        match=rf"python: interpreter path .* is {slot.size} bytes; .* at most {slot.size - 1}",
    ):
        elfinterp.with_interpreter(elf, too_long, source="python")
    with pytest.raises(ValidationError, match=r"python: interpreter 'lib/ld.so' must be an absolute path"):
        elfinterp.with_interpreter(elf, "lib/ld.so", source="python")
    with pytest.raises(ValidationError, match=r"script: not an ELF file"):
        elfinterp.interpreter(b"#!/bin/sh\n" + b"\0" * 64, source="script")
    elf32 = elf[:4] + b"\x01" + elf[5:]
    with pytest.raises(ValidationError, match=r"e32: ELF class 1, .* only 64-bit little-endian"):
        elfinterp.interpreter(elf32, source="e32")
    with pytest.raises(ValidationError, match=r"cut: program headers out of the file"):
        elfinterp.interpreter(elf[:80], source="cut")


def test_an_executable_without_interpreter(elf: bytes) -> None:
    # Every program header's type set to PT_NULL: as a static executable has no PT_INTERP.
    phoff, phentsize, phnum = struct.unpack_from("<Q", elf, 0x20)[0], *struct.unpack_from("<HH", elf, 0x36)
    data = bytearray(elf)
    for index in range(phnum):
        struct.pack_into("<I", data, phoff + index * phentsize, 0)
    with pytest.raises(ValidationError, match=r"static: no PT_INTERP segment"):
        elfinterp.interpreter(bytes(data), source="static")
