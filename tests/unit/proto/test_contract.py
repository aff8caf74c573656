"""The gRPC contract: generated code is current, and the wire matches KubeDTN's."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor

from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc
from tests.support.protogen import stale_modules

REPO = Path(__file__).resolve().parents[3]
GENERATED = ("kube_dtn_pb2.py", "kube_dtn_pb2.pyi", "kube_dtn_pb2_grpc.py")

F = descriptor.FieldDescriptor
STRING, BOOL, INT64, INT32, UINT32, MESSAGE = (
    F.TYPE_STRING,
    F.TYPE_BOOL,
    F.TYPE_INT64,
    F.TYPE_INT32,
    F.TYPE_UINT32,
    F.TYPE_MESSAGE,
)
# KubeDTN's messages as its proto/v1/kube_dtn.proto defines them: name → (number, type).
# Changing any of these breaks KubeDTN clients talking to our daemon.
KUBE_DTN_FIELDS: dict[str, dict[str, tuple[int, int]]] = {
    "Pod": {
        "name": (1, STRING),
        "src_ip": (2, STRING),
        "net_ns": (3, STRING),
        "kube_ns": (4, STRING),
        "links": (5, MESSAGE),
        "safe": (6, BOOL),
    },
    "Link": {
        "peer_pod": (1, STRING),
        "local_intf": (2, STRING),
        "peer_intf": (3, STRING),
        "local_ip": (4, STRING),
        "peer_ip": (5, STRING),
        "uid": (6, INT64),
        "properties": (7, MESSAGE),
        "local_mac": (8, STRING),
        "peer_mac": (9, STRING),
        "detect": (10, BOOL),
    },
    "LinkProperties": {
        "latency": (1, STRING),
        "latency_corr": (2, STRING),
        "jitter": (3, STRING),
        "loss": (4, STRING),
        "loss_corr": (5, STRING),
        "rate": (6, STRING),
        "gap": (7, UINT32),
        "duplicate": (8, STRING),
        "duplicate_corr": (9, STRING),
        "reorder_prob": (10, STRING),
        "reorder_corr": (11, STRING),
        "corrupt_prob": (12, STRING),
        "corrupt_corr": (13, STRING),
    },
    "PodQuery": {"name": (1, STRING), "kube_ns": (2, STRING)},
    "LinksBatchQuery": {"local_pod": (1, MESSAGE), "links": (2, MESSAGE)},
    "SetupPodQuery": {"name": (1, STRING), "kube_ns": (2, STRING), "net_ns": (3, STRING)},
    "BoolResponse": {"response": (1, BOOL)},
    "RemotePod": {
        "net_ns": (1, STRING),
        "intf_name": (2, STRING),
        "intf_ip": (3, STRING),
        "peer_vtep": (4, STRING),
        "kube_ns": (5, STRING),
        "vni": (6, INT32),
        "properties": (7, MESSAGE),
        "name": (8, STRING),
    },
}
KUBE_DTN_METHODS = {
    "/proto.v1.Local/Get": ("PodQuery", "Pod"),
    "/proto.v1.Local/SetAlive": ("Pod", "BoolResponse"),
    "/proto.v1.Local/AddLinks": ("LinksBatchQuery", "BoolResponse"),
    "/proto.v1.Local/DelLinks": ("LinksBatchQuery", "BoolResponse"),
    "/proto.v1.Local/UpdateLinks": ("LinksBatchQuery", "BoolResponse"),
    "/proto.v1.Local/SetupPod": ("SetupPodQuery", "BoolResponse"),
    "/proto.v1.Local/DestroyPod": ("PodQuery", "BoolResponse"),
    "/proto.v1.Remote/Update": ("RemotePod", "BoolResponse"),
}
# kubedtn's own methods (added to Local; KubeDTN clients never call them).
KUBEDTN_METHODS = {
    "/proto.v1.Local/SetupPods": ("SetupPodsQuery", "PodsResponse"),
    "/proto.v1.Local/DestroyPods": ("PodsQuery", "PodsResponse"),
    "/proto.v1.Local/CheckPod": ("SetupPodQuery", "CheckPodResponse"),
    "/proto.v1.Local/Status": ("StatusQuery", "DaemonStatus"),
    "/proto.v1.Remote/UpdateMany": ("RemotePods", "RemoteResults"),
    "/proto.v1.Remote/DeleteMany": ("RemotePods", "RemoteResults"),
}


def test_generated_modules_match_the_proto(tmp_path: Path) -> None:
    """Regenerate into a temporary directory: the committed modules must be byte-identical."""
    stale = stale_modules("gen-proto.sh", GENERATED, "src/kubedtn/proto/v1", tmp_path, root="src")
    assert not stale, f"{stale} differ from proto/v1/kube_dtn.proto: run `make proto` and commit"


def test_generated_grpc_module_imports_by_package_path() -> None:
    source = (REPO / "src/kubedtn/proto/v1/kube_dtn_pb2_grpc.py").read_text()
    assert "from kubedtn.proto.v1 import kube_dtn_pb2" in source
    assert "from proto.v1" not in source


@pytest.mark.parametrize("message", sorted(KUBE_DTN_FIELDS))
def test_kube_dtn_fields_keep_their_numbers_and_types(message: str) -> None:
    fields = pb.DESCRIPTOR.message_types_by_name[message].fields_by_name
    theirs = KUBE_DTN_FIELDS[message]
    ours = {name: (fields[name].number, fields[name].type) for name in theirs if name in fields}
    assert ours == theirs
    repeated = {name for name in theirs if name in fields and fields[name].is_repeated}
    assert repeated == ({"links"} if "links" in theirs else set())


def test_our_additions_use_numbers_kube_dtn_does_not() -> None:
    for message, theirs in KUBE_DTN_FIELDS.items():
        taken = {number for number, _ in theirs.values()}
        for field in pb.DESCRIPTOR.message_types_by_name[message].fields:
            if field.name not in theirs:
                assert field.number >= 100 and field.number not in taken, f"{message}.{field.name}"
    link = pb.DESCRIPTOR.message_types_by_name["Link"].fields_by_name
    assert (link["mtu"].number, link["mtu"].type) == (100, UINT32)
    assert link["local_ips"].is_repeated


def test_package_and_method_paths_are_kube_dtns() -> None:
    assert pb.DESCRIPTOR.package == "proto.v1"
    ours = {
        f"/{service.full_name}/{method.name}": (method.input_type.name, method.output_type.name)
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert ours == KUBE_DTN_METHODS | KUBEDTN_METHODS


def test_a_message_encoded_with_only_kube_dtn_fields_decodes() -> None:
    """Bytes a KubeDTN client sends (no kubedtn additions) decode into the same values."""
    link = pb.Link(peer_pod="r2", local_intf="eth1", uid=7, properties=pb.LinkProperties(latency="10ms"))
    decoded = pb.Link.FromString(link.SerializeToString())
    assert (decoded.peer_pod, decoded.uid, decoded.properties.latency, decoded.mtu) == ("r2", 7, "10ms", 0)
    assert list(decoded.local_ips) == []


class _Local(pb_grpc.LocalServicer):
    def SetupPod(self, request: pb.SetupPodQuery, context: grpc.ServicerContext) -> pb.BoolResponse:
        return pb.BoolResponse(response=request.name == "r1" and request.net_ns.startswith("/var/run/netns/"))


@pytest.fixture
def channel() -> Iterator[grpc.Channel]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb_grpc.add_LocalServicer_to_server(_Local(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
            yield chan
    finally:
        server.stop(grace=None)


def test_generated_stub_and_servicer_talk_over_grpc(channel: grpc.Channel) -> None:
    stub = pb_grpc.LocalStub(channel)
    query = pb.SetupPodQuery(name="r1", kube_ns="default", net_ns="/var/run/netns/cni-1")
    assert stub.SetupPod(query, timeout=10).response is True
    with pytest.raises(grpc.RpcError) as caught:
        stub.AddLinks(pb.LinksBatchQuery(), timeout=10)  # not implemented by this servicer
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_kube_dtn_method_path_reaches_the_servicer(channel: grpc.Channel) -> None:
    """A client that knows only the path and the bytes (as KubeDTN's Go client) is served."""
    call = channel.unary_unary(
        "/proto.v1.Local/SetupPod", request_serializer=None, response_deserializer=None
    )
    raw = pb.SetupPodQuery(name="r1", net_ns="/var/run/netns/x").SerializeToString()
    assert pb.BoolResponse.FromString(call(raw, timeout=10)).response is True
