"""Removing our interfaces: by name (a veth end takes its peer along), or every one of ours
in a namespace at once (by interface group: one request per namespace)."""

from __future__ import annotations

from collections.abc import Iterable

from kubedtn.dataplane import rtnl
from kubedtn.dataplane.errors import DataplaneError, NotOursError
from kubedtn.dataplane.netns import namespace_exists
from kubedtn.dataplane.plan import NsKey
from kubedtn.dataplane.requests import failure_error
from kubedtn.dataplane.session import Session, Step, locked
from kubedtn.dataplane.specs import InterfaceRef


def remove_interfaces(refs: Iterable[InterfaceRef], *, group: int, threads: int) -> list[InterfaceRef]:
    """Deletes our interfaces by name (a veth end takes its peer along); a name or a
    namespace already gone counts as done. Returns the refs that existed.

    Raises NotOursError, before deleting anything, if one of them is not kubedtn's.
    """
    removed: list[InterfaceRef] = []
    with Session() as session:
        by_ns: dict[NsKey, list[InterfaceRef]] = {}
        for ref in refs:
            if namespace_exists(ref.netns):
                by_ns.setdefault(session.add(ref.netns), []).append(ref)
        with locked(by_ns):
            batches: dict[NsKey, list[Step]] = {}
            foreign: list[str] = []
            for key, items in by_ns.items():
                links = session.read_links(key)
                for ref in items:
                    live = links.get(ref.name)
                    if live is None:
                        continue
                    where = f"{session.labels[key]}/{ref.name}"
                    if live.group != group:
                        foreign.append(f"{where} (a {live.kind or 'device'} in group {live.group})")
                        continue
                    batches.setdefault(key, []).append(
                        Step(rtnl.delete_link(live.ifindex, what=f"delete {where}"), -1, missing_ok=True)
                    )
                    removed.append(ref)
            if foreign:
                raise NotOursError(f"not created by kubedtn, not removed: {', '.join(foreign)}")
            failures = session.run_parallel(batches, threads=threads)
    if failures:
        raise DataplaneError("; ".join(str(failure_error(s, f)) for s, f in failures))
    return removed


def remove_group(netns: Iterable[str], *, group: int, threads: int) -> None:
    """Deletes every interface of ours in these namespaces: one request per namespace
    (by interface group). Namespaces that do not exist are skipped."""
    with Session() as session:
        batches: dict[NsKey, list[Step]] = {}
        for path in netns:
            if not namespace_exists(path):
                continue
            key = session.add(path)
            what = f"delete kubedtn's interfaces in {session.labels[key]}"
            batches[key] = [Step(rtnl.delete_group(group, what=what), -1, missing_ok=True)]
        failures = session.run_parallel(batches, threads=threads)
    if failures:
        raise DataplaneError("; ".join(str(failure_error(s, f)) for s, f in failures))
