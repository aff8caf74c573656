"""Our CRI subset: generated code is current, and every field has the CRI's number and type
(a runtime reads our messages by number: a wrong one is a silently different field)."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import descriptor

from tests.support.cri import cri_runtime_v1_pb2 as pb
from tests.support.protogen import stale_modules

GENERATED = ("cri_runtime_v1_pb2.py", "cri_runtime_v1_pb2.pyi", "cri_runtime_v1_pb2_grpc.py")
F = descriptor.FieldDescriptor
S, B, U32, I64, E, M = F.TYPE_STRING, F.TYPE_BOOL, F.TYPE_UINT32, F.TYPE_INT64, F.TYPE_ENUM, F.TYPE_MESSAGE

# The CRI's runtime.v1 (k8s.io/cri-api pkg/apis/runtime/v1/api.proto): name -> (number, type).
CRI_FIELDS: dict[str, dict[str, tuple[int, int]]] = {
    "VersionRequest": {"version": (1, S)},
    "VersionResponse": {
        "version": (1, S),
        "runtime_name": (2, S),
        "runtime_version": (3, S),
        "runtime_api_version": (4, S),
    },
    "NamespaceOption": {"network": (1, E), "pid": (2, E), "ipc": (3, E)},
    "LinuxSandboxSecurityContext": {"namespace_options": (1, M), "privileged": (6, B)},
    "LinuxPodSandboxConfig": {"cgroup_parent": (1, S), "security_context": (2, M)},
    "PodSandboxMetadata": {"name": (1, S), "uid": (2, S), "namespace": (3, S), "attempt": (4, U32)},
    "PodSandboxConfig": {
        "metadata": (1, M),
        "hostname": (2, S),
        "log_directory": (3, S),
        "labels": (6, M),
        "annotations": (7, M),
        "linux": (8, M),
    },
    "RunPodSandboxRequest": {"config": (1, M), "runtime_handler": (2, S)},
    "RunPodSandboxResponse": {"pod_sandbox_id": (1, S)},
    "StopPodSandboxRequest": {"pod_sandbox_id": (1, S)},
    "RemovePodSandboxRequest": {"pod_sandbox_id": (1, S)},
    "PodSandboxStatusRequest": {"pod_sandbox_id": (1, S), "verbose": (2, B)},
    "PodIP": {"ip": (1, S)},
    "PodSandboxNetworkStatus": {"ip": (1, S), "additional_ips": (2, M)},
    "PodSandboxStatus": {
        "id": (1, S),
        "metadata": (2, M),
        "state": (3, E),
        "created_at": (4, I64),
        "network": (5, M),
        "labels": (7, M),
        "annotations": (8, M),
        "runtime_handler": (9, S),
    },
    "PodSandboxStatusResponse": {"status": (1, M), "info": (2, M)},
    "PodSandboxStateValue": {"state": (1, E)},
    "PodSandboxFilter": {"id": (1, S), "state": (2, M), "label_selector": (3, M)},
    "ListPodSandboxRequest": {"filter": (1, M)},
    "PodSandbox": {
        "id": (1, S),
        "metadata": (2, M),
        "state": (3, E),
        "created_at": (4, I64),
        "labels": (5, M),
        "annotations": (6, M),
        "runtime_handler": (7, S),
    },
    "ListPodSandboxResponse": {"items": (1, M)},
}
CRI_ENUMS = {
    "NamespaceMode": {"POD": 0, "CONTAINER": 1, "NODE": 2, "TARGET": 3},
    "PodSandboxState": {"SANDBOX_READY": 0, "SANDBOX_NOTREADY": 1},
}
CRI_METHODS = {
    "Version": ("VersionRequest", "VersionResponse"),
    "RunPodSandbox": ("RunPodSandboxRequest", "RunPodSandboxResponse"),
    "StopPodSandbox": ("StopPodSandboxRequest", "StopPodSandboxResponse"),
    "RemovePodSandbox": ("RemovePodSandboxRequest", "RemovePodSandboxResponse"),
    "PodSandboxStatus": ("PodSandboxStatusRequest", "PodSandboxStatusResponse"),
    "ListPodSandbox": ("ListPodSandboxRequest", "ListPodSandboxResponse"),
}


def test_generated_modules_match_the_proto(tmp_path: Path) -> None:
    stale = stale_modules("gen-cri-proto.sh", GENERATED, "tests/support/cri", tmp_path)
    assert not stale, f"{stale} differ from cri_runtime_v1.proto: run hack/gen-cri-proto.sh and commit"


def test_the_package_is_the_cri_s() -> None:
    assert pb.DESCRIPTOR.package == "runtime.v1"


@pytest.mark.parametrize("message", sorted(CRI_FIELDS))
def test_fields_have_the_cri_s_numbers_and_types(message: str) -> None:
    fields = pb.DESCRIPTOR.message_types_by_name[message].fields_by_name
    assert {name: (f.number, f.type) for name, f in fields.items()} == CRI_FIELDS[message]


@pytest.mark.parametrize("enum", sorted(CRI_ENUMS))
def test_enums_have_the_cri_s_values(enum: str) -> None:
    values = pb.DESCRIPTOR.enum_types_by_name[enum].values_by_name
    assert {name: v.number for name, v in values.items()} == CRI_ENUMS[enum]


def test_the_service_is_the_cri_s_runtime_service() -> None:
    service = pb.DESCRIPTOR.services_by_name["RuntimeService"]
    assert service.full_name == "runtime.v1.RuntimeService"
    methods = {m.name: (m.input_type.name, m.output_type.name) for m in service.methods}
    assert methods == CRI_METHODS
