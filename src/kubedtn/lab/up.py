"""``kubedtn lab up``: files → namespaces, store objects, the lab's daemon, pods up.

The order is what makes it safe to repeat and safe to stop half-way:

1. load and check every file (all problems at once; nothing touched on bad input);
2. plan against what exists (namespaces, store objects): refuse before creating anything
   if a namespace or object of the same name is someone else's;
3. write the lab's record listing every namespace about to be made;
4. write the Topology objects (create or update, labelled with the lab) and make the
   namespaces, both at once (the writes are mostly Python, the namespaces mostly the
   kernel: two CPUs do them side by side);
5. make sure the lab's daemon runs (started, if it does not, before step 4 so that it
   comes up while the objects and namespaces are made; then wait until it answers, which
   happens while the namespaces are made);
6. bring every pod up: one ``SetupPods`` call — or, ``--via-cni``, a CNI ADD per pod;
   with simulated nodes (``--nodes``/``spec.nodeName``, see ``kubedtn.lab.nodes``) step 5
   makes the nodes and their underlay and starts a daemon in each, and step 6 calls
   ``SetupPods`` on every node's daemon for its pods, all nodes at once;
7. the summary: what the daemon recorded in the pods' status (``lab status`` is the
   one that reads every namespace back from the kernel).

Running it again converges: existing namespaces and objects are kept or updated, pods
no longer in the files are taken down, and ``SetupPods`` of a pod that is up only adds
what is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

from kubedtn.dataplane import create_namespaces
from kubedtn.errors import KubedtnError, ValidationError
from kubedtn.lab import bypass as labbypass
from kubedtn.lab import cnimode, daemonproc, fabric, nodedaemons, state, topostore
from kubedtn.lab.client import LabDaemonClient, PodResult
from kubedtn.lab.names import (
    DEFAULT_HOST_IP,
    DEFAULT_SUBNET,
    DEFAULT_UNDERLAY,
    RUN_NETNS,
    LabPaths,
    lab_name_problem,
    lab_paths,
)
from kubedtn.lab.nodes import NodePlan, fabric_netns, plan_nodes
from kubedtn.lab.plan import LabPlan, plan_up
from kubedtn.lab.progress import Progress
from kubedtn.lab.state import DaemonRecord, LabState, NodeRecord, PodRecord
from kubedtn.lab.teardown import take_down_pods
from kubedtn.lab.view import LabView, gather_recorded
from kubedtn.model.documents import load_bundle
from kubedtn.model.types import Topology
from kubedtn.store import open_store


@dataclass(frozen=True)
class UpOptions:
    lab: str
    files: tuple[str, ...]
    via_cni: bool = False
    store: str | None = None  # default: the lab's own store.db
    host_ip: str = DEFAULT_HOST_IP
    subnet: str = DEFAULT_SUBNET
    nodes: int | None = None  # simulated nodes (see kubedtn.lab.nodes); None: as before
    underlay: str = DEFAULT_UNDERLAY
    tcpip_bypass: bool = False  # the eBPF TCP/IP bypass, in a cgroup of the lab's own


@dataclass(frozen=True)
class UpResult:
    plan: LabPlan
    state: LabState
    failed: tuple[PodResult, ...]
    view: LabView


def load_files(files: Sequence[str]) -> tuple[list[Topology], dict[str, str]]:
    """Checked Topologies of the files and the pods' spec.nodeName; ValidationError with every problem."""
    bundle = load_bundle(files)
    bundle.raise_for_problems()
    if not bundle.topologies:
        raise ValidationError(
            f"{', '.join(files)}: no Topology objects (kubedtn.io/v1 or y-young.github.io/v1) found"
        )
    return list(bundle.topologies), bundle.pod_nodes()


def existing_namespaces() -> set[str]:
    try:
        return set(os.listdir(RUN_NETNS))
    except FileNotFoundError:
        return set()


def _store_path(opts: UpOptions, paths: LabPaths, previous: LabState | None) -> str:
    chosen = str(Path(opts.store).resolve()) if opts.store else None
    if previous is not None:
        if chosen and chosen != previous.store:
            raise ValidationError(
                f"--store: lab {opts.lab} uses the store {previous.store}, not {chosen}; "
                f"take it down first (kubedtn lab down --name {opts.lab})"
            )
        return previous.store
    return chosen or str(paths.store)


def _check_mode(opts: UpOptions, previous: LabState | None) -> None:
    if previous is None or not previous.pods:
        return
    was_cni = previous.cni is not None
    if was_cni != opts.via_cni:
        how = "with --via-cni" if was_cni else "without --via-cni"
        raise ValidationError(
            f"lab {opts.lab} was brought up {how}; take it down first (kubedtn lab down --name {opts.lab})"
        )
    was_bypass = previous.bypass is not None
    if was_bypass != opts.tcpip_bypass:
        how = "with" if was_bypass else "without"
        raise ValidationError(
            f"lab {opts.lab} was brought up {how} the TCP/IP bypass (--tcpip-bypass, TCPIP_BYPASS); "
            f"bring it up {how} again, or take it down first (kubedtn lab down --name {opts.lab})"
        )


@dataclass(frozen=True)
class _Prepared:
    """Everything decided before the first change."""

    topologies: tuple[Topology, ...]
    paths: LabPaths
    previous: LabState | None
    store_path: str
    plan: LabPlan
    nodes: NodePlan | None = None

    @property
    def records(self) -> tuple[PodRecord, ...]:
        """The pods, each with its node when the lab has simulated nodes."""
        if self.nodes is None:
            return self.plan.records
        return tuple(replace(r, node=self.nodes.placement[r.key]) for r in self.plan.records)


def prepare(opts: UpOptions) -> _Prepared:
    """Steps 1-2: load, check and plan; ValidationError (nothing touched) on any problem."""
    why = lab_name_problem(opts.lab)
    if why:
        raise ValidationError(f"--name: {opts.lab!r} {why}")
    topologies, file_nodes = load_files(opts.files)
    paths = lab_paths(opts.lab)
    previous = state.load(paths)
    _check_mode(opts, previous)
    store_path = _store_path(opts, paths, previous)
    if opts.via_cni:
        cnimode.check_subnet(opts.subnet)
        cnimode.plugin_dirs()
    owners: dict[str, str | None] = {}
    if Path(store_path).exists():
        with closing(open_store(store_path)) as store:
            owners = topostore.owners(store, (t.key for t in topologies))
    plan = plan_up(
        lab=opts.lab,
        topologies=topologies,
        previous=previous,
        existing_netns=existing_namespaces(),
        store_owners=owners,
    )
    node_plan = plan_nodes(
        lab=opts.lab,
        count=opts.nodes,
        pods=[p.key for p in plan.pods],
        file_nodes=file_nodes,
        previous=previous,
        subnet=opts.underlay,
    )
    if node_plan is not None and opts.via_cni:
        raise ValidationError(
            "--via-cni: not with simulated nodes (--nodes or spec.nodeName); use one or the other"
        )
    return _Prepared(tuple(topologies), paths, previous, store_path, plan, node_plan)


class RefusedError(ValidationError):
    """``lab up`` refused before it made anything (bad files, names taken by others)."""


def up(opts: UpOptions, *, progress: Progress) -> UpResult:
    progress.step("checking files")
    try:
        prep = prepare(opts)
    except ValidationError as e:
        raise RefusedError(e.problems) from e
    plan, paths = prep.plan, prep.paths
    progress.finish(f"{len(plan.pods)} pods, {sum(len(p.topology.links) for p in plan.pods)} link ends")

    # From here on things are made; the record lists them first.
    records = prep.records
    current = (prep.previous or LabState(name=opts.lab, store=prep.store_path)).with_pods(records)
    current = replace(current, sources=tuple(str(Path(f).resolve()) for f in opts.files))
    state.save(paths, current)

    if opts.tcpip_bypass:
        current = start_bypass(paths, current, progress=progress)

    if prep.nodes is None:
        daemon, spawned = launch_daemon(paths, current, host_ip=opts.host_ip)
        started = spawned is not None
        current = replace(current, daemon=daemon)
        state.save(paths, current)
    else:
        current, node_procs = launch_nodes(paths, current, prep.nodes, progress=progress)
        started = any(proc is not None for _, proc in node_procs)

    with closing(open_store(prep.store_path)) as store:
        with ThreadPoolExecutor(2, thread_name_prefix="kubedtn-lab-up") as pool:
            # The namespaces are made while the objects are written (the kernel's work beside
            # this process's); both are done before any pod comes up.
            made = pool.submit(create_namespaces, plan.create_netns, loopback_up=True)
            progress.step("store")
            counts = topostore.write(store, opts.lab, prep.topologies)  # on error the pool waits for it
            progress.finish(
                f"created {counts.created}, updated {counts.updated}, unchanged {counts.unchanged}"
            )

            # The daemon answers its first Status after checking the objects just written (it
            # keeps them parsed for SetupPods): that wait runs beside making the namespaces,
            # the daemon's process checking while this one waits on the kernel.
            answered = pool.submit(await_daemon, paths, daemon, spawned) if prep.nodes is None else None
            progress.step("namespaces", len(plan.create_netns))
            made.result()
            progress.finish(
                f"created {len(plan.create_netns)}, kept {len(plan.pods) - len(plan.create_netns)}"
            )
            if answered is not None:
                progress.step("daemon")
                answered.result()
                progress.finish(f"{'started' if started else 'running'}, pid {daemon.pid}")

        if prep.nodes is not None:
            progress.step("node daemons", len(node_procs))
            for node, proc in node_procs:
                nodedaemons.wait(paths, node, proc)
            progress.finish(", ".join(f"{n.name} pid {n.pid}" for n, _ in node_procs))

        if plan.remove:
            progress.step("pods no longer in the files", len(plan.remove))
            take_down_pods(current, paths, plan.remove, store=store)
            current = current.without_pods(p.key for p in plan.remove)
            state.save(paths, current)
            progress.finish()

        current, failed = bring_up(opts, paths, current, records, progress=progress)

        progress.step("summary")
        view = gather_recorded(store, opts.lab, current.pods, known=prep.topologies)
        progress.finish()
    return UpResult(plan=plan, state=current, failed=failed, view=view)


def bring_up(
    opts: UpOptions, paths: LabPaths, current: LabState, records: Sequence[PodRecord], *, progress: Progress
) -> tuple[LabState, tuple[PodResult, ...]]:
    """Step 6: every pod through the daemon at once, or one CNI ADD per pod."""
    if opts.via_cni:
        record = cnimode.prepare(paths, subnet=cnimode.check_subnet(opts.subnet))
        current = replace(current, cni=record)
        state.save(paths, current)
        wait_for_pod_list(paths, records)
        progress.step("pods (CNI ADD)", len(records))
        errors = cnimode.add_pods(record, paths, records, on_done=progress.advance)
        failed = tuple(PodResult(p.name, p.kube_ns, False, e) for p in records if (e := errors.get(p.key)))
    elif current.nodes:
        progress.step("pods (SetupPods on each node)", len(records))
        failed = nodedaemons.setup_pods(paths, records, on_done=progress.advance)
    else:
        progress.step("pods (SetupPods)", len(records))
        failed = setup_pods(paths, records, store_path=current.store, lab=opts.lab, progress=progress)
    progress.finish(f"{len(records) - len(failed)} up" + (f", {len(failed)} failed" if failed else ""))
    return current, failed


def start_bypass(paths: LabPaths, current: LabState, *, progress: Progress) -> LabState:
    """The lab's TCP/IP bypass loaded and attached to its cgroup, before its daemons start
    (they reuse its pins). Recorded before it is made; a bypass that cannot be loaded is
    said and left out: the lab comes up without it."""
    record = current.bypass or labbypass.places(current.name)
    current = replace(current, bypass=record)
    state.save(paths, current)
    progress.step("TCP/IP bypass")
    try:
        labbypass.enable(record)
    except KubedtnError as e:
        labbypass.remove(record)
        current = replace(current, bypass=None)
        state.save(paths, current)
        progress.finish(f"off: cannot be loaded: {e}")
        return current
    progress.finish(f"cgroup {record.cgroup}")
    return current


def launch_daemon(
    paths: LabPaths, current: LabState, *, host_ip: str
) -> tuple[DaemonRecord, subprocess.Popen[bytes] | None]:
    """The lab's daemon: the running one, or a new one spawned now (not waited for: it
    starts while the namespaces and store objects are made). The process when spawned."""
    pid = daemonproc.running_pid(paths)
    if pid is not None:
        started_before = current.daemon.started if current.daemon else False
        known = current.daemon.argv if current.daemon else ()
        return DaemonRecord(socket=str(paths.socket), started=started_before, pid=pid, argv=known), None
    argv = daemonproc.daemon_argv(paths, host_ip=host_ip, store=current.store, bypass=current.bypass)
    proc = daemonproc.spawn(argv, log_file=paths.daemon_log)
    return DaemonRecord(socket=str(paths.socket), started=True, pid=proc.pid, argv=tuple(argv)), proc


def launch_nodes(
    paths: LabPaths, current: LabState, plan: NodePlan, *, progress: Progress
) -> tuple[LabState, list[tuple[NodeRecord, subprocess.Popen[bytes] | None]]]:
    """The simulated nodes: recorded, their namespaces and underlay made, their daemons
    spawned (not waited for). The record lists the nodes before anything is made."""
    current = replace(current, nodes=plan.nodes, fabric=fabric_netns(current.name), underlay=plan.subnet)
    state.save(paths, current)
    progress.step("nodes", len(plan.nodes))
    made = fabric.build(current.fabric, plan.nodes, plan.subnet)
    procs = [nodedaemons.spawn(paths, n, store=current.store, bypass=current.bypass) for n in plan.nodes]
    current = replace(current, nodes=tuple(n for n, _ in procs))
    state.save(paths, current)
    progress.finish(f"made {len(made)}, kept {len(plan.nodes) - len(made)}, underlay {plan.subnet}")
    return current, procs


def await_daemon(paths: LabPaths, record: DaemonRecord, proc: subprocess.Popen[bytes] | None) -> None:
    """Waits until the daemon answers (a running one may still be starting)."""
    with LabDaemonClient(str(paths.socket)) as client:
        if proc is not None:
            daemonproc.wait_started(proc, ready=client.answers, log_file=paths.daemon_log)
        elif record.pid is not None:
            daemonproc.wait_ready(record.pid, ready=client.answers, log_file=paths.daemon_log)


def setup_pods(
    paths: LabPaths, records: Sequence[PodRecord], *, store_path: str, lab: str, progress: Progress
) -> tuple[PodResult, ...]:
    """One SetupPods call for every pod; the progress bar follows the store (pods marked alive)."""
    stop = threading.Event()
    keys = {p.key for p in records}

    def follow() -> None:
        with closing(open_store(store_path)) as store:  # this thread's own connection
            while not stop.wait(0.1):
                try:
                    alive = sum(
                        1
                        for obj in topostore.lab_objects(store, lab)
                        if topostore.key_of(obj) in keys and (obj.get("status") or {}).get("net_ns")
                    )
                except KubedtnError:
                    continue
                progress.advance(alive)

    # Only a bar on a terminal shows the count: otherwise the polling would only cost CPU
    # the daemon needs (this machine may have two cores).
    watcher = threading.Thread(target=follow, name="kubedtn-lab-progress", daemon=True)
    if progress.tty:
        watcher.start()
    try:
        with LabDaemonClient(str(paths.socket)) as client:
            outcomes = client.setup_pods([(p.name, p.kube_ns, p.netns_path) for p in records])
    finally:
        stop.set()
        if watcher.is_alive():
            watcher.join()
    return tuple(o for o in outcomes if not o.ok)


def wait_for_pod_list(paths: LabPaths, records: Sequence[PodRecord], *, timeout_s: float = 30.0) -> None:
    """Waits until the daemon's topology pod list names every pod (the CNI plugin reads only
    that file to tell topology pods from others: a pod missing there would pass through)."""
    want = {p.key for p in records}
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            listed = set(json.loads(paths.pod_list.read_text()).get("pods") or ())
        except (OSError, ValueError, AttributeError):
            listed = set()
        if want <= listed:
            return
        if time.monotonic() > deadline:
            missing = ", ".join(sorted(want - listed)[:5])
            raise KubedtnError(
                f"the lab's daemon did not list the pods in {paths.pod_list} within {timeout_s:.0f} s "
                f"(missing: {missing}); see {paths.daemon_log}"
            )
        time.sleep(0.05)
