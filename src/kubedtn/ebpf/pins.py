"""Where a collection's maps and programs are pinned under bpffs, and whether pins found
there are this build's.

Layout under the pin directory (``/sys/fs/bpf/kubedtn`` by default)::

    maps/<map name>        progs/<program name>

A pinned program is this build's when its name and tag match the spec's program (the tag
hashes the instructions with map fds zeroed: ``loader.expected_tags``), and it uses the
pinned maps; a pinned map when its type, sizes and flags match. ``stale_reason`` decides
that from the kernel's info, without syscalls, so it is tested without root.
"""

from __future__ import annotations

import contextlib
import errno as errnos
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kubedtn.ebpf import syscall
from kubedtn.ebpf.errors import BpfSyscallError
from kubedtn.ebpf.loader import Collection, LoadedMap, LoadedProgram, expected_tags
from kubedtn.ebpf.spec import ObjectSpec


@dataclass(frozen=True)
class PinLayout:
    root: Path

    def map_path(self, name: str) -> Path:
        return self.root / "maps" / name

    def program_path(self, name: str) -> Path:
        return self.root / "progs" / name

    def exists(self) -> bool:
        return self.root.exists()


def stale_reason(
    spec: ObjectSpec,
    maps: Mapping[str, syscall.MapInfo | None],
    programs: Mapping[str, syscall.ProgramInfo | None],
) -> str | None:
    """Why the pinned objects (their kernel info, None when not pinned) cannot be reused
    for ``spec``; None when they can."""
    for name, map_spec in spec.maps.items():
        info = maps.get(name)
        if info is None:
            return f"map {name} is not pinned"
        found = (info.type, info.key_size, info.value_size, info.max_entries, info.flags)
        wanted = (map_spec.type, map_spec.key_size, map_spec.value_size, map_spec.max_entries, map_spec.flags)
        if found != wanted:
            return f"pinned map {name} is (type, key, value, entries, flags) {found}, this build's {wanted}"
    map_ids = {info.id for info in maps.values() if info is not None}
    for name, program_spec in spec.programs.items():
        program = programs.get(name)
        if program is None:
            return f"program {name} is not pinned"
        if program.name != syscall.object_name(name).decode():
            return f"the program pinned as {name} is named {program.name}"
        if program.tag not in expected_tags(program_spec):
            return f"pinned program {name} has tag {program.tag.hex()}: another build's"
        if not set(program.map_ids) <= map_ids:
            return (
                f"pinned program {name} uses maps {sorted(program.map_ids)}, "
                f"not the pinned ones {sorted(map_ids)}"
            )
    return None


def _get(path: Path) -> int | None:
    try:
        return syscall.obj_get(str(path))
    except BpfSyscallError as e:
        if e.errno == errnos.ENOENT:
            return None
        raise


def open_pinned(layout: PinLayout, spec: ObjectSpec) -> tuple[Collection, str | None]:
    """What is pinned for ``spec``'s maps and programs, and why it is stale (None: reusable).
    The caller closes the collection."""
    collection = Collection()
    map_infos: dict[str, syscall.MapInfo | None] = {}
    program_infos: dict[str, syscall.ProgramInfo | None] = {}
    try:
        for name, map_spec in spec.maps.items():
            fd = _get(layout.map_path(name))
            map_infos[name] = None
            if fd is not None:
                collection.maps[name] = LoadedMap(map_spec, fd)
                map_infos[name] = collection.maps[name].info()
        for name, program_spec in spec.programs.items():
            fd = _get(layout.program_path(name))
            program_infos[name] = None
            if fd is not None:
                collection.programs[name] = LoadedProgram(program_spec, fd)
                program_infos[name] = collection.programs[name].info()
    except BaseException:
        collection.close()
        raise
    return collection, stale_reason(spec, map_infos, program_infos)


def pin_collection(layout: PinLayout, collection: Collection) -> None:
    """Pin every map and program; the directory appears whole (pinned in a sibling
    directory, then renamed), so a process that dies half-way leaves no partial layout
    where the next one looks."""
    # (bpffs refuses names with a dot in them.)
    staging = PinLayout(layout.root.with_name(f"{layout.root.name}-new-{os.getpid()}"))
    unpin(staging)
    for path in (staging.root / "maps", staging.root / "progs"):
        path.mkdir(parents=True)
    try:
        for name, live_map in collection.maps.items():
            live_map.pin(str(staging.map_path(name)))
        for name, program in collection.programs.items():
            program.pin(str(staging.program_path(name)))
        staging.root.rename(layout.root)
    except BaseException:
        unpin(staging)
        raise


def unpin(layout: PinLayout) -> None:
    """Remove the layout's pins and directories (a pin is a file: unlinking it drops the
    reference it held). Nothing there is success."""
    if not layout.root.exists():
        return
    for directory, subdirs, files in os.walk(layout.root, topdown=False):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(directory, name))
        for name in subdirs:
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(os.path.join(directory, name))
    with contextlib.suppress(FileNotFoundError):
        os.rmdir(layout.root)
