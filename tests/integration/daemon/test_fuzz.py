"""Fuzz against a running daemon: random Local requests (tests/unit/fuzz/test_grpc.py's
strategies) over its unix socket, through gRPC's own encoding. None is answered UNKNOWN or
INTERNAL, and the daemon answers Status afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc
from tests.integration.daemon.topologies import load, pair
from tests.support.daemon import DaemonHandle, running_daemon
from tests.unit.fuzz.budget import examples
from tests.unit.fuzz.test_grpc import CALLS, build, message

pytestmark = [pytest.mark.root, pytest.mark.fuzz]

LOCAL = [(method, cls) for side, method, cls in CALLS if side == "local"]


@pytest.fixture(scope="module")
def daemon() -> Iterator[DaemonHandle]:
    with running_daemon() as d:
        with d.store() as store:
            load(store, pair())
        yield d


@st.composite
def local_calls(draw: st.DrawFn) -> tuple[str, Message]:
    method, cls = draw(st.sampled_from(LOCAL))
    return method, build(cls, draw(message(cls.DESCRIPTOR)))


@examples(60)
@given(call=local_calls())
def test_random_local_requests_over_the_socket_never_crash_the_daemon(
    call: tuple[str, Message], daemon: DaemonHandle
) -> None:
    method, request = call
    stub: pb_grpc.LocalStub = daemon.local()
    try:
        getattr(stub, method)(request, timeout=30)
    except grpc.RpcError as e:
        assert e.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), f"{method}: {e.details()}"
        assert "Traceback" not in (e.details() or "")
    assert stub.Status(pb.StatusQuery(), timeout=10).version
