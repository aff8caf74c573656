"""Pure parts of loading: relocation patching, the expected tag, whether pins are this
build's, the verifier error's summary, where the objects are found."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from pathlib import Path

import pytest

from kubedtn.ebpf import loader, objects, pins
from kubedtn.ebpf.bpffs import cgroup2_root, ensure_bpffs
from kubedtn.ebpf.bypass import Bypass
from kubedtn.ebpf.errors import EbpfError, VerifierError
from kubedtn.ebpf.spec import INSTRUCTION_SIZE, ObjectSpec
from kubedtn.ebpf.syscall import MapInfo, ProgramInfo


@pytest.fixture(scope="module")
def spec() -> ObjectSpec:
    return objects.object_spec(objects.BYPASS)


def test_patching_gives_each_ld_imm64_its_maps_fd(spec: ObjectSpec) -> None:
    program = spec.programs["kubedtn_sk_msg"]
    fds = {name: 100 + i for i, name in enumerate(spec.maps)}
    code = loader.patched_instructions(program, fds)
    assert len(code) == len(program.instructions)
    patched = set()
    for relocation in program.relocations:
        at = relocation.instruction * INSTRUCTION_SIZE
        assert code[at + 1] >> 4 == loader.PSEUDO_MAP_FD  # src_reg
        assert code[at + 1] & 0x0F == program.instructions[at + 1] & 0x0F  # dst_reg kept
        assert struct.unpack_from("<i", code, at + 4)[0] == fds[relocation.map_name]
        patched.add(at)
    # every other byte as it was, and the spec untouched
    assert all(code[i] == program.instructions[i] for i in range(len(code)) if i - i % 8 not in patched)
    assert program == objects.object_spec(objects.BYPASS).programs["kubedtn_sk_msg"]


def test_patching_needs_every_map(spec: ObjectSpec) -> None:
    with pytest.raises(EbpfError, match="kubedtn_sockops: needs map kubedtn_marked, which was not loaded"):
        loader.patched_instructions(spec.programs["kubedtn_sockops"], {})


def test_the_expected_tag_hashes_instructions_without_fds(spec: ObjectSpec) -> None:
    program = spec.programs["kubedtn_marker"]
    zeroed = loader.patched_instructions(program, {r.map_name: 0 for r in program.relocations})
    assert loader.expected_tags(program) == {
        hashlib.sha256(zeroed).digest()[:8],
        hashlib.sha1(zeroed).digest()[:8],
    }
    # mov r0, 1; exit: other instructions, other tags
    other = dataclasses.replace(
        program, instructions=bytes.fromhex("b7000000010000009500000000000000"), relocations=()
    )
    assert loader.expected_tags(other).isdisjoint(loader.expected_tags(program))


def infos(spec: ObjectSpec) -> tuple[dict[str, MapInfo | None], dict[str, ProgramInfo | None]]:
    """What the kernel would say of pins of exactly this build."""
    maps: dict[str, MapInfo | None] = {
        name: MapInfo(m.type, 10 + i, m.key_size, m.value_size, m.max_entries, m.flags, name)
        for i, (name, m) in enumerate(spec.maps.items())
    }
    map_ids = tuple(info.id for info in maps.values() if info is not None)
    programs: dict[str, ProgramInfo | None] = {
        name: ProgramInfo(int(p.type), 20 + i, min(loader.expected_tags(p)), name, map_ids)
        for i, (name, p) in enumerate(spec.programs.items())
    }
    return maps, programs


def test_pins_of_this_build_are_reused(spec: ObjectSpec) -> None:
    maps, programs = infos(spec)
    assert pins.stale_reason(spec, maps, programs) is None


def test_stale_pins(spec: ObjectSpec) -> None:
    maps, programs = infos(spec)
    flows = maps["kubedtn_flows"]
    assert flows is not None
    sockops = programs["kubedtn_sockops"]
    assert sockops is not None
    cases = [
        ({**maps, "kubedtn_flows": None}, programs, "map kubedtn_flows is not pinned"),
        (
            {**maps, "kubedtn_flows": dataclasses.replace(flows, key_size=12)},
            programs,
            "pinned map kubedtn_flows is (type, key, value, entries, flags) (9, 12, 16, 65536, 0), "
            "this build's (9, 40, 16, 65536, 0)",
        ),
        (maps, {**programs, "kubedtn_marker": None}, "program kubedtn_marker is not pinned"),
        (
            maps,
            {**programs, "kubedtn_sockops": dataclasses.replace(sockops, name="other")},
            "the program pinned as kubedtn_sockops is named other",
        ),
        (
            maps,
            {**programs, "kubedtn_sockops": dataclasses.replace(sockops, tag=b"\1" * 8)},
            "pinned program kubedtn_sockops has tag 0101010101010101: another build's",
        ),
        (
            maps,
            {**programs, "kubedtn_sockops": dataclasses.replace(sockops, map_ids=(99,))},
            "pinned program kubedtn_sockops uses maps [99], not the pinned ones [10, 11, 12, 13]",
        ),
    ]
    for map_infos, program_infos, reason in cases:
        assert pins.stale_reason(spec, map_infos, program_infos) == reason


def test_the_verifier_error_summarises_the_log() -> None:
    log = (
        "\n".join(f"{i}: (b7) r0 = {i}" for i in range(50))
        + "\nR0 invalid mem access 'scalar'\nprocessed 51 insns\n"
    )
    error = VerifierError(program="kdtn_x", errno=13, log=log)
    summary = str(error).splitlines()
    assert summary[0] == "the verifier refused program kdtn_x (errno 13); last lines of its log:"
    assert summary[-2:] == ["  R0 invalid mem access 'scalar'", "  processed 51 insns"]
    assert len(summary) == 7
    assert error.log == log
    assert "(the kernel wrote no log)" in str(VerifierError(program="kdtn_x", errno=22, log=""))


def test_pins_must_be_on_bpffs(tmp_path: Path) -> None:
    with pytest.raises(
        EbpfError, match=rf"pin directory {tmp_path}/pins is on \w+ mounted at .*not on a bpf"
    ):
        ensure_bpffs(tmp_path / "pins")


def test_the_objects_are_package_data() -> None:
    assert objects.object_bytes(objects.BYPASS)[:4] == b"\x7fELF"
    with pytest.raises(EbpfError, match=r"kubedtn/ebpf/objects/absent\.o: not in this build of kubedtn"):
        objects.object_bytes("absent.o")


def test_nothing_loaded_counts_zero_and_has_no_marker(tmp_path: Path) -> None:
    bypass = Bypass(pin_dir=tmp_path / "pins", cgroup=tmp_path)
    assert bypass.counters() == {"redirected": 0, "passed": 0, "marked": 0}
    with pytest.raises(
        EbpfError, match=rf"bypass of cgroup {tmp_path} is not enabled .*enable\(\) it before"
    ):
        bypass.marker_program_fd()
    assert not (tmp_path / "pins").exists()  # neither loaded anything


def test_the_cgroup2_root_of_this_host() -> None:
    mounts = Path("/proc/self/mounts").read_text().split("\n")
    expected = next(Path(f.split()[1]) for f in mounts if f.split()[2:3] == ["cgroup2"])
    assert cgroup2_root() == expected
