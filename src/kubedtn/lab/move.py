"""``kubedtn lab move POD --node NODE`` and ``kubedtn lab node stop|start NODE``.

A move is what Kubernetes does when it reschedules a pod: the old node's daemon gets
``DestroyPod`` (it removes the pod's links and their far ends on other nodes), the pod's
sandbox is deleted and made anew, and the new node's daemon gets ``SetupPod`` (it makes
the pod's ends toward the peers and, through ``Remote.Update``, the peers' ends toward
the new node). The record names the new node before the pod comes up there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from kubedtn.dataplane import create_namespaces, delete_namespaces
from kubedtn.errors import ValidationError
from kubedtn.lab import nodedaemons, state
from kubedtn.lab.enter import find_pod
from kubedtn.lab.names import lab_paths
from kubedtn.lab.nodes import node_of
from kubedtn.lab.state import LabState, NodeRecord


@dataclass(frozen=True)
class MoveResult:
    pod: str
    old: str
    new: str
    problems: tuple[str, ...]  # what went wrong on the old node (the pod moved anyway)
    error: str  # SetupPod on the new node failed: why


def move(pod: str, *, node: str, lab: str | None) -> MoveResult:
    current, record = find_pod(pod, lab=lab)
    target = node_of(current, node)
    paths = lab_paths(current.name)
    old = current.node(record.node)
    problems: list[str] = []
    if old is not None and nodedaemons.answers(paths, old):
        problems += nodedaemons.destroy_pods(paths, [record], {old.name: True})
    elif old is not None:
        problems.append(
            f"the daemon of node {old.name} does not answer; the pod's old ends were not removed there"
        )
    delete_namespaces([record.netns])
    create_namespaces([record.netns], loopback_up=True)
    moved = replace(record, node=target.name)
    state.save(paths, current.with_pods([moved]))
    failed = nodedaemons.setup_pods(paths, [moved])
    return MoveResult(
        record.key, record.node, target.name, tuple(problems), failed[0].error if failed else ""
    )


def _lab_node(lab: str | None, node: str) -> tuple[LabState, NodeRecord]:
    from kubedtn.lab.status import choose_lab

    name = choose_lab(lab)
    current = state.load(lab_paths(name))
    if current is None:
        raise ValidationError(f"--name: lab {name} is not up")
    return current, node_of(current, node)


def stop_node(lab: str | None, node: str) -> bool:
    """Stops one node's daemon (its links stay as they are); True when it was running."""
    current, record = _lab_node(lab, node)
    return nodedaemons.stop(lab_paths(current.name), record)


def start_node(lab: str | None, node: str) -> NodeRecord:
    """Starts one node's daemon again (it reconciles its pods on start) and waits for it."""
    current, record = _lab_node(lab, node)
    paths = lab_paths(current.name)
    started, proc = nodedaemons.spawn(paths, record, store=current.store, bypass=current.bypass)
    nodedaemons.wait(paths, started, proc)
    state.save(paths, replace(current, nodes=tuple(started if n.name == node else n for n in current.nodes)))
    return started
