"""bpf(2) through ctypes: one function per command kubedtn uses.

Each command's ``union bpf_attr`` member is packed with ``struct`` (layouts from
linux/bpf.h, only the leading fields we set: the kernel zero-fills the rest of a shorter
attr). Errors become ``BpfSyscallError`` naming the command, the object and the errno; a
program the verifier refuses becomes ``VerifierError`` with its log.
"""

from __future__ import annotations

import ctypes
import errno as errnos
import os
import platform
import struct
from dataclasses import dataclass

from kubedtn.ebpf.errors import BpfSyscallError, VerifierError

_SYSCALL_NUMBERS = {"x86_64": 321, "aarch64": 280}

MAP_CREATE, MAP_LOOKUP_ELEM, MAP_UPDATE_ELEM, MAP_DELETE_ELEM, MAP_GET_NEXT_KEY = 0, 1, 2, 3, 4
PROG_LOAD, OBJ_PIN, OBJ_GET, PROG_ATTACH, PROG_DETACH = 5, 6, 7, 8, 9
PROG_GET_NEXT_ID, MAP_GET_NEXT_ID = 11, 12
PROG_GET_FD_BY_ID, MAP_GET_FD_BY_ID, OBJ_GET_INFO_BY_FD, PROG_QUERY = 13, 14, 15, 16
_COMMAND_NAMES = {
    MAP_CREATE: "BPF_MAP_CREATE",
    MAP_LOOKUP_ELEM: "BPF_MAP_LOOKUP_ELEM",
    MAP_UPDATE_ELEM: "BPF_MAP_UPDATE_ELEM",
    MAP_DELETE_ELEM: "BPF_MAP_DELETE_ELEM",
    MAP_GET_NEXT_KEY: "BPF_MAP_GET_NEXT_KEY",
    PROG_LOAD: "BPF_PROG_LOAD",
    OBJ_PIN: "BPF_OBJ_PIN",
    OBJ_GET: "BPF_OBJ_GET",
    PROG_ATTACH: "BPF_PROG_ATTACH",
    PROG_DETACH: "BPF_PROG_DETACH",
    PROG_GET_NEXT_ID: "BPF_PROG_GET_NEXT_ID",
    MAP_GET_NEXT_ID: "BPF_MAP_GET_NEXT_ID",
    PROG_GET_FD_BY_ID: "BPF_PROG_GET_FD_BY_ID",
    MAP_GET_FD_BY_ID: "BPF_MAP_GET_FD_BY_ID",
    OBJ_GET_INFO_BY_FD: "BPF_OBJ_GET_INFO_BY_FD",
    PROG_QUERY: "BPF_PROG_QUERY",
}

# enum bpf_attach_type
CGROUP_SOCK_OPS = 3
SK_MSG_VERDICT = 7
# attach flags
F_ALLOW_MULTI = 1 << 1
# map update flags
ANY, NOEXIST, EXIST = 0, 1, 2

OBJ_NAME_LEN = 16
_LOG_START = 1 << 20
_LOG_MAX = 1 << 28

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall_number() -> int:
    machine = platform.machine()
    if machine not in _SYSCALL_NUMBERS:
        raise BpfSyscallError(
            f"bpf(2): no syscall number known for machine {machine} (known: {', '.join(_SYSCALL_NUMBERS)})",
            errno=errnos.ENOSYS,
        )
    return _SYSCALL_NUMBERS[machine]


def _bpf(command: int, attr: ctypes.Array[ctypes.c_char], what: str) -> int:
    result = int(_libc.syscall(_syscall_number(), command, attr, len(attr.raw)))
    if result < 0:
        code = ctypes.get_errno()
        raise BpfSyscallError(
            f"{_COMMAND_NAMES[command]} {what}: {os.strerror(code)} (errno {code})", errno=code
        )
    return result


def _attr(fmt: str, *values: object) -> ctypes.Array[ctypes.c_char]:
    data = struct.pack(fmt, *values)
    return ctypes.create_string_buffer(data, len(data))


def _address(buffer: ctypes.Array[ctypes.c_char] | None) -> int:
    return ctypes.addressof(buffer) if buffer is not None else 0


def object_name(name: str) -> bytes:
    """A name as the kernel stores it: at most 15 bytes, letters, digits, _ and ."""
    raw = name.encode("ascii", "replace")[: OBJ_NAME_LEN - 1]
    return bytes(c if chr(c).isalnum() or c in b"_." else ord("_") for c in raw)


# ---- maps ---------------------------------------------------------------------------


def map_create(
    *, map_type: int, key_size: int, value_size: int, max_entries: int, flags: int, name: str
) -> int:
    attr = _attr("<7I16sI", map_type, key_size, value_size, max_entries, flags, 0, 0, object_name(name), 0)
    return _bpf(MAP_CREATE, attr, f"map {name}")


def _elem(command: int, fd: int, key: bytes, value: ctypes.Array[ctypes.c_char] | None, flags: int) -> int:
    key_buffer = ctypes.create_string_buffer(key, len(key))
    attr = _attr("<IIQQQ", fd, 0, _address(key_buffer), _address(value), flags)
    return _bpf(command, attr, f"map fd {fd}")


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    """The value at ``key`` (``value_size`` bytes: for per-CPU maps, all CPUs' values)."""
    value = ctypes.create_string_buffer(value_size)
    try:
        _elem(MAP_LOOKUP_ELEM, fd, key, value, 0)
    except BpfSyscallError as e:
        if e.errno == errnos.ENOENT:
            return None
        raise
    return value.raw


def map_update(fd: int, key: bytes, value: bytes, flags: int = ANY) -> None:
    _elem(MAP_UPDATE_ELEM, fd, key, ctypes.create_string_buffer(value, len(value)), flags)


def map_delete(fd: int, key: bytes) -> bool:
    """Whether the key was there."""
    try:
        _elem(MAP_DELETE_ELEM, fd, key, None, 0)
    except BpfSyscallError as e:
        if e.errno == errnos.ENOENT:
            return False
        raise
    return True


def map_next_key(fd: int, key: bytes | None, key_size: int) -> bytes | None:
    """The key after ``key`` (the first with None); None at the end."""
    following = ctypes.create_string_buffer(key_size)
    key_buffer = ctypes.create_string_buffer(key, len(key)) if key is not None else None
    attr = _attr("<IIQQ", fd, 0, _address(key_buffer), _address(following))
    try:
        _bpf(MAP_GET_NEXT_KEY, attr, f"map fd {fd}")
    except BpfSyscallError as e:
        if e.errno == errnos.ENOENT:
            return None
        raise
    return following.raw


# ---- programs -----------------------------------------------------------------------


def _prog_load_once(
    *, prog_type: int, instructions: bytes, license: str, name: str, expected_attach_type: int, log_size: int
) -> tuple[int, int, str]:
    """(fd or -1, errno, log)."""
    insns = ctypes.create_string_buffer(instructions, len(instructions))
    license_buffer = ctypes.create_string_buffer(license.encode("ascii"))
    log = ctypes.create_string_buffer(log_size) if log_size else None
    attr = _attr(
        "<IIQQIIQII16sII",
        prog_type,
        len(instructions) // 8,
        _address(insns),
        _address(license_buffer),
        1 if log_size else 0,
        log_size,
        _address(log),
        0,
        0,
        object_name(name),
        0,
        expected_attach_type,
    )
    fd = int(_libc.syscall(_syscall_number(), PROG_LOAD, attr, len(attr.raw)))
    code = ctypes.get_errno() if fd < 0 else 0
    text = log.value.decode("utf-8", "replace") if log is not None else ""
    return fd, code, text


def prog_load(
    *, prog_type: int, instructions: bytes, license: str, name: str, expected_attach_type: int = 0
) -> int:
    """Load a program; on failure load it again with the verifier's log, in a buffer grown
    until the log fits, and raise ``VerifierError`` with it."""
    fd, code, _ = _prog_load_once(
        prog_type=prog_type,
        instructions=instructions,
        license=license,
        name=name,
        expected_attach_type=expected_attach_type,
        log_size=0,
    )
    if fd >= 0:
        return fd
    if code not in (errnos.EACCES, errnos.EINVAL, errnos.E2BIG, errnos.EFAULT, errnos.ENOSPC):
        raise BpfSyscallError(f"BPF_PROG_LOAD program {name}: {os.strerror(code)} (errno {code})", errno=code)
    log_size, log = _LOG_START, ""
    while log_size <= _LOG_MAX:
        fd, code, log = _prog_load_once(
            prog_type=prog_type,
            instructions=instructions,
            license=license,
            name=name,
            expected_attach_type=expected_attach_type,
            log_size=log_size,
        )
        if fd >= 0:  # loaded the second time (a transient failure): keep it
            return fd
        if code != errnos.ENOSPC:
            break
        log_size *= 4
    raise VerifierError(program=name, errno=code, log=log)


def prog_attach(*, target_fd: int, prog_fd: int, attach_type: int, flags: int = 0, what: str) -> None:
    _bpf(PROG_ATTACH, _attr("<IIIII", target_fd, prog_fd, attach_type, flags, 0), what)


def prog_detach(*, target_fd: int, prog_fd: int, attach_type: int, what: str) -> None:
    _bpf(PROG_DETACH, _attr("<IIIII", target_fd, prog_fd, attach_type, 0, 0), what)


def prog_query(*, target_fd: int, attach_type: int, what: str, capacity: int = 64) -> list[int]:
    """Ids of the programs attached to ``target_fd`` (a cgroup, a sockmap) for ``attach_type``."""
    while True:
        ids = (ctypes.c_uint32 * capacity)()
        attr = _attr("<IIIIQI4x", target_fd, attach_type, 0, 0, ctypes.addressof(ids), capacity)
        try:
            _bpf(PROG_QUERY, attr, what)
        except BpfSyscallError as e:
            if e.errno == errnos.ENOSPC:
                capacity *= 4
                continue
            raise
        (count,) = struct.unpack_from("<I", attr.raw, 24)
        return list(ids[:count])


def prog_fd_by_id(prog_id: int) -> int:
    return _bpf(PROG_GET_FD_BY_ID, _attr("<III", prog_id, 0, 0), f"program id {prog_id}")


def _ids(command: int) -> list[int]:
    found: list[int] = []
    current = 0
    while True:
        attr = _attr("<II", current, 0)
        try:
            _bpf(command, attr, f"after id {current}")
        except BpfSyscallError as e:
            if e.errno == errnos.ENOENT:
                return found
            raise
        (current,) = struct.unpack_from("<I", attr.raw, 4)
        found.append(current)


def prog_ids() -> list[int]:
    """Ids of every program loaded in the kernel."""
    return _ids(PROG_GET_NEXT_ID)


def map_ids() -> list[int]:
    """Ids of every map in the kernel."""
    return _ids(MAP_GET_NEXT_ID)


def map_fd_by_id(map_id: int) -> int:
    return _bpf(MAP_GET_FD_BY_ID, _attr("<III", map_id, 0, 0), f"map id {map_id}")


# ---- pins and info --------------------------------------------------------------------


def obj_pin(fd: int, path: str) -> None:
    name = ctypes.create_string_buffer(os.fsencode(path))
    _bpf(OBJ_PIN, _attr("<QII", ctypes.addressof(name), fd, 0), f"fd {fd} at {path}")


def obj_get(path: str) -> int:
    name = ctypes.create_string_buffer(os.fsencode(path))
    return _bpf(OBJ_GET, _attr("<QII", ctypes.addressof(name), 0, 0), f"pin {path}")


@dataclass(frozen=True)
class ProgramInfo:
    type: int
    id: int
    tag: bytes
    name: str
    map_ids: tuple[int, ...]


@dataclass(frozen=True)
class MapInfo:
    type: int
    id: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    name: str


def _info(fd: int, size: int, what: str, *, given: bytes = b"") -> bytes:
    """The kernel's info struct of ``fd`` (``size`` bytes); ``given``: its first bytes as
    sent (where a struct asks for arrays to be filled: counts and addresses)."""
    info = ctypes.create_string_buffer(given.ljust(size, b"\0"), size)
    _bpf(OBJ_GET_INFO_BY_FD, _attr("<IIQ", fd, size, ctypes.addressof(info)), what)
    return info.raw


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


def prog_info(fd: int) -> ProgramInfo:
    """struct bpf_prog_info: type, id, tag (8 bytes), name and the ids of its maps."""
    what = f"program fd {fd}"
    (map_count,) = struct.unpack_from("<I", _info(fd, 80, what), 52)
    map_ids = (ctypes.c_uint32 * max(map_count, 1))()
    # nr_map_ids (at 52) says how many ids fit at map_ids (at 56).
    raw = _info(fd, 80, what, given=bytes(52) + struct.pack("<IQ", map_count, ctypes.addressof(map_ids)))
    prog_type, prog_id = struct.unpack_from("<II", raw, 0)
    return ProgramInfo(prog_type, prog_id, raw[8:16], _name(raw[64:80]), tuple(map_ids[:map_count]))


def map_info(fd: int) -> MapInfo:
    raw = _info(fd, 40, f"map fd {fd}")
    map_type, map_id, key_size, value_size, max_entries, flags = struct.unpack_from("<6I", raw, 0)
    return MapInfo(map_type, map_id, key_size, value_size, max_entries, flags, _name(raw[24:40]))
