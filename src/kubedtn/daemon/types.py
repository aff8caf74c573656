"""What the link manager is asked (pods by name, with their namespaces) and what it answers."""

from __future__ import annotations

from dataclasses import dataclass

from kubedtn.errors import KubedtnError


@dataclass(frozen=True)
class SetupRequest:
    name: str
    namespace: str
    netns: str
    container_id: str = ""  # the runtime's id of the sandbox (CNI_CONTAINERID); "" unknown

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Sandbox:
    """Which sandbox of a pod a CNI DEL is about: its namespace path and container id ("":
    not said, as by an older client: then any sandbox of the pod)."""

    netns: str = ""
    container_id: str = ""


@dataclass(frozen=True)
class PodOutcome:
    """What happened to one pod of a batch. ``error`` is None when it succeeded."""

    name: str
    namespace: str
    in_topology: bool = True
    error: KubedtnError | None = None
    plumbed: tuple[int, ...] = ()  # uids plumbed (or confirmed) by this call
    skipped: tuple[str, ...] = ()  # why links were left for later

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class CheckResult:
    in_topology: bool
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class NodeSummary:
    version: str
    node_ip: str
    pods_alive: int
    links: int


def split_key(key: str) -> tuple[str, str]:
    """``namespace/name`` → (namespace, name)."""
    namespace, name = key.split("/", 1)
    return namespace, name
