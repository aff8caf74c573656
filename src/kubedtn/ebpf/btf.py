"""The part of BTF (the ``.BTF`` section) that BTF-defined maps need, read as plain data.

Layout (linux/btf.h): a header, then the type section (each ``struct btf_type`` followed by
data that depends on its kind), then the string section. Type ids start at 1 (0 is void).
Only types are read, never loaded into the kernel: the maps are created from the sizes the
types give.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from kubedtn.ebpf.errors import ElfError

MAGIC = 0xEB9F
_HEADER = struct.Struct("<HBBIIIII")

INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC = 9, 10, 11, 12, 13, 14, 15
FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = 16, 17, 18, 19

# Bytes after struct btf_type, per kind: (fixed, per vlen entry).
_TRAILER = {
    INT: (4, 0),
    PTR: (0, 0),
    ARRAY: (12, 0),
    STRUCT: (0, 12),
    UNION: (0, 12),
    ENUM: (0, 8),
    FWD: (0, 0),
    TYPEDEF: (0, 0),
    VOLATILE: (0, 0),
    CONST: (0, 0),
    RESTRICT: (0, 0),
    FUNC: (0, 0),
    FUNC_PROTO: (0, 8),
    VAR: (4, 0),
    DATASEC: (0, 12),
    FLOAT: (0, 0),
    DECL_TAG: (4, 0),
    TYPE_TAG: (0, 0),
    ENUM64: (0, 12),
}
# Kinds that only qualify or rename the type they point at.
_ALIASES = {TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG}
_SIZED = {INT, STRUCT, UNION, ENUM, ENUM64, FLOAT, DATASEC}


@dataclass(frozen=True)
class Member:
    """A struct member (offset in bits) or a DATASEC entry (offset in bytes, size)."""

    name: str
    type: int
    offset: int
    size: int = 0


@dataclass(frozen=True)
class BtfType:
    kind: int
    name: str
    size_or_type: int  # size for sized kinds, the referenced type id for the others
    members: tuple[Member, ...] = ()
    array_type: int = 0  # ARRAY: element type and length
    array_length: int = 0


class Btf:
    """The types of one ``.BTF`` section; ``where`` names it in errors."""

    def __init__(self, data: bytes, *, where: str) -> None:
        self.where = where
        self.types: list[BtfType | None] = [None]  # id 0: void
        self._parse(data)

    def _fail(self, what: str) -> ElfError:
        return ElfError(f"{self.where}: bad BTF: {what}")

    def _parse(self, data: bytes) -> None:
        if len(data) < _HEADER.size:
            raise self._fail(f"{len(data)} bytes, shorter than its {_HEADER.size}-byte header")
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise self._fail(f"magic {magic:#06x}, expected {MAGIC:#06x} (little-endian BTF)")
        if version != 1:
            raise self._fail(f"version {version}, only version 1 is known")
        types_start, strings_start = hdr_len + type_off, hdr_len + str_off
        if hdr_len < _HEADER.size or max(types_start + type_len, strings_start + str_len) > len(data):
            raise self._fail(
                f"header says types at {types_start}+{type_len} and strings at "
                f"{strings_start}+{str_len}, but the section has {len(data)} bytes"
            )
        strings = data[strings_start : strings_start + str_len]
        offset, end = types_start, types_start + type_len
        while offset < end:
            if offset + 12 > end:
                raise self._fail(f"type {len(self.types)} cut off at byte {offset}")
            name_off, info, size_or_type = struct.unpack_from("<III", data, offset)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            if kind not in _TRAILER:
                raise self._fail(f"type {len(self.types)} has unknown kind {kind}")
            fixed, per_entry = _TRAILER[kind]
            body, after = offset + 12, offset + 12 + fixed + per_entry * vlen
            if after > end:
                raise self._fail(f"type {len(self.types)} (kind {kind}) runs past the type section")
            self.types.append(self._read_type(data, strings, kind, vlen, name_off, size_or_type, body=body))
            offset = after

    def _string(self, strings: bytes, offset: int) -> str:
        if offset >= len(strings) and offset != 0:
            raise self._fail(f"string offset {offset} beyond the {len(strings)}-byte string section")
        stop = strings.find(b"\0", offset)
        if stop < 0:
            raise self._fail(f"string at {offset} has no terminating NUL")
        try:
            return strings[offset:stop].decode("ascii")
        except UnicodeDecodeError as e:
            raise self._fail(f"string at {offset} is not ASCII") from e

    def _read_type(  # noqa: PLR0917 (the fields of one struct btf_type)
        self, data: bytes, strings: bytes, kind: int, vlen: int, name_off: int, ref: int, *, body: int
    ) -> BtfType:
        name = self._string(strings, name_off)
        if kind == ARRAY:
            elem, _index, length = struct.unpack_from("<III", data, body)
            return BtfType(kind, name, ref, array_type=elem, array_length=length)
        if kind in (STRUCT, UNION, DATASEC):
            members = []
            for i in range(vlen):
                a, b, c = struct.unpack_from("<III", data, body + 12 * i)
                if kind == DATASEC:  # (var type, offset, size); its name is the VAR's
                    members.append(Member("", a, b, c))
                else:  # (name, type, bit offset)
                    members.append(Member(self._string(strings, a), b, c))
            return BtfType(kind, name, ref, members=tuple(members))
        return BtfType(kind, name, ref)

    def type(self, type_id: int) -> BtfType:
        found = self.types[type_id] if 0 < type_id < len(self.types) else None
        if found is None:
            raise self._fail(f"reference to type id {type_id}, but ids go from 1 to {len(self.types) - 1}")
        return found

    def resolve(self, type_id: int) -> BtfType:
        """The type behind typedefs and qualifiers."""
        for _ in range(64):
            found = self.type(type_id)
            if found.kind not in _ALIASES:
                return found
            type_id = found.size_or_type
        raise self._fail(f"type {type_id}: typedef or qualifier chain longer than 64 (a loop?)")

    def size_of(self, type_id: int) -> int:
        found = self.resolve(type_id)
        if found.kind in _SIZED:
            return found.size_or_type
        if found.kind == PTR:
            return 8
        if found.kind == ARRAY:
            return found.array_length * self.size_of(found.array_type)
        raise self._fail(f"type {type_id} ({found.name or 'anonymous'}, kind {found.kind}) has no size")

    def datasec(self, name: str) -> BtfType | None:
        for found in self.types:
            if found is not None and found.kind == DATASEC and found.name == name:
                return found
        return None
