"""``CriClient``: the pod sandbox calls of the CRI over a runtime's unix socket, as kubelet makes them."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Final

import grpc

from tests.support.cri import cri_runtime_v1_pb2 as pb
from tests.support.cri import cri_runtime_v1_pb2_grpc as pb_grpc

API_VERSION: Final = "v1"
# kubelet's runtime request timeout (2 minutes by default): a RunPodSandbox runs the whole
# CNI chain, which may wait on the node daemon.
TIMEOUT_S: Final = 120.0


@dataclass(frozen=True)
class Sandbox:
    id: str
    name: str
    namespace: str
    uid: str
    netns: str  # the runtime's path of the sandbox's network namespace
    ip: str  # the primary network's address, as the runtime reports it


class CriClient:
    """RuntimeService on ``unix://socket``; close() when done (or use as a context manager)."""

    def __init__(self, socket: str) -> None:
        self.channel = grpc.insecure_channel(f"unix://{socket}")
        self.stub = pb_grpc.RuntimeServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> CriClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def version(self, timeout: float = 5.0) -> pb.VersionResponse:
        reply: pb.VersionResponse = self.stub.Version(pb.VersionRequest(version=API_VERSION), timeout=timeout)
        return reply

    def wait_ready(self, deadline_s: float = 60.0) -> pb.VersionResponse:
        """Version, retried until the runtime answers (it is starting)."""
        end = time.monotonic() + deadline_s
        while True:
            try:
                return self.version()
            except grpc.RpcError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.1)

    def run_pod_sandbox(
        self,
        name: str,
        namespace: str = "default",
        *,
        uid: str | None = None,
        cgroup_parent: str = "",
        log_directory: str = "",
    ) -> str:
        """RunPodSandbox of a pod with its own network namespace, as kubelet asks for a Pod
        without hostNetwork; the sandbox's id."""
        config = pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, namespace=namespace, uid=uid or str(uuid.uuid4())),
            hostname=name,
            log_directory=log_directory,
            labels={"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": namespace},
            linux=pb.LinuxPodSandboxConfig(
                cgroup_parent=cgroup_parent,
                security_context=pb.LinuxSandboxSecurityContext(
                    namespace_options=pb.NamespaceOption(network=pb.POD, pid=pb.CONTAINER, ipc=pb.POD)
                ),
            ),
        )
        reply = self.stub.RunPodSandbox(pb.RunPodSandboxRequest(config=config), timeout=TIMEOUT_S)
        return str(reply.pod_sandbox_id)

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        self.stub.StopPodSandbox(pb.StopPodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=TIMEOUT_S)

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        self.stub.RemovePodSandbox(pb.RemovePodSandboxRequest(pod_sandbox_id=sandbox_id), timeout=TIMEOUT_S)

    def delete_pod(self, sandbox_id: str) -> None:
        """As kubelet deletes a pod: StopPodSandbox, then RemovePodSandbox; a sandbox already
        gone is done (kubelet treats NotFound so too)."""
        try:
            self.stop_pod_sandbox(sandbox_id)
            self.remove_pod_sandbox(sandbox_id)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:
                raise

    def status(self, sandbox_id: str) -> tuple[pb.PodSandboxStatus, dict[str, Any]]:
        """The sandbox's status and the runtime's verbose ``info`` document (JSON)."""
        reply = self.stub.PodSandboxStatus(
            pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=True), timeout=TIMEOUT_S
        )
        info = json.loads(reply.info["info"]) if "info" in reply.info else {}
        return reply.status, info

    def sandbox(self, sandbox_id: str) -> Sandbox:
        status, info = self.status(sandbox_id)
        netns = sandbox_netns(info)
        return Sandbox(
            id=status.id,
            name=status.metadata.name,
            namespace=status.metadata.namespace,
            uid=status.metadata.uid,
            netns=netns,
            ip=status.network.ip,
        )

    def list_pod_sandboxes(self) -> list[pb.PodSandbox]:
        return list(self.stub.ListPodSandbox(pb.ListPodSandboxRequest(), timeout=TIMEOUT_S).items)


def sandbox_netns(info: dict[str, Any]) -> str:
    """The network namespace path in containerd's verbose sandbox info (the runtime spec's
    network namespace entry), or "" when the sandbox has none."""
    spec = info.get("runtimeSpec") or {}
    for ns in (spec.get("linux") or {}).get("namespaces") or []:
        if ns.get("type") == "network" and ns.get("path"):
            return str(ns["path"])
    return ""
