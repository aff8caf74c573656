"""The program interpreter of an ELF executable (PT_INTERP), read and rewritten in place.

    interpreter(data, *, source) -> Slot
    with_interpreter(data, path, *, source) -> bytes

The portable Python runtime (hack/portable-python.sh) is built with a PT_INTERP slot far
longer than its path, so that kubedtn.cni.pyruntime can point the copy it installs on a
node at that copy's own dynamic loader without patchelf: the new path is written over
the old one and the rest of the slot filled with NUL bytes. The kernel reads the whole
segment and requires only that its last byte is NUL; the loader uses the C string.

Pure functions on bytes: 64-bit little-endian ELF (x86-64, arm64) only.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from kubedtn.errors import ValidationError

PT_INTERP = 3
_ELF_MAGIC = b"\x7fELF"
_ELFCLASS64 = 2
_ELFDATA2LSB = 1
_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")  # Elf64_Ehdr
_PROGRAM_HEADER = struct.Struct("<IIQQQQQQ")  # Elf64_Phdr


@dataclass(frozen=True)
class Slot:
    path: str  # the interpreter named now
    offset: int  # of the segment in the file
    size: int  # bytes, the terminating NUL included: a new path may have size - 1


def interpreter(data: bytes, *, source: str) -> Slot:
    """The PT_INTERP segment of an executable's bytes (`source` names it in errors)."""
    if len(data) < _HEADER.size or data[:4] != _ELF_MAGIC:
        raise ValidationError(f"{source}: not an ELF file (no \\x7fELF header)")
    if data[4] != _ELFCLASS64 or data[5] != _ELFDATA2LSB:
        raise ValidationError(
            f"{source}: ELF class {data[4]}, data encoding {data[5]}; only 64-bit little-endian "
            f"(class {_ELFCLASS64}, encoding {_ELFDATA2LSB}) executables are supported"
        )
    fields = _HEADER.unpack_from(data)
    phoff, phentsize, phnum = fields[5], fields[9], fields[10]
    if phentsize < _PROGRAM_HEADER.size or phoff + phentsize * phnum > len(data):
        raise ValidationError(f"{source}: program headers out of the file (truncated?)")
    for index in range(phnum):
        header = _PROGRAM_HEADER.unpack_from(data, phoff + index * phentsize)
        p_type, p_offset, p_filesz = header[0], header[2], header[5]
        if p_type != PT_INTERP:
            continue
        if p_filesz < 2 or p_offset + p_filesz > len(data) or data[p_offset + p_filesz - 1] != 0:
            raise ValidationError(f"{source}: PT_INTERP segment is not a NUL-terminated path")
        raw = data[p_offset : p_offset + p_filesz].split(b"\0", 1)[0]
        return Slot(path=raw.decode("utf-8", "surrogateescape"), offset=p_offset, size=p_filesz)
    raise ValidationError(f"{source}: no PT_INTERP segment (a static executable or a library)")


def with_interpreter(data: bytes, path: str, *, source: str) -> bytes:
    """The executable's bytes with PT_INTERP naming `path` (absolute, fitting the slot)."""
    slot = interpreter(data, source=source)
    encoded = path.encode("utf-8", "surrogateescape")
    if not path.startswith("/") or b"\0" in encoded:
        raise ValidationError(f"{source}: interpreter {path!r} must be an absolute path without NUL bytes")
    if len(encoded) >= slot.size:
        raise ValidationError(
            f"{source}: interpreter path {path!r} is {len(encoded)} bytes; its PT_INTERP slot holds "
            f"at most {slot.size - 1} (rebuild with hack/portable-python.sh, which makes it 1023)"
        )
    new = encoded + b"\0" * (slot.size - len(encoded))
    return data[: slot.offset] + new + data[slot.offset + slot.size :]
