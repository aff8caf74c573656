"""``kubedtn lab down`` and taking single pods out of a lab.

A pod goes in this order: its namespace is deleted (which takes every interface in it
along, and the far end of each veth), then the daemon records it gone (``DestroyPods``;
with nothing left to unplumb this is only a store write), then its store object goes.
In ``--via-cni`` mode a CNI DEL comes first, as a runtime runs it before it removes the
sandbox. Without a daemon the namespaces go directly: all of a lab's links are veth
pairs between its own namespaces, so nothing of them outlives the namespaces.

``down`` then removes the bridge and IPAM data of ``--via-cni``, stops the daemon the lab
started, removes the lab's TCP/IP bypass (``kubedtn.lab.bypass``) and deletes the lab's
directories; the record goes last, so a ``down`` that
stops half-way can simply be run again.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubedtn.dataplane import delete_namespaces
from kubedtn.errors import KubedtnError, NotFoundError
from kubedtn.lab import bypass as labbypass
from kubedtn.lab import cnimode, daemonproc, fabric, nodedaemons, state, topostore
from kubedtn.lab.client import LabDaemonClient
from kubedtn.lab.names import LabPaths, known_labs, lab_paths
from kubedtn.lab.progress import Progress
from kubedtn.lab.state import BypassRecord, LabState, PodRecord
from kubedtn.store import ObjectStore, open_store


@dataclass
class DownResult:
    lab: str
    existed: bool
    pods: int = 0
    objects: int = 0
    daemon_stopped: bool = False
    bridge_removed: str = ""
    nodes: int = 0  # simulated nodes removed (namespaces and daemons)
    bypass_removed: bool = False  # the lab's TCP/IP bypass: detached, unpinned, cgroup gone
    problems: list[str] = field(default_factory=list)  # what could not be done cleanly


def labs_from_files(files: Sequence[str], lab: str | None) -> tuple[list[str], list[str]]:
    """The labs ``lab down FILE...`` takes down, and the files no lab was brought up from.

    As containerlab's ``destroy -t FILE``: a lab goes when its last ``lab up`` was given
    one of the files, or a directory holding it. With ``lab`` (--name), only that lab,
    which must be one of them if it is up."""
    wanted: list[Path] = []
    for f in files:
        path = Path(f)
        if not path.exists():
            raise NotFoundError(f"{f}: no such file or directory (give the files `lab up` was given)")
        wanted.append(path.resolve())
    held: dict[str, tuple[Path, ...]] = {}
    for name in [lab] if lab else known_labs():
        current = state.load(lab_paths(name))
        if current is not None:
            held[name] = tuple(Path(s) for s in current.sources)

    def from_file(name: str, path: Path) -> bool:
        return any(path == s or s in path.parents for s in held[name])

    labs = [name for name in held if any(from_file(name, w) for w in wanted)]
    if lab and lab in held and not labs:
        were = ", ".join(map(str, held[lab])) or "none recorded"
        raise KubedtnError(f"lab {lab} was not brought up from {', '.join(files)} (its files: {were})")
    unmatched = [f for f, w in zip(files, wanted, strict=True) if not any(from_file(n, w) for n in labs)]
    return ([lab] if lab else labs), unmatched


def _daemon_answers(paths: LabPaths) -> bool:
    if daemonproc.running_pid(paths) is None:
        return False
    with LabDaemonClient(str(paths.socket)) as client:
        return client.answers()


def take_down_pods(
    current: LabState,
    paths: LabPaths,
    pods: Sequence[PodRecord],
    *,
    store: ObjectStore | None,
    progress: Progress | None = None,
    tell_daemon: bool = True,
) -> list[str]:
    """Destroys pods (daemon or CNI DEL if the daemon runs), deletes their namespaces and
    store objects. Returns the problems met (the pods are gone either way)."""
    problems: list[str] = []
    if current.nodes:
        # Pods on simulated nodes: their node's daemon removes their links and the far ends
        # on other nodes (which the namespace's deletion would not reach) while the
        # namespace still exists.
        if tell_daemon and pods:
            alive = {n.name: nodedaemons.answers(paths, n) for n in current.nodes}
            problems += nodedaemons.destroy_pods(paths, pods, alive)
        delete_namespaces([p.netns for p in pods])
        if store is not None:
            topostore.delete(store, current.name, keys=[p.key for p in pods])
        return problems
    daemon = tell_daemon and bool(pods) and _daemon_answers(paths)
    if daemon and current.cni is not None:
        # As a runtime: CNI DEL while the sandbox's namespace still exists, then the namespace.
        errors = cnimode.delete_pods(
            current.cni, paths, pods, on_done=progress.advance if progress else lambda _: None
        )
        problems += [f"{key}: CNI DEL: {error}" for key, error in errors.items()]
    # Deleting a namespace takes its interfaces along at once (the kernel finishes in the
    # background), and a veth's far end with it: far cheaper than deleting 1000 links one by
    # one first. The daemon then only has to record the pods as gone.
    delete_namespaces([p.netns for p in pods])
    if daemon and current.cni is None:
        try:
            with LabDaemonClient(str(paths.socket)) as client:
                outcomes = client.destroy_pods([(p.name, p.kube_ns) for p in pods])
            problems += [f"{o.kube_ns}/{o.name}: DestroyPods: {o.error}" for o in outcomes if not o.ok]
        except KubedtnError as e:
            problems.append(f"DestroyPods: {e}")
    if store is not None:
        topostore.delete(store, current.name, keys=[p.key for p in pods])
    return problems


def down(lab: str, *, progress: Progress) -> DownResult:
    paths = lab_paths(lab)
    current = state.load(paths)
    result = DownResult(lab=lab, existed=current is not None)
    if current is None:
        # Nothing recorded; a daemon left by an interrupted `down` is still stopped.
        pid = daemonproc.running_pid(paths)
        if pid is not None:
            result.daemon_stopped = daemonproc.stop(pid)
        shutil.rmtree(paths.run_dir, ignore_errors=True)
        return result

    store = open_store(current.store) if Path(current.store).exists() else None
    try:
        progress.step("pods", len(current.pods))
        objects = len(topostore.lab_objects(store, lab)) if store is not None else 0
        # A daemon the lab stops right after needs no DestroyPods: it would only record in
        # the store objects that are deleted next. One that keeps running is told.
        stops_daemon = current.daemon is None or current.daemon.started
        result.problems += take_down_pods(
            current,
            paths,
            current.pods,
            store=store,
            progress=progress,
            tell_daemon=current.cni is not None or not stops_daemon,
        )
        result.pods = len(current.pods)
        progress.finish(f"{len(current.pods)} taken down, namespaces deleted")
        if store is not None:
            topostore.delete(store, lab)  # objects of the lab that no pod record names
            result.objects = objects
    finally:
        if store is not None:
            store.close()
    state.save(paths, current.without_pods(p.key for p in current.pods))

    if current.nodes or current.fabric:
        progress.step("nodes", len(current.nodes))
        stopped = [n.name for n in current.nodes if nodedaemons.stop(paths, n)]
        try:
            fabric.remove(current.fabric, current.nodes)
        except KubedtnError as e:
            result.problems.append(str(e))
        result.nodes = len(current.nodes)
        progress.finish(f"{len(current.nodes)} nodes removed, {len(stopped)} daemons stopped")

    if current.cni is not None:
        progress.step("bridge")
        try:
            cnimode.remove_bridge(current.cni)
            result.bridge_removed = current.cni.bridge
        except KubedtnError as e:
            result.problems.append(str(e))
        progress.finish(current.cni.bridge)

    pid = daemonproc.running_pid(paths)
    if pid is not None and (current.daemon is None or current.daemon.started):
        progress.step("daemon")
        result.daemon_stopped = daemonproc.stop(pid)
        progress.finish(f"pid {pid} stopped")

    if current.bypass is not None:
        _remove_bypass(current.bypass, result, progress)

    if result.problems:
        return result  # keep the record: `lab down` again retries
    _remove_files(paths)
    return result


def _remove_bypass(record: BypassRecord, result: DownResult, progress: Progress) -> None:
    """After the daemons stopped (none marks link ends with its program any more)."""
    progress.step("TCP/IP bypass")
    problems = labbypass.remove(record)
    result.problems += problems
    result.bypass_removed = not problems
    progress.finish(f"detached, unpinned, cgroup {record.cgroup} removed" if not problems else "failed")


def _remove_files(paths: LabPaths) -> None:
    """The lab's directories: record, own store, daemon state and log, CNI files, socket.
    A store given with --store lives elsewhere and keeps its other objects."""
    shutil.rmtree(paths.state_dir, ignore_errors=True)
    shutil.rmtree(paths.run_dir, ignore_errors=True)
