"""Fuzz: random field values of the Local and Remote requests, handed to the daemon's
servicers over a real link manager (a SQLite store holding a pair of pods, an in-memory
dataplane). A request is answered or refused with a status that says what is wrong:
never INTERNAL or UNKNOWN (a crash), and a refusal names a field of the request."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NoReturn

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from kubedtn.daemon.manager import LinkManager
from kubedtn.daemon.metrics import DaemonMetrics
from kubedtn.daemon.plan import NodeInfo
from kubedtn.daemon.server import LocalServicer, RemoteServicer
from kubedtn.daemon.trust import NetnsGuard
from kubedtn.errors import TemporaryError
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.store.testing import temp_store
from tests.integration.daemon.topologies import load, pair
from tests.support.fakedataplane import FakeDataplane
from tests.unit.fuzz.budget import examples

pytestmark = pytest.mark.fuzz

NODE = "10.199.0.1"
NS_R1, NS_R2 = "/run/netns/fuzz-r1", "/run/netns/fuzz-r2"

_strings = st.one_of(
    st.sampled_from(
        [
            "",
            "r1",
            "r2",
            "default",
            "eth1",
            "eth0",
            "lo",
            NS_R1,
            NS_R2,
            "/proc/1/ns/net",
            "/etc/passwd",
            "/run/netns/../../etc/shadow",
            "10.0.1.1/24",
            "10.199.0.2",
            "::1",
            "localhost",
            "physical/10.1.2.3",
            "1ms",
            "100Mbit",
            "-1",
            "nan",
            "1e400",
            "x" * 5000,
            "\x00",
            "é",
        ]
    ),
    st.text(max_size=20),
)
_ints = st.one_of(st.sampled_from([0, 1, 2, 5001, -1]), st.integers())


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type == FieldDescriptor.TYPE_STRING:
        return _strings
    if field.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    bits = {FieldDescriptor.TYPE_INT32: 31, FieldDescriptor.TYPE_INT64: 63}.get(field.type)
    if bits is not None:
        return _ints.filter(lambda v: -(2**bits) <= v < 2**bits)
    assert field.type == FieldDescriptor.TYPE_UINT32, field.name
    return _ints.filter(lambda v: 0 <= v < 2**32)


def message(descriptor: Any, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments of a message: every field maybe set, to anything of its type."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        one = message(field.message_type, depth + 1) if field.message_type else _scalar(field)
        fields[field.name] = st.lists(one, max_size=3 if depth < 2 else 1) if field.is_repeated else one
    return st.fixed_dictionaries({}, optional=fields)


def build(cls: type[Message], kwargs: dict[str, Any]) -> Message:
    descriptor = cls.DESCRIPTOR
    values: dict[str, Any] = {}
    for name, value in kwargs.items():
        sub = descriptor.fields_by_name[name].message_type
        if sub is None:
            values[name] = value
        else:
            sub_cls = getattr(pb, sub.name)
            values[name] = (
                [build(sub_cls, v) for v in value] if isinstance(value, list) else build(sub_cls, value)
            )
    return cls(**values)


class AbortedError(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code, self.details = code, details


class Context:
    """The servicer's view of a call: abort raises, the caller's certificate names the peer node."""

    def abort(self, code: grpc.StatusCode, details: str) -> NoReturn:
        raise AbortedError(code, details)

    def auth_context(self) -> dict[str, list[bytes]]:
        return {"peer_ip": [b"10.199.0.2"], "peer_dns": [b"node2"]}


class NoPeers:
    """Every Remote call to another node fails as an unreachable node does."""

    def update_many(self, node_ip: str, ends: Any) -> Any:
        return [TemporaryError(f"node {node_ip}: unreachable")] * len(ends)

    def start_update_many(self, node_ip: str, ends: Any) -> Any:
        from concurrent.futures import Future

        future: Future[Any] = Future()
        future.set_result(self.update_many(node_ip, ends))
        return future

    def delete_many(self, node_ip: str, ends: Any) -> Any:
        return self.update_many(node_ip, ends)


@pytest.fixture(scope="module")
def servicers() -> Iterator[tuple[LocalServicer, RemoteServicer]]:
    with temp_store() as store:
        load(store, pair(rate=None))
        manager = LinkManager(
            store=store,
            dataplane=FakeDataplane({NS_R1, NS_R2}),
            node=NodeInfo(NODE, "u0", None, 1500),
            remote=NoPeers(),
        )
        netns = NetnsGuard(["/run/netns"], node_namespaces=())
        metrics = DaemonMetrics(manager)
        local = LocalServicer(manager, metrics, store_description="fuzz", netns=netns)
        remote = RemoteServicer(manager, metrics, store_description="fuzz", netns=netns)
        remote.authenticated = True
        yield local, remote


# (servicer, method, request type)
CALLS: list[tuple[str, str, type[Message]]] = [
    ("local", "Get", pb.PodQuery),
    ("local", "SetAlive", pb.Pod),
    ("local", "AddLinks", pb.LinksBatchQuery),
    ("local", "DelLinks", pb.LinksBatchQuery),
    ("local", "UpdateLinks", pb.LinksBatchQuery),
    ("local", "SetupPod", pb.SetupPodQuery),
    ("local", "DestroyPod", pb.PodQuery),
    ("local", "SetupPods", pb.SetupPodsQuery),
    ("local", "DestroyPods", pb.PodsQuery),
    ("local", "CheckPod", pb.SetupPodQuery),
    ("remote", "Update", pb.RemotePod),
    ("remote", "UpdateMany", pb.RemotePods),
    ("remote", "DeleteMany", pb.RemotePods),
]
REFUSALS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,  # the namespace is gone
    grpc.StatusCode.UNAVAILABLE,  # a peer node did not answer
    grpc.StatusCode.ABORTED,  # a conflicting write: try again
}


def field_names(descriptor: Any) -> set[str]:  # (two Descriptor classes: python's, upb's)
    names = set()
    for field in descriptor.fields:
        names.add(field.name)
        if field.message_type is not None:
            names |= field_names(field.message_type)
    return names


@st.composite
def calls(draw: st.DrawFn) -> tuple[str, str, Message]:
    side, method, cls = draw(st.sampled_from(CALLS))
    return side, method, build(cls, draw(message(cls.DESCRIPTOR)))


@examples(300)
@given(call=calls())
def test_random_requests_are_answered_or_refused_naming_a_field(
    call: tuple[str, str, Message], servicers: tuple[LocalServicer, RemoteServicer]
) -> None:
    side, method, request = call
    servicer = servicers[0] if side == "local" else servicers[1]
    try:
        getattr(servicer, method)(request, Context())
    except AbortedError as e:
        assert e.code in REFUSALS, f"{method}: {e}"
        assert "Traceback" not in e.details
        if e.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED):
            names = field_names(request.DESCRIPTOR) | {"container_id", "pods", "links"}
            said = set(re.findall(r"[a-z_]+", e.details))
            assert said & names, f"{method}: a refusal that names no field: {e.details[:300]}"
