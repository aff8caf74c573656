"""Malformed objects: each gives an ElfError naming the file and what is wrong, never
another exception."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from kubedtn.ebpf import objects
from kubedtn.ebpf.elf import read_object, read_object_bytes
from kubedtn.ebpf.errors import ElfError
from kubedtn.ebpf.spec import LD_IMM64
from tests.support import bpfc, elfbytes

SOURCE = "bad.o"


@pytest.fixture(scope="module")
def good() -> bytes:
    return objects.object_bytes(objects.BYPASS)


def refused(data: bytes) -> str:
    with pytest.raises(ElfError) as raised:
        read_object_bytes(data, source=SOURCE)
    message = str(raised.value)
    assert message.startswith(SOURCE + ":")
    return message


def test_not_elf() -> None:
    assert "not an ELF file" in refused(b"hello, world")
    assert "not an ELF file" in refused(b"")


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ElfError, match=r"absent\.o: cannot read the object: No such file"):
        read_object(tmp_path / "absent.o")


@pytest.mark.parametrize("keep", [4, 16, 63, 64, 1000, 4000, 8000, -1])
def test_truncated(good: bytes, keep: int) -> None:
    refused(good[:keep])


def test_wrong_machine(good: bytes) -> None:
    assert "ELF machine is EM_X86_64, not EM_BPF" in refused(elfbytes.patch(good, 18, struct.pack("<H", 62)))


def test_big_endian(good: bytes) -> None:
    refused(elfbytes.patch(good, 5, b"\x02"))


def test_32_bit(good: bytes) -> None:
    refused(elfbytes.patch(good, 4, b"\x01"))


def test_no_license(good: bytes) -> None:
    assert "no license section" in refused(elfbytes.rename_section(good, "license", "licensX"))


def test_no_symbols(good: bytes) -> None:
    assert "no .symtab section" in refused(elfbytes.rename_section(good, ".symtab", ".symtaX"))


def test_no_btf_for_btf_maps(good: bytes) -> None:
    assert "section .maps: BTF-defined maps need the .BTF section" in refused(
        elfbytes.rename_section(good, ".BTF", ".BTX")
    )


def test_bad_btf_magic(good: bytes) -> None:
    at = elfbytes.sections(good)[".BTF"].offset
    assert "bad BTF: magic 0x0000" in refused(elfbytes.patch(good, at, b"\0\0"))


def test_btf_header_beyond_the_section(good: bytes) -> None:
    at = elfbytes.sections(good)[".BTF"].offset
    message = refused(elfbytes.patch(good, at + 12, struct.pack("<I", 0x7FFFFFFF)))  # type_len
    assert "section .BTF: bad BTF: header says types at" in message


def test_btf_unknown_kind(good: bytes) -> None:
    at = elfbytes.sections(good)[".BTF"].offset
    (hdr_len, type_off) = struct.unpack_from("<II", good, at + 4)
    info_at = at + hdr_len + type_off + 4  # the first type's info word
    (info,) = struct.unpack_from("<I", good, info_at)
    assert "type 1 has unknown kind 31" in refused(
        elfbytes.patch(good, info_at, struct.pack("<I", info | 0x1F << 24))
    )


def test_unknown_program_section(good: bytes) -> None:
    assert "section sockopz: unknown program section; known:" in refused(
        elfbytes.rename_section(good, "sockops", "sockopz")
    )


def test_a_relocation_not_on_ld_imm64(good: bytes) -> None:
    spec = read_object_bytes(good, source=SOURCE)
    first = spec.programs["kubedtn_sockops"].relocations[0]
    at = elfbytes.sections(good)["sockops"].offset + first.instruction * 8
    assert good[at] == LD_IMM64
    message = refused(elfbytes.patch(good, at, b"\xb7"))
    assert (
        f"section sockops: relocation at byte {first.instruction * 8} points at opcode 0xb7, not ld_imm64"
        in message
    )


def test_a_function_call(tmp_path: Path) -> None:
    source = """
    static __attribute__((noinline)) int kdtn_helper(int x) { return x + 1; }
    SEC("sockops") int kdtn_calls(struct bpf_sock_ops *skops) { return kdtn_helper(skops->op) & 1; }
    """
    with pytest.raises(ElfError, match=r"section \.text: holds functions called from programs"):
        read_object(bpfc.compile_c(source, tmp_path))


def test_a_global_variable(tmp_path: Path) -> None:
    source = """
    int kdtn_global;
    SEC("sockops") int kdtn_counts(struct bpf_sock_ops *skops) { kdtn_global++; return 1; }
    """
    with pytest.raises(ElfError, match=r"refers to kdtn_global in section \.bss: global variables"):
        read_object(bpfc.compile_c(source, tmp_path))


def test_an_unsupported_map_member(tmp_path: Path) -> None:
    source = """
    struct { int (*type)[BPF_MAP_TYPE_HASH]; int (*max_entries)[4]; int *key; int *value;
             int (*pinning)[1]; } kdtn_pinned SEC(".maps");
    SEC("sockops") int kdtn_uses(struct bpf_sock_ops *skops)
    { int k = 0; return bpf_map_lookup_elem(&kdtn_pinned, &k) != 0; }
    """
    with pytest.raises(ElfError, match=r"map kdtn_pinned: member pinning is not supported"):
        read_object(bpfc.compile_c(source, tmp_path))
