"""Reading an eBPF ELF object (as clang -target bpf writes it) into an ``ObjectSpec``.

Pure: bytes in, plain data out. What is read:

* programs: every executable section but ``.text``, one program per global function in it,
  its type from the section name (``SECTION_PROGRAM_TYPES``);
* maps: BTF-defined (``.maps``: the VARs of the ``.maps`` DATASEC, their members' sizes
  from ``.BTF``) and legacy (``maps``: ``struct bpf_map_def`` at each symbol);
* relocations: ``ld_imm64`` instructions that name a map (``.rel<section>``);
* the license (section ``license``).

clang 14 writes 0 for every DATASEC offset (libbpf fills them in), so a map's place in
``.maps`` is its ELF symbol's value, matched by name. Every way a file can be malformed
ends in ``ElfError`` naming the file and the section; pyelftools' own exceptions are turned
into one too.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from elftools.common.exceptions import ELFError as PyElfError
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import Section, SymbolTableSection

from kubedtn.ebpf import btf
from kubedtn.ebpf.errors import ElfError
from kubedtn.ebpf.spec import (
    INSTRUCTION_SIZE,
    LD_IMM64,
    SECTION_PROGRAM_TYPES,
    MapSpec,
    ObjectSpec,
    ProgramSpec,
    Relocation,
)

EM_BPF = "EM_BPF"
SHF_EXECINSTR = 0x4
R_BPF_64_64 = 1  # the relocation of an ld_imm64's 64-bit immediate
BTF_MAPS = ".maps"
LEGACY_MAPS = "maps"
_LEGACY_DEF = struct.Struct("<IIIII")  # type, key_size, value_size, max_entries, map_flags
# Members of a BTF-defined map; __uint(x, N) is `int (*x)[N]`, __type(x, T) is `T *x`.
_UINT_MEMBERS = {"type", "max_entries", "map_flags", "key_size", "value_size"}
_TYPE_MEMBERS = {"key", "value"}

# What pyelftools raises on a file it cannot parse (it reads lazily, so anywhere).
_PARSE_ERRORS = (
    PyElfError,
    ConstructError,
    struct.error,
    ValueError,
    IndexError,
    KeyError,
    EOFError,
    OverflowError,
    zlib.error,
)


def read_object(path: Path | str) -> ObjectSpec:
    """The spec of the object file at ``path``."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ElfError(f"{path}: cannot read the object: {e.strerror}") from e
    return read_object_bytes(data, source=str(path))


def read_object_bytes(data: bytes, *, source: str) -> ObjectSpec:
    """The spec of an object held in memory; ``source`` names it in errors."""
    try:
        return _Reader(data, source).read()
    except ElfError:
        raise
    except _PARSE_ERRORS as e:
        raise ElfError(f"{source}: not a readable ELF object ({type(e).__name__}: {e})") from e


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        self.source = source
        if data[:4] != b"\x7fELF":
            raise ElfError(f"{source}: not an ELF file (it starts with {data[:4]!r}, not b'\\x7fELF')")
        self.elf = ELFFile(io.BytesIO(data))
        machine = self.elf.header["e_machine"]
        if machine != EM_BPF:
            raise ElfError(f"{source}: ELF machine is {machine}, not EM_BPF: compile with clang -target bpf")
        if self.elf.elfclass != 64 or not self.elf.little_endian:
            raise ElfError(
                f"{source}: a {self.elf.elfclass}-bit "
                f"{'little' if self.elf.little_endian else 'big'}-endian object; "
                "this host loads 64-bit little-endian (-target bpf or bpfel)"
            )
        self.sections = list(self.elf.iter_sections())
        for section in self.sections:
            end = section["sh_offset"] + section["sh_size"]
            if section["sh_type"] != "SHT_NOBITS" and end > len(data):
                raise self.fail(
                    section.name or "?",
                    f"its {section['sh_size']} bytes at offset {section['sh_offset']} run past the end "
                    f"of the {len(data)}-byte file (truncated?)",
                )
        symtab = self.elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise ElfError(f"{source}: no .symtab section (was the object stripped of symbols?)")
        self.symbols = list(symtab.iter_symbols())

    def fail(self, section: str, what: str) -> ElfError:
        return ElfError(f"{self.source}: section {section}: {what}")

    def read(self) -> ObjectSpec:
        license_ = self._license()
        maps = self._maps()
        programs: dict[str, ProgramSpec] = {}
        for index, section in enumerate(self.sections):
            if section["sh_type"] != "SHT_PROGBITS" or not section["sh_flags"] & SHF_EXECINSTR:
                continue
            if section.name == ".text":
                if section.data_size:
                    raise self.fail(
                        ".text",
                        "holds functions called from programs (bpf-to-bpf calls), which this loader "
                        "does not link: make them static __always_inline",
                    )
                continue
            for program in self._programs(index, section, license_, maps):
                if program.name in programs:
                    raise self.fail(section.name, f"program {program.name} is defined twice")
                programs[program.name] = program
        if not programs:
            raise ElfError(f"{self.source}: no program sections (executable sections besides .text)")
        return ObjectSpec(source=self.source, programs=programs, maps=maps, license=license_)

    # ---- license --------------------------------------------------------------------

    def _license(self) -> str:
        section = self.elf.get_section_by_name("license")
        if section is None:
            raise ElfError(
                f'{self.source}: no license section (char _license[] SEC("license") = "...";): '
                "the kernel needs one to allow GPL-only helpers"
            )
        text = section.data().split(b"\0", 1)[0]
        try:
            return text.decode("ascii")
        except UnicodeDecodeError as e:
            raise self.fail("license", f"not ASCII text: {text[:40]!r}") from e

    # ---- maps -----------------------------------------------------------------------

    def _map_symbols(self, section_name: str) -> list[tuple[str, int, int]]:
        """(name, offset, size) of the symbols defined in one maps section."""
        index = self._section_index(section_name)
        if index is None:
            return []
        found = [
            (sym.name, sym["st_value"], sym["st_size"])
            for sym in self.symbols
            if sym["st_shndx"] == index
            and sym["st_info"]["type"] in ("STT_OBJECT", "STT_NOTYPE")
            and sym.name
        ]
        return sorted(found, key=lambda item: item[1])

    def _section_index(self, name: str) -> int | None:
        for index, section in enumerate(self.sections):
            if section.name == name:
                return index
        return None

    def _maps(self) -> dict[str, MapSpec]:
        maps = self._btf_maps()
        for spec in self._legacy_maps():
            if spec.name in maps:
                raise self.fail(LEGACY_MAPS, f"map {spec.name} is also defined in {BTF_MAPS}")
            maps[spec.name] = spec
        return maps

    def _legacy_maps(self) -> Iterator[MapSpec]:
        section = self.elf.get_section_by_name(LEGACY_MAPS)
        if section is None:
            return
        data = section.data()
        symbols = self._map_symbols(LEGACY_MAPS)
        if not symbols:
            raise self.fail(LEGACY_MAPS, "has no symbols naming its maps")
        # Old objects give no st_size: each definition runs to the next.
        stride = len(data) // len(symbols)
        for name, offset, symbol_size in symbols:
            size = symbol_size or stride
            if size < _LEGACY_DEF.size or offset + size > len(data):
                raise self.fail(
                    LEGACY_MAPS,
                    f"map {name}: definition at {offset} of {size} bytes does not fit a "
                    f"{_LEGACY_DEF.size}-byte struct bpf_map_def in {len(data)} bytes",
                )
            type_, key_size, value_size, max_entries, flags = _LEGACY_DEF.unpack_from(data, offset)
            yield self._checked_map(
                LEGACY_MAPS, MapSpec(name, type_, key_size, value_size, max_entries, flags)
            )

    def _btf_maps(self) -> dict[str, MapSpec]:
        if self.elf.get_section_by_name(BTF_MAPS) is None:
            return {}
        btf_section = self.elf.get_section_by_name(".BTF")
        if btf_section is None:
            raise self.fail(BTF_MAPS, "BTF-defined maps need the .BTF section (compile with -g)")
        types = btf.Btf(btf_section.data(), where=f"{self.source}: section .BTF")
        datasec = types.datasec(BTF_MAPS)
        if datasec is None:
            raise self.fail(".BTF", f"no DATASEC named {BTF_MAPS} describing the maps")
        symbols = {name for name, _, _ in self._map_symbols(BTF_MAPS)}
        maps: dict[str, MapSpec] = {}
        for entry in datasec.members:
            var = types.type(entry.type)
            if var.kind != btf.VAR:
                raise self.fail(".BTF", f"{BTF_MAPS} DATASEC entry of kind {var.kind}, expected a VAR")
            if var.name not in symbols:
                raise self.fail(BTF_MAPS, f"map {var.name} is in .BTF but has no symbol in {BTF_MAPS}")
            maps[var.name] = self._checked_map(BTF_MAPS, self._btf_map(types, var))
        return maps

    def _btf_map(self, types: btf.Btf, var: btf.BtfType) -> MapSpec:
        definition = types.resolve(var.size_or_type)
        if definition.kind != btf.STRUCT:
            raise self.fail(
                ".BTF", f"map {var.name}: its type is of kind {definition.kind}, expected a struct"
            )
        values: dict[str, int] = {"map_flags": 0}
        for member in definition.members:
            pointer = types.resolve(member.type)
            if pointer.kind != btf.PTR:
                raise self.fail(".BTF", f"map {var.name}: member {member.name} is not __uint() or __type()")
            if member.name in _UINT_MEMBERS:
                array = types.resolve(pointer.size_or_type)
                if array.kind != btf.ARRAY:
                    raise self.fail(
                        ".BTF", f"map {var.name}: member {member.name} is not written as __uint()"
                    )
                values[member.name] = array.array_length
            elif member.name in _TYPE_MEMBERS:
                values[f"{member.name}_size"] = types.size_of(pointer.size_or_type)
            else:
                raise self.fail(
                    ".BTF",
                    f"map {var.name}: member {member.name} is not supported "
                    f"(known: {', '.join(sorted(_UINT_MEMBERS | _TYPE_MEMBERS))})",
                )
        missing = [m for m in ("type", "max_entries", "key_size", "value_size") if m not in values]
        if missing:
            raise self.fail(".BTF", f"map {var.name}: no {', '.join(missing)}")
        return MapSpec(
            name=var.name,
            type=values["type"],
            key_size=values["key_size"],
            value_size=values["value_size"],
            max_entries=values["max_entries"],
            flags=values["map_flags"],
        )

    def _checked_map(self, section: str, spec: MapSpec) -> MapSpec:
        if not spec.name.replace("_", "").replace(".", "").isalnum():
            raise self.fail(section, f"map name {spec.name!r}: the kernel accepts letters, digits, _ and .")
        if spec.type == 0 or spec.max_entries == 0:
            raise self.fail(section, f"map {spec.name}: type {spec.type}, {spec.max_entries} entries")
        return spec

    # ---- programs -------------------------------------------------------------------

    def _programs(
        self, index: int, section: Section, license_: str, maps: dict[str, MapSpec]
    ) -> Iterator[ProgramSpec]:
        kind = section.name.split("/", 1)[0]
        if kind not in SECTION_PROGRAM_TYPES:
            raise self.fail(
                section.name,
                f"unknown program section; known: {', '.join(sorted(SECTION_PROGRAM_TYPES))} "
                "(optionally followed by /anything)",
            )
        code = section.data()
        if len(code) % INSTRUCTION_SIZE:
            raise self.fail(section.name, f"{len(code)} bytes, not a whole number of 8-byte instructions")
        functions = sorted(
            (sym["st_value"], sym["st_size"], sym.name)
            for sym in self.symbols
            if sym["st_shndx"] == index and sym["st_info"]["type"] == "STT_FUNC"
        )
        if not functions:
            raise self.fail(section.name, "holds code but no function symbol names a program in it")
        relocations = self._relocations(index, section.name, code, maps)
        for start, size, name in functions:
            if start % INSTRUCTION_SIZE or size % INSTRUCTION_SIZE or start + size > len(code) or not size:
                raise self.fail(
                    section.name, f"function {name} at {start}+{size} is not whole instructions inside"
                )
            mine = tuple(
                Relocation((offset - start) // INSTRUCTION_SIZE, map_name)
                for offset, map_name in relocations
                if start <= offset < start + size
            )
            yield ProgramSpec(
                name=name,
                section=section.name,
                type=SECTION_PROGRAM_TYPES[kind],
                instructions=code[start : start + size],
                relocations=mine,
                license=license_,
            )

    def _relocations(
        self, index: int, section_name: str, code: bytes, maps: dict[str, MapSpec]
    ) -> list[tuple[int, str]]:
        """(byte offset, map name) for each relocation of the program section ``index``."""
        found: list[tuple[int, str]] = []
        for rel_section in self.sections:
            if not isinstance(rel_section, RelocationSection) or rel_section["sh_info"] != index:
                continue
            if rel_section.is_RELA():
                raise self.fail(rel_section.name, "RELA relocations are not written by clang for BPF")
            for rel in rel_section.iter_relocations():
                found.append(self._map_relocation(section_name, code, rel, maps))
        return found

    def _map_relocation(
        self, section_name: str, code: bytes, rel: Any, maps: dict[str, MapSpec]
    ) -> tuple[int, str]:
        offset, kind, symbol_index = rel["r_offset"], rel["r_info_type"], rel["r_info_sym"]
        where = f"relocation at byte {offset}"
        if symbol_index >= len(self.symbols):
            raise self.fail(section_name, f"{where} names symbol {symbol_index}, beyond the symbol table")
        symbol = self.symbols[symbol_index]
        target = self._section_name(symbol["st_shndx"])
        if kind != R_BPF_64_64:
            raise self.fail(
                section_name,
                f"{where} (type {kind}) to {symbol.name or target}: only map references (R_BPF_64_64) "
                "are linked; calls to other functions must be inlined",
            )
        if offset % INSTRUCTION_SIZE or offset + 2 * INSTRUCTION_SIZE > len(code):
            raise self.fail(section_name, f"{where} does not point at an instruction of the section")
        if code[offset] != LD_IMM64:
            raise self.fail(section_name, f"{where} points at opcode {code[offset]:#04x}, not ld_imm64")
        if target not in (BTF_MAPS, LEGACY_MAPS):
            raise self.fail(
                section_name,
                f"{where} refers to {symbol.name or '?'} in section {target}: global variables "
                f"(.data, .rodata, .bss) are not supported, only maps in {BTF_MAPS} or {LEGACY_MAPS}",
            )
        name = symbol.name
        if symbol["st_info"]["type"] == "STT_SECTION":
            # A static map: the section's symbol, the offset in the instruction's immediate.
            (addend,) = struct.unpack_from("<i", code, offset + 4)
            by_offset = {off: n for n, off, _ in self._map_symbols(target)}
            name = by_offset.get(addend + symbol["st_value"], "")
        if name not in maps:
            raise self.fail(
                section_name, f"{where} refers to {name or '?'} in {target}, which defines no such map"
            )
        return offset, name

    def _section_name(self, shndx: Any) -> str:
        if isinstance(shndx, int) and 0 < shndx < len(self.sections):
            return str(self.sections[shndx].name)
        return str(shndx)
