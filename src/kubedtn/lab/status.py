"""``kubedtn lab status``: the lab's record, its daemon, and pods and links as they are now."""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from kubedtn.errors import KubedtnError, NotFoundError
from kubedtn.lab import daemonproc, state
from kubedtn.lab.client import DaemonInfo, LabDaemonClient
from kubedtn.lab.daemonproc import DaemonFiles
from kubedtn.lab.names import DEFAULT_LAB, LabPaths, known_labs, lab_paths
from kubedtn.lab.nodes import NodePaths
from kubedtn.lab.state import LabState, NodeRecord
from kubedtn.lab.view import LabView, gather
from kubedtn.store import open_store


@dataclass(frozen=True)
class DaemonView:
    pid: int | None  # None: not running
    started_by_lab: bool
    socket: str
    info: DaemonInfo | None  # None: does not answer
    error: str = ""


@dataclass(frozen=True)
class NodeView:
    """A simulated node: its record, and its daemon as it is now."""

    node: NodeRecord
    pods: int
    daemon: DaemonView


@dataclass(frozen=True)
class LabStatus:
    state: LabState
    paths: LabPaths
    daemon: DaemonView
    view: LabView
    nodes: tuple[NodeView, ...] = ()


def choose_lab(name: str | None) -> str:
    """The lab a command without --name means: the only one there is (or the default)."""
    if name:
        return name
    labs = known_labs()
    if len(labs) > 1:
        raise KubedtnError(f"there are several labs ({', '.join(labs)}); say which with --name")
    return labs[0] if labs else DEFAULT_LAB


def daemon_view(paths: LabPaths, current: LabState) -> DaemonView:
    return _daemon_view(paths, bool(current.daemon and current.daemon.started))


def node_views(paths: LabPaths, current: LabState) -> tuple[NodeView, ...]:
    return tuple(
        NodeView(
            n, sum(1 for p in current.pods if p.node == n.name), _daemon_view(NodePaths(paths, n.name), True)
        )
        for n in current.nodes
    )


def _daemon_view(paths: DaemonFiles, started: bool) -> DaemonView:
    pid = daemonproc.running_pid(paths)
    if pid is None:
        return DaemonView(None, started, str(paths.socket), None)
    try:
        with LabDaemonClient(str(paths.socket), timeout_s=5.0) as client:
            return DaemonView(pid, started, str(paths.socket), client.status())
    except KubedtnError as e:
        return DaemonView(pid, started, str(paths.socket), None, str(e))


def lab_status(name: str | None) -> LabStatus:
    lab = choose_lab(name)
    paths = lab_paths(lab)
    current = state.load(paths)
    if current is None:
        raise NotFoundError(f"lab {lab} is not up (no {paths.state_file})")
    if Path(current.store).exists():
        with closing(open_store(current.store)) as store:
            view = gather(store, lab, current.pods)
    else:
        view = LabView((), (), (f"the lab's store {current.store} is gone",))
    return LabStatus(current, paths, daemon_view(paths, current), view, node_views(paths, current))
