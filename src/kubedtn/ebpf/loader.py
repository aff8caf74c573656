"""Live objects from a spec: maps created, programs patched and loaded, each an fd.

``load_collection`` creates the maps first, then the programs (their ``ld_imm64`` map
relocations given the maps' fds, ``BPF_PSEUDO_MAP_FD``), and closes everything it made if
any step fails, so a failed load leaves nothing behind. The spec is never changed:
``patched_instructions`` works on a copy. ``expected_tags`` computes the tags the kernel
will report for a program, which is how a pinned program is recognised as this build's.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from kubedtn.ebpf import syscall
from kubedtn.ebpf.errors import EbpfError, VerifierError
from kubedtn.ebpf.spec import INSTRUCTION_SIZE, LD_IMM64, MapSpec, MapType, ObjectSpec, ProgramSpec

__all__ = [
    "Collection",
    "LoadedMap",
    "LoadedProgram",
    "VerifierError",
    "expected_tags",
    "load_collection",
    "load_map",
    "load_program",
    "patched_instructions",
    "possible_cpus",
]

PSEUDO_MAP_FD = 1
_PER_CPU = {MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH}


def possible_cpus() -> int:
    """How many values a per-CPU map holds per key (the kernel's possible CPUs)."""
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    count = 0
    for part in text.split(","):
        first, _, last = part.partition("-")
        count += int(last or first) - int(first) + 1
    return count


class _Fd:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise EbpfError(f"{self!r} is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def pin(self, path: str) -> None:
        syscall.obj_pin(self.fd, path)


class LoadedMap(_Fd):
    """A map in the kernel, by fd; ``spec`` is what it was made from (or checked against)."""

    def __init__(self, spec: MapSpec, fd: int) -> None:
        super().__init__(fd)
        self.spec = spec

    def __repr__(self) -> str:
        return f"LoadedMap({self.spec.name}, fd={self._fd})"

    def info(self) -> syscall.MapInfo:
        return syscall.map_info(self.fd)

    @property
    def value_bytes(self) -> int:
        """Bytes a lookup returns: per-CPU maps hold one 8-byte-aligned value per CPU."""
        if self.spec.type in _PER_CPU:
            return ((self.spec.value_size + 7) // 8 * 8) * possible_cpus()
        return self.spec.value_size

    def lookup(self, key: bytes) -> bytes | None:
        return syscall.map_lookup(self.fd, key, self.value_bytes)

    def update(self, key: bytes, value: bytes, flags: int = syscall.ANY) -> None:
        syscall.map_update(self.fd, key, value, flags)

    def delete(self, key: bytes) -> bool:
        return syscall.map_delete(self.fd, key)

    def keys(self) -> Iterator[bytes]:
        key = syscall.map_next_key(self.fd, None, self.spec.key_size)
        while key is not None:
            yield key
            key = syscall.map_next_key(self.fd, key, self.spec.key_size)

    def per_cpu_u64(self, key: bytes) -> list[int]:
        """A per-CPU map's 8-byte values at ``key``, one per CPU (empty when absent)."""
        raw = self.lookup(key)
        return [] if raw is None else [v for (v,) in struct.iter_unpack("<Q", raw)]


class LoadedProgram(_Fd):
    def __init__(self, spec: ProgramSpec, fd: int) -> None:
        super().__init__(fd)
        self.spec = spec

    def __repr__(self) -> str:
        return f"LoadedProgram({self.spec.name}, fd={self._fd})"

    def info(self) -> syscall.ProgramInfo:
        return syscall.prog_info(self.fd)


@dataclass
class Collection:
    """The live maps and programs of one object, by name."""

    maps: dict[str, LoadedMap] = field(default_factory=dict)
    programs: dict[str, LoadedProgram] = field(default_factory=dict)

    def close(self) -> None:
        for item in [*self.programs.values(), *self.maps.values()]:
            item.close()


def patched_instructions(program: ProgramSpec, map_fds: Mapping[str, int]) -> bytes:
    """The program's instructions with each map relocation's ld_imm64 given its map's fd."""
    code = bytearray(program.instructions)
    for relocation in program.relocations:
        if relocation.map_name not in map_fds:
            raise EbpfError(f"program {program.name}: needs map {relocation.map_name}, which was not loaded")
        at = relocation.instruction * INSTRUCTION_SIZE
        if code[at] != LD_IMM64:
            raise EbpfError(
                f"program {program.name}: relocation at instruction {relocation.instruction} is not ld_imm64"
            )
        code[at + 1] = (code[at + 1] & 0x0F) | (PSEUDO_MAP_FD << 4)
        struct.pack_into("<i", code, at + 4, map_fds[relocation.map_name])
    return bytes(code)


def expected_tags(program: ProgramSpec) -> frozenset[bytes]:
    """The tags the kernel may give this program: the first 8 bytes of a hash of its
    instructions with map fds zeroed (kernel/bpf/core.c bpf_prog_calc_tag): SHA-256 since
    Linux 6.18, SHA-1 before. Fd-independent, so a pinned program can be compared with
    this build's."""
    code = patched_instructions(program, {r.map_name: 0 for r in program.relocations})
    return frozenset({hashlib.sha256(code).digest()[:8], hashlib.sha1(code).digest()[:8]})


def load_map(spec: MapSpec) -> LoadedMap:
    fd = syscall.map_create(
        map_type=spec.type,
        key_size=spec.key_size,
        value_size=spec.value_size,
        max_entries=spec.max_entries,
        flags=spec.flags,
        name=spec.name,
    )
    return LoadedMap(spec, fd)


def load_program(spec: ProgramSpec, maps: Mapping[str, LoadedMap]) -> LoadedProgram:
    code = patched_instructions(spec, {name: m.fd for name, m in maps.items()})
    fd = syscall.prog_load(
        prog_type=int(spec.type),
        instructions=code,
        license=spec.license,
        name=spec.name,
        expected_attach_type=spec.expected_attach_type,
    )
    return LoadedProgram(spec, fd)


def load_collection(spec: ObjectSpec, *, programs: list[str] | None = None) -> Collection:
    """Every map of ``spec``, then its programs (or those named); all or nothing."""
    collection = Collection()
    try:
        for name, map_spec in spec.maps.items():
            collection.maps[name] = load_map(map_spec)
        for name in programs if programs is not None else list(spec.programs):
            if name not in spec.programs:
                raise EbpfError(f"{spec.source}: no program {name} (it has {', '.join(spec.programs)})")
            collection.programs[name] = load_program(spec.programs[name], collection.maps)
    except BaseException:
        collection.close()
        raise
    return collection
