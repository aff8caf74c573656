"""What an object file asks for, as plain data (no file descriptors, no syscalls).

``kubedtn.ebpf.elf`` reads an ELF object into an ``ObjectSpec``; ``kubedtn.ebpf.loader``
turns one into live objects. A spec is never changed by loading it: the loader patches a
copy of the instructions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

INSTRUCTION_SIZE = 8
# ld_imm64 (BPF_LD | BPF_IMM | BPF_DW): the one instruction that carries a map.
LD_IMM64 = 0x18


class ProgramType(IntEnum):
    """enum bpf_prog_type (linux/bpf.h), the ones kubedtn reads sections for."""

    SOCKET_FILTER = 1
    SCHED_CLS = 3
    SCHED_ACT = 4
    XDP = 6
    CGROUP_SKB = 8
    CGROUP_SOCK = 9
    SOCK_OPS = 13
    SK_SKB = 14
    SK_MSG = 16


class MapType(IntEnum):
    """enum bpf_map_type (linux/bpf.h)."""

    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    SOCKMAP = 15
    SOCKHASH = 18
    RINGBUF = 27


# Section name (up to its first "/") -> program type, as clang users name them. (cgroup/*
# sections are left out: their type depends on what follows the slash.)
SECTION_PROGRAM_TYPES: Mapping[str, ProgramType] = {
    "socket": ProgramType.SOCKET_FILTER,
    "tc": ProgramType.SCHED_CLS,
    "classifier": ProgramType.SCHED_CLS,
    "action": ProgramType.SCHED_ACT,
    "xdp": ProgramType.XDP,
    "cgroup_skb": ProgramType.CGROUP_SKB,
    "sockops": ProgramType.SOCK_OPS,
    "sk_skb": ProgramType.SK_SKB,
    "sk_msg": ProgramType.SK_MSG,
}


@dataclass(frozen=True)
class MapSpec:
    """A map as the object defines it (BTF-defined in ``.maps`` or legacy in ``maps``)."""

    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0

    def describe(self) -> str:
        kind = MapType(self.type).name if self.type in MapType._value2member_map_ else str(self.type)
        return (
            f"{self.name} ({kind}, key {self.key_size} B, value {self.value_size} B, "
            f"{self.max_entries} entries, flags {self.flags:#x})"
        )


@dataclass(frozen=True)
class Relocation:
    """An ld_imm64 instruction that must be given the fd of map ``map_name``."""

    instruction: int  # index into the program's instructions
    map_name: str


@dataclass(frozen=True)
class ProgramSpec:
    """One program: its function's instructions in its section, and its map relocations."""

    name: str
    section: str
    type: ProgramType
    instructions: bytes
    relocations: tuple[Relocation, ...]
    license: str
    expected_attach_type: int = 0

    @property
    def instruction_count(self) -> int:
        return len(self.instructions) // INSTRUCTION_SIZE


@dataclass(frozen=True)
class ObjectSpec:
    """Everything one object file holds: programs by name and maps by name."""

    source: str  # the file it was read from, for messages
    programs: Mapping[str, ProgramSpec] = field(default_factory=dict)
    maps: Mapping[str, MapSpec] = field(default_factory=dict)
    license: str = ""

    def in_section(self, section: str) -> list[ProgramSpec]:
        """The programs of one ELF section, in the order they appear."""
        return [p for p in self.programs.values() if p.section == section]
