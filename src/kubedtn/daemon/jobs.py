"""One pod's part of a plumbing batch (``PodJob``) and the pure decisions about a batch:
which peers it reads, whether it is closed, the status writes that record it, and one
error per pod."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

from kubedtn.daemon.plan import Decision, SameNode, Skip
from kubedtn.daemon.podstatus import status_after
from kubedtn.daemon.types import PodOutcome
from kubedtn.dataplane import DataplaneError, NamespaceNotFoundError
from kubedtn.errors import KubedtnError, TemporaryError, ValidationError
from kubedtn.model import Link, PeerKind, Topology, TopologyStatus

# What a status write does to the stored status (a partial of podstatus.status_after).
StatusChange = Callable[[Topology], TopologyStatus]


@dataclass
class PodJob:
    """One pod's part of a plumbing batch, filled in as the batch goes through its steps."""

    topo: Topology  # as alive
    links: tuple[Link, ...]
    prune: bool = False
    decisions: list[Decision] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    failures: list[KubedtnError] = field(default_factory=list)
    plumbed: dict[int, Link] = field(default_factory=dict)
    unplumbed: set[int] = field(default_factory=set)
    not_applied: dict[int, str] = field(default_factory=dict)  # by uid: properties the kernel lacks

    @property
    def key(self) -> str:
        return self.topo.key

    def outcome(self) -> PodOutcome:
        """The pod's answer: its first failure (if any), what it plumbed and skipped."""
        return PodOutcome(
            self.topo.name,
            self.topo.namespace,
            error=first_error(self.failures) if self.failures else None,
            plumbed=tuple(sorted(self.plumbed)),
            skipped=self.skipped(),
        )

    def skipped(self) -> tuple[str, ...]:
        return tuple(d.reason for d in self.decisions if isinstance(d, Skip))


def peer_keys(jobs: Sequence[PodJob]) -> set[str]:
    """``namespace/name`` of the peer pods of the jobs' links that are not in the batch."""
    keys = {f"{j.topo.namespace}/{link.peer_pod}" for j in jobs for link in j.links}
    return keys - {j.key for j in jobs}


def is_closed(jobs: Sequence[PodJob]) -> bool:
    """Every link of the batch joins two of its pods (no peer outside it, no host peer)."""
    keys = {j.key for j in jobs}
    return all(
        link.peer_kind is PeerKind.POD and f"{j.topo.namespace}/{link.peer_pod}" in keys
        for j in jobs
        for link in j.links
    )


def status_changes(jobs: Sequence[PodJob], *, now: str) -> list[tuple[str, StatusChange]]:
    """The status writes that record the jobs: each job's pod, and the same-node peers
    outside the batch whose links they plumbed."""
    in_batch = {j.key for j in jobs}
    changes: list[tuple[str, StatusChange]] = []
    for job in jobs:
        failure = "; ".join(str(e) for e in job.failures) or None
        change = partial(
            status_after,
            now=now,
            alive=(job.topo.status.src_ip, job.topo.status.net_ns),
            sandbox=(job.topo.status.net_ns_id, job.topo.status.container_id),
            plumbed=dict(job.plumbed),
            unplumbed=set(job.unplumbed),
            failure=failure,
            not_applied=dict(job.not_applied),
        )
        changes.append((job.key, change))
    peer_links: dict[str, dict[int, Link]] = {}
    peer_notes: dict[str, dict[int, str]] = {}
    for job in jobs:
        for d in job.decisions:
            if isinstance(d, SameNode) and d.link.uid in job.plumbed and d.peer not in in_batch:
                peer_links.setdefault(d.peer, {})[d.link.uid] = d.link
                if d.link.uid in job.not_applied:
                    peer_notes.setdefault(d.peer, {})[d.link.uid] = job.not_applied[d.link.uid]
    for peer, uids in peer_links.items():
        notes = peer_notes.get(peer, {})
        changes.append((peer, partial(status_after, now=now, plumbed_own=uids, not_applied=notes)))
    return changes


def same_life(stored: Topology | None, topo: Topology) -> bool:
    """The pod as ``stored`` is still the life ``topo`` set up: recorded running on the same
    node in the same namespace (the same one by identity, when both record it)."""
    if stored is None:
        return False
    now, then = stored.status, topo.status
    if not (now.src_ip and now.net_ns) or (now.src_ip, now.net_ns) != (then.src_ip, then.net_ns):
        return False
    return not (now.net_ns_id and then.net_ns_id and now.net_ns_id != then.net_ns_id)


def first_error(errors: Sequence[KubedtnError]) -> KubedtnError:
    """One error for a pod: the kind of the first decides the gRPC code; every message is kept."""
    if len(errors) == 1:
        return errors[0]
    first = errors[0]
    if isinstance(first, ValidationError):
        return ValidationError([p for e in errors for p in getattr(e, "problems", [str(e)])])
    text = "; ".join(str(e) for e in errors)
    for kind in (TemporaryError, NamespaceNotFoundError, DataplaneError):
        if isinstance(first, kind):
            return kind(text)
    return KubedtnError(text)


def about(pod: str, uid: int, error: KubedtnError) -> KubedtnError:
    """The error, its message prefixed with the pod and link it is about (same kind)."""
    if isinstance(error, ValidationError):
        return error
    try:
        return type(error)(f"{pod}: link {uid}: {error}")
    except TypeError:  # a kind that wants more than a message
        return DataplaneError(f"{pod}: link {uid}: {error}")
