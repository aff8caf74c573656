"""The few protobuf messages the CNI plugin exchanges with the daemon, encoded by hand.

Why not the generated kubedtn.proto.v1.kube_dtn_pb2: importing it (protobuf and the
descriptor pool) costs more than the rest of the plugin, and it would pay that on every
ADD of a topology pod. These messages are flat (strings, bools, uint32, repeated strings),
so their wire form is a few lines. tests/unit/cni/test_wire.py checks every encoder and
decoder against the generated classes, so a change to proto/v1/kube_dtn.proto that
touches them fails there.

Messages (field numbers from proto/v1/kube_dtn.proto):
    SetupPodQuery {name=1, kube_ns=2, net_ns=3}   PodQuery {name=1, kube_ns=2}   StatusQuery {}
    BoolResponse {response=1}   CheckPodResponse {ok=1, problems=2 (repeated), in_topology=3}
    DaemonStatus {version=1, node_ip=2, pods_alive=3, links=4, store=5}
"""

from __future__ import annotations

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class DecodeError(ValueError):
    """The bytes are not the expected protobuf message."""


# ---- encoding ---------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _string_field(number: int, value: str) -> bytes:
    if not value:  # proto3: default values are not sent
        return b""
    data = value.encode()
    return _varint(number << 3 | _LEN) + _varint(len(data)) + data


def encode_setup_pod_query(*, name: str, kube_ns: str, net_ns: str, container_id: str = "") -> bytes:
    return (
        _string_field(1, name)
        + _string_field(2, kube_ns)
        + _string_field(3, net_ns)
        + _string_field(100, container_id)
    )


def encode_pod_query(*, name: str, kube_ns: str, net_ns: str = "", container_id: str = "") -> bytes:
    return (
        _string_field(1, name)
        + _string_field(2, kube_ns)
        + _string_field(100, net_ns)
        + _string_field(101, container_id)
    )


def encode_status_query() -> bytes:
    return b""


# ---- decoding ---------------------------------------------------------------------------


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise DecodeError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise DecodeError("varint longer than 10 bytes")


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited; fixed-width
    fields (not in these messages) are skipped, so newer daemons can add any field."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, pos = _read_varint(data, pos)
            fields.append((number, value))
        elif wire_type == _LEN:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise DecodeError(f"field {number} is truncated")
            fields.append((number, data[pos : pos + length]))
            pos += length
        elif wire_type in (_I64, _I32):
            pos += 8 if wire_type == _I64 else 4
        else:
            raise DecodeError(f"field {number} has unsupported wire type {wire_type}")
    if pos != len(data):
        raise DecodeError("truncated fixed-width field")
    return fields


def _as_str(value: int | bytes, what: str) -> str:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what} is not a string")
    return value.decode()


def _as_int(value: int | bytes, what: str) -> int:
    if not isinstance(value, int):
        raise DecodeError(f"{what} is not a number")
    return value


def decode_bool_response(data: bytes) -> bool:
    response = False
    for number, value in _fields(data):
        if number == 1:
            response = bool(_as_int(value, "BoolResponse.response"))
    return response


class _Record:
    """A decoded reply: its fields are its __slots__; compared and shown by value. Not a
    dataclass or NamedTuple: the ADD path imports this module, and neither dataclasses nor
    typing is imported on it."""

    __slots__: tuple[str, ...] = ()

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({values})"


class CheckPodResponse(_Record):
    __slots__ = ("ok", "problems", "in_topology")  # noqa: RUF023 -- the proto's field order

    def __init__(
        self, *, ok: bool = False, problems: tuple[str, ...] = (), in_topology: bool = False
    ) -> None:
        self.ok = ok
        self.problems = problems
        self.in_topology = in_topology


def decode_check_pod_response(data: bytes) -> CheckPodResponse:
    ok = in_topology = False
    problems: list[str] = []
    for number, value in _fields(data):
        if number == 1:
            ok = bool(_as_int(value, "CheckPodResponse.ok"))
        elif number == 2:
            problems.append(_as_str(value, "CheckPodResponse.problems"))
        elif number == 3:
            in_topology = bool(_as_int(value, "CheckPodResponse.in_topology"))
    return CheckPodResponse(ok=ok, problems=tuple(problems), in_topology=in_topology)


class DaemonStatus(_Record):
    __slots__ = ("version", "node_ip", "pods_alive", "links", "store")  # noqa: RUF023 -- the proto's order

    def __init__(
        self, *, version: str = "", node_ip: str = "", pods_alive: int = 0, links: int = 0, store: str = ""
    ) -> None:
        self.version = version
        self.node_ip = node_ip
        self.pods_alive = pods_alive
        self.links = links
        self.store = store


def decode_daemon_status(data: bytes) -> DaemonStatus:
    version = node_ip = store = ""
    pods_alive = links = 0
    for number, value in _fields(data):
        if number == 1:
            version = _as_str(value, "DaemonStatus.version")
        elif number == 2:
            node_ip = _as_str(value, "DaemonStatus.node_ip")
        elif number == 3:
            pods_alive = _as_int(value, "DaemonStatus.pods_alive")
        elif number == 4:
            links = _as_int(value, "DaemonStatus.links")
        elif number == 5:
            store = _as_str(value, "DaemonStatus.store")
    return DaemonStatus(version=version, node_ip=node_ip, pods_alive=pods_alive, links=links, store=store)
