"""The Dataplane: makes the kernel match desired links, reads back what exists.

Each call works like this: check the specs (nothing touched on bad input) → open the
namespaces → lock them (calls of this process on the same namespaces take turns) → read
what exists → ``plan_apply`` decides → the plan is sent as a few large netlink batches:

1. deletions (stale links, pruned ones), one batch per namespace;
2. creations, one batch per sending namespace (a veth from its first end's namespace,
   a VXLAN/macvlan from the node namespace), every interface created directly in its
   namespace with a chosen ifindex;
3. per namespace: addresses, qdiscs (before the interface goes up: traffic is never
   unshaped), then MTU/MAC/alias/gso_max_segs/up; an existing end's gso_max_segs after
   its link's qdiscs took (3b, ``rtnl.resize_link``).

A link that fails is rolled back if this call created it, and reported; the others
stand. The requests themselves are built in ``requests``; removal and reading back live in
``removal`` and ``reading``. Thread-safety: every public method may be called from any thread at once; a
call uses its own sockets and fds (closed before it returns) and leaves the calling
thread in the namespace it was in.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Final, Protocol

from kubedtn.dataplane import rtnl
from kubedtn.dataplane.api import ApplyReport, LinkResult, Outcome
from kubedtn.dataplane.bpfmark import marker_action, marker_wanted
from kubedtn.dataplane.errors import (
    ApplyError,
    DataplaneError,
    NamespaceNotFoundError,
    NetemMissingError,
    NotOursError,
)
from kubedtn.dataplane.live import LiveInterface, alias_for
from kubedtn.dataplane.netns import namespace_exists, namespace_id
from kubedtn.dataplane.plan import ApplyPlan, EndPlan, LinkPlan, NsKey, NsState, plan_apply
from kubedtn.dataplane.qdisc import gso_max_segs_fix, qdisc_actions, qdisc_plan
from kubedtn.dataplane.reading import read_interfaces
from kubedtn.dataplane.removal import remove_group, remove_interfaces
from kubedtn.dataplane.requests import config_steps, create_request, failure_error, vni_taken
from kubedtn.dataplane.session import Session, Step, locked
from kubedtn.dataplane.specs import (
    InterfaceRef,
    LinkSpec,
    MacvlanSpec,
    VethSpec,
    VxlanSpec,
    describe,
    validate_links,
)
from kubedtn.model import LinkProperties

log = logging.getLogger(__name__)

# IFLA_GROUP of every interface kubedtn creates: cleanup touches only these. "kdtn" in ASCII.
KUBEDTN_GROUP: Final = 0x6B64746E

# Threads that overlap the kernel's post-delete waits (see Session.run_parallel).
DELETE_THREADS: Final = 16
# Threads that send interface settings of different namespaces at once (Session.run_as_built).
CONFIGURE_THREADS: Final = 4
# Re-plans after a create lost a race for a name or ifindex (another process created one).
_RETRIES: Final = 3

_OUTCOME: Final[dict[str, Outcome]] = {
    "create": "created",
    "keep": "kept",
    "update": "updated",
    "replace": "replaced",
    "refuse": "failed",
}


class MarkerProgram(Protocol):
    """The loaded tc program that marks flows the TCP/IP bypass must leave alone
    (``kubedtn.ebpf.Bypass`` is one)."""

    def marker_program_fd(self) -> int: ...


class NetlinkDataplane:
    """The ``Dataplane`` of the kernel: links and their properties in network namespaces,
    through our own netlink codec (see the module docstring).

    ``marker``: while set, every link end with properties (or whose link opted out of the
    bypass) gets the bypass marker on its egress, and ends without lose it
    (``kubedtn.dataplane.bpfmark``); None (the bypass is off) takes it off every end applied.
    """

    def __init__(
        self,
        *,
        group: int = KUBEDTN_GROUP,
        delete_threads: int = DELETE_THREADS,
        marker: MarkerProgram | None = None,
    ) -> None:
        if not 0 < group <= 0xFFFFFFFF:
            raise ValueError(f"group {group} is not an interface group (1..2**32-1)")
        self.group = group
        self.delete_threads = delete_threads
        self.marker = marker

    # ---- apply --------------------------------------------------------------------------

    def apply(
        self, links: Sequence[LinkSpec], *, prune: Iterable[str] = (), strict: bool = True
    ) -> ApplyReport:
        """Makes the kernel hold exactly these links (idempotent).

        ``prune``: namespaces (paths) in which our interfaces that are not an end of one of
        ``links`` are deleted. With ``strict`` (default) a failed link raises ApplyError
        (carrying the report) after the other links were applied.
        """
        links = list(links)
        validate_links(links)
        started = time.monotonic()
        with Session() as session:
            for link in links:
                paths: list[str | None] = [ep.netns for ep in link.endpoints]
                if isinstance(link, VxlanSpec | MacvlanSpec):
                    paths.append(link.node_netns)
                for path in paths:
                    try:
                        session.add(path)
                    except NamespaceNotFoundError as e:
                        raise NamespaceNotFoundError(f"{describe(link)}: {e}") from e
            prune_keys: list[NsKey] = []
            for path in prune:
                if namespace_exists(path):
                    prune_keys.append(session.add(path))
            ep_keys = {session.key_of[ep.netns] for link in links for ep in link.endpoints}
            marker_fd = self._marker_fd()
            with locked(ep_keys | set(prune_keys)):
                results, pruned = self._apply_locked(session, links, prune_keys, marker_fd)
            report = ApplyReport(tuple(results), tuple(pruned), session.changes)
        counts = " ".join(f"{k}={v}" for k, v in sorted(report.counts().items()))
        log.info(
            "dataplane apply links=%d %s pruned=%d changes=%d ms=%.1f",
            len(links),
            counts,
            len(pruned),
            report.changes,
            (time.monotonic() - started) * 1000,
        )
        if strict and report.failed:
            lines = "; ".join(f"link {r.uid}: {r.detail}" for r in report.failed)
            raise ApplyError(f"{len(report.failed)} of {len(links)} links failed: {lines}", report)
        return report

    def _marker_fd(self) -> int | None:
        """The marker program's fd for this call (asked once, so one call marks with one program)."""
        return None if self.marker is None else self.marker.marker_program_fd()

    def _apply_locked(
        self, session: Session, links: list[LinkSpec], prune_keys: list[NsKey], marker_fd: int | None
    ) -> tuple[list[LinkResult], list[InterfaceRef]]:
        results: dict[int, LinkResult] = {}
        pruned: list[InterfaceRef] = []
        todo = list(range(len(links)))
        for attempt in range(_RETRIES):
            batch = [links[i] for i in todo]
            plan = plan_apply(
                batch,
                states=self._read_states(session, batch),
                ns_of=session.key_of,
                group=self.group,
                prune=prune_keys if attempt == 0 else (),
                marking=marker_fd is not None,
            )
            outcome, retry, gone = self._execute(
                session, plan, last_try=attempt == _RETRIES - 1, marker_fd=marker_fd
            )
            pruned += gone
            for j, result in outcome.items():
                results[todo[j]] = result
            if not retry:
                break
            log.debug("dataplane apply: %d links lost a race for a name or ifindex; re-planning", len(retry))
            todo = [todo[j] for j in retry]
        return [results[i] for i in range(len(links))], pruned

    def _read_states(self, session: Session, links: Sequence[LinkSpec]) -> dict[NsKey, NsState]:
        """Reads links of every namespace of the call; addresses/qdiscs/nsids only where a
        desired interface already exists (nothing to compare otherwise)."""
        session.open_sockets()
        states = {
            key: NsState(key=key, label=session.labels[key], links=session.read_links(key))
            for key in set(session.key_of.values())
        }
        detail: set[NsKey] = set()
        nsid_pairs: set[tuple[NsKey, NsKey]] = set()
        for link in links:
            keys = [session.key_of[ep.netns] for ep in link.endpoints]
            present = [ep.name in states[k].links for ep, k in zip(link.endpoints, keys, strict=True)]
            detail.update(k for k, p in zip(keys, present, strict=True) if p)
            if not all(present):
                continue
            if isinstance(link, VethSpec) and keys[0] != keys[1]:
                nsid_pairs.update({(keys[0], keys[1]), (keys[1], keys[0])})
            elif isinstance(link, VxlanSpec | MacvlanSpec):
                node = session.key_of[link.node_netns]
                if node != keys[0]:
                    nsid_pairs.add((keys[0], node))
        for key in detail:
            states[key].addresses = session.read_addresses(key)
            states[key].qdiscs = session.read_qdiscs(key)
        for key, other in nsid_pairs:
            states[key].nsids[other] = session.nsid(key, other)
        return states

    def _execute(
        self, session: Session, plan: ApplyPlan, *, last_try: bool, marker_fd: int | None
    ) -> tuple[dict[int, LinkResult], list[int], list[InterfaceRef]]:
        """Runs a plan; per-link results, links to re-plan, and pruned interfaces."""
        errors: dict[int, DataplaneError] = {}
        for i, lp in enumerate(plan.links):
            if lp.verdict == "refuse":
                errors[i] = NotOursError(lp.reason) if lp.foreign else DataplaneError(lp.reason)
        label = session.labels

        # 1. deletions
        deletes: dict[NsKey, list[Step]] = {}
        for i, lp in enumerate(plan.links):
            if i in errors:
                continue
            for d in lp.deletes:
                what = f"delete stale {label[d.ns]}/{d.name}"
                deletes.setdefault(d.ns, []).append(
                    Step(rtnl.delete_link(d.ifindex, what=what), i, missing_ok=True)
                )
        for d in plan.prune:
            what = f"delete {label[d.ns]}/{d.name} (no longer wanted)"
            deletes.setdefault(d.ns, []).append(
                Step(rtnl.delete_link(d.ifindex, what=what), -1, missing_ok=True, tag=d)
            )
        prune_failed: set[object] = set()
        for step, failure in session.run_parallel(deletes, threads=self.delete_threads):
            if step.link >= 0:
                errors.setdefault(step.link, failure_error(step, failure))
            else:
                log.warning("dataplane prune: %s", failure_error(step, failure))
                prune_failed.add(step.tag)
        pruned = [
            InterfaceRef(session.paths[d.ns] or "", d.name) for d in plan.prune if d not in prune_failed
        ]

        # 2. creations
        retry: list[int] = []
        for step, failure in session.run_each(self._creations(session, plan, errors)):
            # A taken VNI is no race for a name or index: re-planning cannot help.
            race = failure.code in (errno.EEXIST, errno.EBUSY) and not vni_taken(step, failure)
            if race and not last_try:
                retry.append(step.link)
            errors.setdefault(step.link, failure_error(step, failure))

        # 3. addresses, qdiscs, then link settings and up — per namespace
        configuration = self._configuration(session, plan, errors, marker_fd)
        for step, failure in session.run_as_built(configuration, threads=CONFIGURE_THREADS):
            errors.setdefault(step.link, failure_error(step, failure))
        # 3b. the packet size of existing ends, once their link's qdiscs took (a new end has
        # it in step 3's settings: a failure there removes the whole link)
        resizes: dict[NsKey, list[Step]] = {}
        for i, lp in enumerate(plan.links):
            for end in lp.ends:
                if i not in errors and end.gso_max_segs is not None and not end.created:
                    where = f"{label[end.ns]}/{end.name}"
                    request = rtnl.resize_link(
                        end.ifindex,
                        end.gso_max_segs,
                        alias=alias_for(lp.link.uid),  # (what step 3 left on it)
                        what=f"set gso_max_segs {end.gso_max_segs} on {where}",
                    )
                    resizes.setdefault(end.ns, []).append(Step(request, i))
        for step, failure in session.run_each(resizes.items()):
            errors.setdefault(step.link, failure_error(step, failure))

        # 4. roll back what this call created for links that failed
        rollback: dict[NsKey, list[Step]] = {}
        for i, error in errors.items():
            lp = plan.links[i]
            if lp.verdict in ("create", "replace") and lp.ends:
                first = lp.ends[0]
                what = f"roll back {label[first.ns]}/{first.name}"
                rollback.setdefault(first.ns, []).append(
                    Step(rtnl.delete_link(first.ifindex, what=what), i, missing_ok=True)
                )
                # (deleting one veth end deletes its peer too)
                log.debug("dataplane rollback link=%d cause=%s", lp.link.uid, error)
        for step, failure in session.run_parallel(rollback, threads=self.delete_threads):
            log.warning("dataplane rollback failed: %s", failure_error(step, failure))

        results: dict[int, LinkResult] = {}
        for i, lp in enumerate(plan.links):
            indexes = tuple(e.ifindex for e in lp.ends)
            if i in errors:
                results[i] = LinkResult(lp.link.uid, "failed", str(errors[i]), (), errors[i])
            else:
                results[i] = LinkResult(lp.link.uid, _OUTCOME[lp.verdict], _detail(lp), indexes)
        return results, sorted(set(retry)), pruned

    def _creations(
        self, session: Session, plan: ApplyPlan, errors: dict[int, DataplaneError]
    ) -> Iterator[tuple[NsKey, list[Step]]]:
        """Batches creating the planned links (but those failed already), by sending namespace.
        A link whose request cannot be encoded gets an error in ``errors`` and is left out."""
        senders: dict[NsKey, list[int]] = {}
        for i, lp in enumerate(plan.links):
            if i not in errors and lp.verdict in ("create", "replace"):
                senders.setdefault(lp.ends[0].ns if lp.node is None else lp.node, []).append(i)
        for key, indexes in senders.items():
            steps = []
            for i in indexes:
                lp = plan.links[i]
                try:
                    request = create_request(session, lp, group=self.group)
                except (ValueError, KeyError, OSError) as e:
                    errors[i] = DataplaneError(f"{describe(lp.link)}: cannot encode its creation: {e}")
                    continue
                vni = lp.link.vni if isinstance(lp.link, VxlanSpec) else None
                steps.append(Step(request, i, tag=vni))
            yield key, steps

    def _configuration(
        self, session: Session, plan: ApplyPlan, errors: dict[int, DataplaneError], marker_fd: int | None
    ) -> Iterator[tuple[NsKey, list[Step]]]:
        """A batch per namespace configuring the ends of the links that have not failed: only
        interfaces that exist now (config goes by ifindex: after a failed create, that index
        may be another interface's). Reads ``errors`` when the creations are done; a link
        whose steps cannot be encoded gets an error there (and is rolled back)."""
        ends: dict[NsKey, list[tuple[int, EndPlan, LinkProperties]]] = {}
        for i, lp in enumerate(plan.links):
            if i in errors:
                continue
            for end, ep in zip(lp.ends, lp.link.endpoints, strict=True):
                # (an existing end's packet size goes after its link's qdiscs took: step 3b)
                settings = end if end.created else dataclasses.replace(end, gso_max_segs=None)
                ends.setdefault(end.ns, []).append((i, settings, ep.properties))
        for key, items in ends.items():
            label = session.labels[key]
            steps: list[Step] = []
            for i, end, props in items:
                try:
                    steps += config_steps(i, end, props, label, marker_fd=marker_fd)
                except (ValueError, KeyError, OSError) as e:
                    errors[i] = DataplaneError(
                        f"{describe(plan.links[i].link)}: cannot encode its settings: {e}"
                    )
            yield key, [step for step in steps if step.link not in errors]

    # ---- properties ---------------------------------------------------------------------

    def set_properties(
        self,
        updates: Mapping[InterfaceRef, LinkProperties],
        *,
        unbypassed: AbstractSet[InterfaceRef] = frozenset(),
    ) -> int:
        """Changes the emulated properties of existing interfaces in place (same qdisc
        handles, no moment without emulation); empty properties remove the qdiscs, and the
        bypass marker unless the interface is in ``unbypassed`` (its link opted out).

        Returns the number of requests sent (qdiscs, marker, gso_max_segs; 0 when all
        already matched). Raises DataplaneError (NetemMissingError when netem is missing)
        naming every interface that failed; the others are changed. An end's
        gso_max_segs (``qdisc.gso_max_segs_fix``) is changed once its qdiscs took.
        """
        errors: list[DataplaneError] = []
        sent = 0
        marker_fd = self._marker_fd()
        with Session() as session:
            by_ns: dict[NsKey, list[tuple[InterfaceRef, LinkProperties]]] = {}
            for ref, props in updates.items():
                by_ns.setdefault(session.add(ref.netns), []).append((ref, props))
            with locked(by_ns):
                for key, items in by_ns.items():
                    links = session.read_links(key)
                    qdiscs = session.read_qdiscs(key)
                    steps: list[Step] = []
                    # Sent after the qdiscs, to the ends whose qdiscs all took: an end left
                    # without its netem keeps its packet size.
                    resizes: dict[int, Step] = {}
                    for n, (ref, props) in enumerate(items):
                        where = f"{session.labels[key]}/{ref.name}"
                        live = links.get(ref.name)
                        if live is None:
                            errors.append(
                                DataplaneError(f"{where} does not exist: cannot set its properties")
                            )
                            continue
                        if live.group != self.group:
                            errors.append(
                                NotOursError(f"{where} was not created by kubedtn; its qdiscs are left alone")
                            )
                            continue
                        here = qdiscs.get(live.ifindex, [])
                        wanted = marker_wanted(
                            props, bypass=ref not in unbypassed, marking=marker_fd is not None
                        )
                        end = EndPlan(
                            ns=key,
                            name=ref.name,
                            ifindex=live.ifindex,
                            created=False,
                            qdiscs=tuple(qdisc_actions(qdisc_plan(props, mtu=live.mtu), here)),
                            marker=marker_action(wanted, here),
                        )
                        steps += config_steps(n, end, props, session.labels[key], marker_fd=marker_fd)
                        segments = gso_max_segs_fix(props, live.gso_max_segs, limit=live.tso_max_segs)
                        if segments is not None:
                            what = f"set gso_max_segs {segments} on {where}"
                            resizes[n] = Step(
                                rtnl.resize_link(live.ifindex, segments, alias=live.alias, what=what), n
                            )
                    # The first failure of an interface is the cause; later ones follow from it.
                    first: dict[int, DataplaneError] = {}
                    for step, failure in session.run(key, steps):
                        first.setdefault(step.link, failure_error(step, failure))
                    resized = [step for n, step in resizes.items() if n not in first]
                    for step, failure in session.run(key, resized):
                        first.setdefault(step.link, failure_error(step, failure))
                    sent += len(steps) + len(resized)
                    errors += first.values()
        if errors:
            if all(isinstance(e, NetemMissingError) for e in errors):
                raise NetemMissingError("; ".join(map(str, errors)))
            raise DataplaneError("; ".join(map(str, errors)))
        return sent

    # ---- removal ------------------------------------------------------------------------

    # ---- removal and reading ------------------------------------------------------------

    def remove(self, refs: Iterable[InterfaceRef]) -> list[InterfaceRef]:
        """Deletes our interfaces by name (a veth end takes its peer along); a name or a
        namespace already gone counts as done. Returns the refs that existed.

        Raises NotOursError, before deleting anything, if one of them is not kubedtn's.
        """
        return remove_interfaces(refs, group=self.group, threads=self.delete_threads)

    def remove_owned(self, netns: Iterable[str]) -> None:
        """Deletes every interface of ours in these namespaces (namespaces that do not exist
        are skipped)."""
        remove_group(netns, group=self.group, threads=self.delete_threads)

    def read(self, netns: str, *, owned_only: bool = False, known: Iterable[str] = ()) -> list[LiveInterface]:
        """The interfaces of a namespace (see ``kubedtn.dataplane.reading``)."""
        return read_interfaces(netns, group=self.group, owned_only=owned_only, known=known)

    def namespace_exists(self, path: str) -> bool:
        return namespace_exists(path)

    def namespace_id(self, path: str) -> str:
        return namespace_id(path)

    def holder_of(self, netns: str, ip: str) -> LiveInterface | None:
        """The interface of ``netns`` that has address ``ip`` (a node's VXLAN underlay)."""
        return next((i for i in self.read(netns) if any(a.split("/", 1)[0] == ip for a in i.addresses)), None)


def _detail(lp: LinkPlan) -> str:
    if lp.verdict == "replace":
        return f"replaced: {lp.reason}"
    if lp.verdict == "update":
        return "; ".join(f"{e.name}: {', '.join(e.changes())}" for e in lp.ends if e.changes())
    return ""
