"""The record a lab keeps of what it made: ``<state dir>/lab.json``.

It is what makes a lab's things *ours*: a namespace named like a lab pod but not listed
here is someone else's and ``lab up`` refuses to touch it. ``up`` writes the record
before it creates anything (listing what it is about to make), so a crash never leaves
something unlisted behind, and ``down`` removes the record last.

JSON with plain fields; written atomically (temp file + rename). Standard library only.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from kubedtn.errors import KubedtnError
from kubedtn.lab.names import LabPaths, netns_path, pod_key

FORMAT = 1


@dataclass(frozen=True)
class PodRecord:
    """A pod of the lab and its network namespace (a name in /run/netns)."""

    name: str
    kube_ns: str
    netns: str
    node: str = ""  # the simulated node it runs on ("": the lab's one daemon)

    @property
    def key(self) -> str:
        return pod_key(self.kube_ns, self.name)

    @property
    def netns_path(self) -> str:
        return netns_path(self.netns)


@dataclass(frozen=True)
class CniRecord:
    """What ``--via-cni`` set up besides the pods: the bridge and its IPAM."""

    bridge: str
    subnet: str
    conflist: str  # path of the network configuration list used for ADD and DEL
    cni_path: str  # CNI_PATH the plugins were run with
    ipam_dir: str  # host-local's dataDir


@dataclass(frozen=True)
class DaemonRecord:
    """The daemon the lab talks to; ``started`` when the lab started it (and stops it)."""

    socket: str
    started: bool = False
    pid: int | None = None
    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class BypassRecord:
    """The lab's eBPF TCP/IP bypass (``kubedtn.lab.bypass``): its cgroup and pin directory."""

    cgroup: str
    pin_dir: str


@dataclass(frozen=True)
class NodeRecord:
    """A simulated node (``lab up --nodes``): its namespace, underlay IP and daemon."""

    name: str
    netns: str  # name in /run/netns
    ip: str  # HOST_IP of its daemon, on the fabric
    index: int  # its port on the fabric bridge
    pid: int | None = None
    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabState:
    name: str
    store: str
    pods: tuple[PodRecord, ...] = ()
    daemon: DaemonRecord | None = None
    cni: CniRecord | None = None
    sources: tuple[str, ...] = ()  # the files of the last `lab up`
    format: int = FORMAT
    nodes: tuple[NodeRecord, ...] = ()  # simulated nodes (empty: one daemon in the host namespace)
    fabric: str = ""  # the namespace of the nodes' underlay bridge
    underlay: str = ""  # the subnet of the nodes' underlay (`lab up --underlay`)
    bypass: BypassRecord | None = None  # the TCP/IP bypass of the lab's own (None: off)

    def node(self, name: str) -> NodeRecord | None:
        return next((n for n in self.nodes if n.name == name), None)

    def pod(self, kube_ns: str, name: str) -> PodRecord | None:
        return next((p for p in self.pods if p.kube_ns == kube_ns and p.name == name), None)

    def with_pods(self, pods: Iterable[PodRecord]) -> LabState:
        merged = {p.key: p for p in self.pods}
        merged.update({p.key: p for p in pods})
        return replace(self, pods=tuple(sorted(merged.values(), key=lambda p: (p.kube_ns, p.name))))

    def without_pods(self, keys: Iterable[str]) -> LabState:
        drop = set(keys)
        return replace(self, pods=tuple(p for p in self.pods if p.key not in drop))


class StateError(KubedtnError):
    """The lab's state file cannot be read or written."""


def to_json(state: LabState) -> dict[str, Any]:
    return asdict(state)


def from_json(raw: dict[str, Any], *, where: str) -> LabState:
    try:
        daemon = raw.get("daemon")
        cni = raw.get("cni")
        bypass = raw.get("bypass")
        return LabState(
            name=str(raw["name"]),
            store=str(raw["store"]),
            pods=tuple(PodRecord(**p) for p in raw.get("pods") or ()),
            daemon=DaemonRecord(**{**daemon, "argv": tuple(daemon.get("argv") or ())}) if daemon else None,
            cni=CniRecord(**cni) if cni else None,
            sources=tuple(raw.get("sources") or ()),
            format=int(raw.get("format", FORMAT)),
            nodes=tuple(
                NodeRecord(**{**n, "argv": tuple(n.get("argv") or ())}) for n in raw.get("nodes") or ()
            ),
            fabric=str(raw.get("fabric") or ""),
            underlay=str(raw.get("underlay") or raw.get("subnet") or ""),  # "subnet" in older records
            bypass=BypassRecord(**bypass) if bypass else None,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise StateError(f"{where}: not a lab state file ({type(e).__name__}: {e}); remove it by hand") from e


def load(paths: LabPaths) -> LabState | None:
    """The lab's record, or None when the lab does not exist."""
    try:
        text = paths.state_file.read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateError(f"{paths.state_file}: cannot read: {e.strerror}") from e
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise StateError(f"{paths.state_file}: not JSON ({e}); remove it by hand") from e
    if not isinstance(raw, dict):
        raise StateError(f"{paths.state_file}: not a lab state file; remove it by hand")
    return from_json(raw, where=str(paths.state_file))


def save(paths: LabPaths, state: LabState) -> None:
    """Writes the record atomically (readers see the old or the new one, never half)."""
    paths.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = json.dumps(to_json(state), indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(dir=paths.state_dir, prefix=".lab.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, paths.state_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove(paths: LabPaths) -> None:
    paths.state_file.unlink(missing_ok=True)
