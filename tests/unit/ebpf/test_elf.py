"""The ELF reader on the committed object (checked against a hand-written section reader
and llvm-objdump) and on objects compiled here with clang (legacy maps)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kubedtn.ebpf import objects
from kubedtn.ebpf.elf import read_object, read_object_bytes
from kubedtn.ebpf.spec import INSTRUCTION_SIZE, LD_IMM64, MapSpec, MapType, ProgramType
from tests.support import bpfc, elfbytes


@pytest.fixture(scope="module")
def committed() -> bytes:
    return objects.object_bytes(objects.BYPASS)


def test_programs_by_section(committed: bytes) -> None:
    spec = read_object_bytes(committed, source="bypass.o")
    assert {p.section: (p.name, p.type) for p in spec.programs.values()} == {
        "sockops": ("kubedtn_sockops", ProgramType.SOCK_OPS),
        "sk_msg": ("kubedtn_sk_msg", ProgramType.SK_MSG),
        "tc": ("kubedtn_marker", ProgramType.SCHED_CLS),
    }
    assert [p.name for p in spec.in_section("sockops")] == ["kubedtn_sockops"]
    assert spec.license == "Dual BSD/GPL"
    for program in spec.programs.values():
        # each section holds one function: its code is the whole section
        assert program.instructions == elfbytes.section_bytes(committed, program.section)
        assert program.license == spec.license


def test_btf_defined_maps(committed: bytes) -> None:
    """The sizes bpf/bypass.c declares (struct sock_key 48 bytes, struct flow 40, struct
    holder 16)."""
    spec = read_object_bytes(committed, source="bypass.o")
    assert dict(spec.maps) == {
        "kubedtn_socks": MapSpec("kubedtn_socks", MapType.SOCKHASH, 48, 4, 65536),
        "kubedtn_flows": MapSpec("kubedtn_flows", MapType.LRU_HASH, 40, 16, 65536),
        "kubedtn_marked": MapSpec("kubedtn_marked", MapType.LRU_HASH, 48, 4, 65536),
        "kubedtn_counts": MapSpec("kubedtn_counts", MapType.PERCPU_ARRAY, 4, 8, 3),
    }


@pytest.mark.skipif(
    shutil.which("llvm-objdump") is None, reason="llvm-objdump is not installed (Debian llvm)"
)
def test_relocations_agree_with_llvm_objdump(committed: bytes, tmp_path: Path) -> None:
    path = tmp_path / "bypass.o"
    path.write_bytes(committed)
    listing = subprocess.run(
        ["llvm-objdump", "-r", str(path)], capture_output=True, text=True, check=True
    ).stdout
    theirs, section = set(), ""
    for line in listing.splitlines():
        if match := re.match(r"RELOCATION RECORDS FOR \[(.+)\]:", line):
            section = match[1]
        elif (match := re.match(r"([0-9a-f]{16}) R_BPF_64_64\s+(\S+)", line)) and not section.startswith(
            ".BTF"
        ):
            theirs.add((section, int(match[1], 16), match[2]))
    spec = read_object(path)
    ours = {
        (p.section, r.instruction * INSTRUCTION_SIZE, r.map_name)
        for p in spec.programs.values()
        for r in p.relocations
    }
    assert ours == theirs
    assert len(ours) > 10
    for program in spec.programs.values():
        for relocation in program.relocations:
            assert program.instructions[relocation.instruction * INSTRUCTION_SIZE] == LD_IMM64


def test_legacy_maps(tmp_path: Path) -> None:
    spec = read_object(bpfc.compile_c(bpfc.UNCHECKED_LOOKUP, tmp_path))
    assert dict(spec.maps) == {"kdtn_legacy": MapSpec("kdtn_legacy", MapType.HASH, 4, 8, 1)}
    (program,) = spec.in_section("sockops")
    assert program.name == "kdtn_unchecked"
    assert [r.map_name for r in program.relocations] == ["kdtn_legacy"]
    assert program.license == "GPL"


def test_two_programs_in_one_section(tmp_path: Path) -> None:
    source = """
    SEC("tc") int kdtn_first(struct __sk_buff *skb) { return 0; }
    SEC("tc") int kdtn_second(struct __sk_buff *skb) { return skb->len > 100; }
    """
    spec = read_object(bpfc.compile_c(source, tmp_path))
    first, second = spec.in_section("tc")
    assert (first.name, second.name) == ("kdtn_first", "kdtn_second")
    assert first.instructions + second.instructions == elfbytes.section_bytes(
        (tmp_path / "test.o").read_bytes(), "tc"
    )
