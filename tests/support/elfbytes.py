"""ELF64 section headers read and patched by hand, with struct: an oracle independent of
pyelftools (which the code under test uses), and the way tests make malformed objects."""

from __future__ import annotations

import struct
from dataclasses import dataclass

_SECTION = struct.Struct("<IIQQQQIIQQ")


@dataclass(frozen=True)
class SectionHeader:
    index: int
    header_at: int  # where the header itself is in the file
    name: str
    name_at: int  # where its name is in the file (in the section-name string table)
    type: int
    offset: int
    size: int
    info: int


def sections(data: bytes) -> dict[str, SectionHeader]:
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    raw = [_SECTION.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    strings_at = raw[shstrndx][4]
    found = {}
    for index, (name_off, sh_type, _flags, _addr, offset, size, _link, info, _align, _entsize) in enumerate(
        raw
    ):
        name_at = strings_at + name_off
        name = data[name_at : data.index(b"\0", name_at)].decode()
        found[name] = SectionHeader(
            index, shoff + index * shentsize, name, name_at, sh_type, offset, size, info
        )
    return found


def section_bytes(data: bytes, name: str) -> bytes:
    header = sections(data)[name]
    return data[header.offset : header.offset + header.size]


def rename_section(data: bytes, name: str, new_name: str) -> bytes:
    """``data`` with section ``name`` called ``new_name`` (same length: the string is
    overwritten in place, so a name sharing its tail, such as .rel.BTF, changes too)."""
    assert len(new_name) == len(name)
    header = sections(data)[name]
    patched = bytearray(data)
    patched[header.name_at : header.name_at + len(name)] = new_name.encode()
    return bytes(patched)


def patch(data: bytes, at: int, new: bytes) -> bytes:
    return data[:at] + new + data[at + len(new) :]
