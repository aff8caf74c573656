"""`kubedtn lab ...`: a topology on one host (thin: parse, call kubedtn.lab, print).

Exit codes: 0 done; 1 bad input (every problem printed, nothing created) or a failure
(the message says what and where); ``lab exec`` exits with the command's code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

import click

from kubedtn.errors import KubedtnError, ValidationError
from kubedtn.lab.names import (
    DEFAULT_HOST_IP,
    DEFAULT_LAB,
    DEFAULT_SUBNET,
    DEFAULT_UNDERLAY,
    LAB_NAME_ACCEPTS,
    pod_text,
)

if TYPE_CHECKING:
    from kubedtn.lab.state import NodeRecord
    from kubedtn.lab.status import LabStatus
    from kubedtn.lab.teardown import DownResult
    from kubedtn.lab.view import PodView

_name = click.option(
    "--name",
    "lab",
    default=None,
    metavar="LAB",
    help=f"The lab ({LAB_NAME_ACCEPTS}). Default: the only lab there is, else {DEFAULT_LAB!r}.",
)


def fail(error: KubedtnError, *, nothing_made: bool = False) -> NoReturn:
    """Prints an error the way every lab command does, then exits 1."""
    if isinstance(error, ValidationError):
        for line in error.problems:
            click.echo(line, err=True)
        count = len(error.problems)
        tail = "; nothing was created" if nothing_made else ""
        click.echo(f"{count} problem{'s' if count != 1 else ''} found{tail}", err=True)
    else:
        click.echo(f"error: {error}", err=True)
    sys.exit(1)


@click.group()
def lab() -> None:
    """Run a topology on this host: pods become network namespaces, wired by the daemon.

    \b
      kubedtn lab up examples/3node.yaml     # namespaces, daemon, links
      kubedtn lab exec r1 -- ping -c 3 10.0.12.2
      kubedtn link set r1 eth2 --rate 50mbit
      kubedtn lab status
      kubedtn lab down
    """


@lab.command()
@click.option(
    "--name",
    "lab",
    default=DEFAULT_LAB,
    show_default=True,
    metavar="LAB",
    help=f"The lab ({LAB_NAME_ACCEPTS}); its pods' namespaces are LAB-POD.",
)
@click.option("--via-cni", is_flag=True, help="Bring each pod up by running the CNI chain bridge → kubedtn.")
@click.option("--store", type=click.Path(dir_okay=False), help="Topology store (default: the lab's own).")
@click.option("--host-ip", default=DEFAULT_HOST_IP, show_default=True, help="HOST_IP of the lab's daemon.")
@click.option(
    "--subnet",
    default=DEFAULT_SUBNET,
    show_default=True,
    help="--via-cni: eth0 addresses (host-local IPAM).",
)
@click.option(
    "--nodes",
    type=int,
    default=None,
    metavar="N",
    help="Spread the pods over N simulated nodes (node1..nodeN, round-robin in pod order), each a "
    "namespace with its own daemon; cross-node links become VXLAN. Pods with spec.nodeName in the "
    "files go to those nodes instead.",
)
@click.option(
    "--underlay",
    default=DEFAULT_UNDERLAY,
    show_default=True,
    help="Simulated nodes: the subnet of their underlay (node i gets host i+1).",
)
@click.option(
    "--tcpip-bypass/--no-tcpip-bypass",
    envvar="TCPIP_BYPASS",
    default=False,
    show_envvar=True,
    help="The eBPF TCP/IP bypass, in a cgroup of the lab's own (kubedtn-lab-LAB): TCP between "
    "programs started with `lab exec` skips the TCP/IP stack, except over links with properties "
    "or bypass: false.",
)
@click.option("--no-progress", is_flag=True, help="No progress output on stderr.")
@click.argument("files", nargs=-1, required=True, metavar="FILE|DIR...")
def up(
    *,
    lab: str,
    via_cni: bool,
    store: str | None,
    host_ip: str,
    subnet: str,
    nodes: int | None,
    underlay: str,
    tcpip_bypass: bool,
    no_progress: bool,
    files: Sequence[str],
) -> None:
    """Bring up the topology of FILE|DIR... (kubedtn.io/v1 or kube-dtn files, unchanged).

    Every file is checked first: on any problem all of them are printed and nothing
    is created. Each pod gets the network namespace LAB-POD; running it again converges
    (pods no longer in the files are taken down). Ends with a table of pods and links;
    properties the kernel cannot apply are named in warnings.
    """
    from kubedtn.lab import report
    from kubedtn.lab import up as lab_up
    from kubedtn.lab.progress import Progress
    from kubedtn.lab.view import WORKING

    name = lab
    opts = lab_up.UpOptions(
        lab=name,
        files=tuple(files),
        via_cni=via_cni,
        store=store,
        host_ip=host_ip,
        subnet=subnet,
        nodes=nodes,
        underlay=underlay,
        tcpip_bypass=tcpip_bypass,
    )
    progress = Progress(name, enabled=not no_progress)
    try:
        result = lab_up.up(opts, progress=progress)
    except lab_up.RefusedError as e:
        progress.abort()
        fail(e, nothing_made=True)
    except KubedtnError as e:
        progress.abort()
        fail(e)
    view = result.view
    click.echo(report.pods_table(_with_node_names(view.pods, result.state.nodes)))
    click.echo()
    click.echo(report.links_table(view.links))
    for line in (*result.plan.warnings, *view.notes):
        click.echo(f"warning: {line}", err=True)
    for failure in result.failed:
        click.echo(f"error: pod {failure.kube_ns}/{failure.name}: {failure.error}", err=True)
    if result.failed or not view.all_up:
        down_links = [str(v.uid) for v in view.links if v.state not in WORKING]
        if down_links:
            click.echo(f"error: links not up: {', '.join(down_links)}", err=True)
        sys.exit(1)


@lab.command()
@_name
def status(lab: str | None) -> None:
    """Pods (alive, namespace, node IP), links (state and properties read from the kernel), daemon."""
    from kubedtn.lab import report
    from kubedtn.lab.status import lab_status

    try:
        st = lab_status(lab)
    except KubedtnError as e:
        fail(e)
    d = st.daemon
    click.echo(f"lab {st.state.name}: {len(st.state.pods)} pods, store {st.state.store}")
    if st.nodes:
        _print_nodes(st)
    elif d.pid is None:
        click.echo(f"daemon: not running (socket {d.socket})")
    elif d.info is None:
        click.echo(f"daemon: pid {d.pid}, does not answer on {d.socket}: {d.error}")
    else:
        who = "started by the lab" if d.started_by_lab else "not the lab's"
        click.echo(
            f"daemon: pid {d.pid} ({who}), {d.socket}, version {d.info.version}, node IP {d.info.node_ip}, "
            f"{d.info.pods_alive} pods alive, {d.info.links} links"
        )
        for line in d.info.failing():
            click.echo(f"daemon job {line}")
    if st.state.cni is not None:
        click.echo(f"via CNI: bridge {st.state.cni.bridge}, subnet {st.state.cni.subnet}")
    if st.state.bypass is not None:
        bypass = st.state.bypass
        click.echo(
            f"TCP/IP bypass: for programs run with lab exec (cgroup {bypass.cgroup}, pins {bypass.pin_dir})"
        )
    click.echo()
    click.echo(report.pods_table(_with_node_names(st.view.pods, st.state.nodes)))
    click.echo()
    click.echo(report.links_table(st.view.links))
    for line in st.view.notes:
        click.echo(f"warning: {line}")


def _with_node_names(pods: Sequence[PodView], nodes: Sequence[NodeRecord]) -> list[PodView]:
    """Pods with the simulated node's name beside its IP (``node2 172.30.0.2``)."""
    from dataclasses import replace

    names = {n.ip: n.name for n in nodes}
    return [replace(p, node_ip=f"{names[p.node_ip]} {p.node_ip}") if p.node_ip in names else p for p in pods]


def _print_nodes(st: LabStatus) -> None:
    from kubedtn.lab import report

    click.echo(
        f"{len(st.nodes)} simulated nodes on the underlay {st.state.underlay} (fabric {st.state.fabric})"
    )
    rows = []
    for n in st.nodes:
        d = n.daemon
        if d.pid is None:
            daemon = "not running"
        elif d.info is None:
            daemon = f"pid {d.pid}, does not answer: {d.error}"
        else:
            daemon = f"pid {d.pid}, {d.info.pods_alive} pods alive, {d.info.links} links"
            daemon += "".join(f"; {line}" for line in d.info.failing())
        pods = ", ".join(pod_text(p.kube_ns, p.name) for p in st.state.pods if p.node == n.node.name)
        rows.append([n.node.name, n.node.netns, n.node.ip, daemon, pods or "-"])
    click.echo(report.table(["NODE", "NETNS", "IP", "DAEMON", "PODS"], rows))


@lab.command()
@_name
@click.argument("pod")
@click.option("--node", required=True, help="The simulated node to run POD on.")
def move(lab: str | None, pod: str, node: str) -> None:
    """Move POD to another simulated node, as a rescheduled pod: DestroyPod on its node,
    a new namespace, SetupPod on NODE (its links follow it)."""
    from kubedtn.lab.move import move as move_pod

    try:
        result = move_pod(pod, node=node, lab=lab)
    except KubedtnError as e:
        fail(e)
    for problem in result.problems:
        click.echo(f"warning: {problem}", err=True)
    if result.error:
        click.echo(f"error: pod {result.pod} on node {result.new}: {result.error}", err=True)
        sys.exit(1)
    click.echo(f"pod {result.pod}: moved from node {result.old or '-'} to node {result.new}")


@lab.group(name="node")
def node_group() -> None:
    """Stop or start the daemon of one simulated node (its links stay; on start it reconciles)."""


@node_group.command(name="stop")
@_name
@click.argument("node")
def node_stop(lab: str | None, node: str) -> None:
    """Stop NODE's daemon."""
    from kubedtn.lab.move import stop_node

    try:
        was = stop_node(lab, node)
    except KubedtnError as e:
        fail(e)
    click.echo(f"node {node}: daemon {'stopped' if was else 'was not running'}")


@node_group.command(name="start")
@_name
@click.argument("node")
def node_start(lab: str | None, node: str) -> None:
    """Start NODE's daemon again and wait until it answers."""
    from kubedtn.lab.move import start_node

    try:
        record = start_node(lab, node)
    except KubedtnError as e:
        fail(e)
    click.echo(f"node {node}: daemon pid {record.pid}")


@lab.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@_name
@click.argument("pod")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD [ARG...]")
def exec(lab: str | None, pod: str, command: Sequence[str]) -> None:
    """Run CMD inside POD's network namespace (with its own /sys); exits with CMD's code.

    POD is a pod name, or namespace/name outside "default".
    """
    from kubedtn.lab.enter import CommandError, exec_in_pod

    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    try:
        exec_in_pod(pod, argv, lab=lab)
    except CommandError as e:
        click.echo(f"kubedtn lab exec: {e}", err=True)
        sys.exit(e.exit_code)
    except KubedtnError as e:
        fail(e)
    except OSError as e:
        click.echo(f"error: cannot enter the namespace of {pod}: {e}", err=True)
        sys.exit(1)


@lab.command()
@_name
@click.option("--no-progress", is_flag=True, help="No progress output on stderr.")
@click.argument("files", nargs=-1, metavar="[FILE|DIR...]")
def down(lab: str | None, no_progress: bool, files: Sequence[str]) -> None:
    """Take the lab down: pods, namespaces, store objects, bridge, the daemon it started.

    With FILEs (as containerlab's destroy -t FILE), the labs brought up from them.
    Leaves nothing behind; running it again (or on a lab that is not up) does nothing.
    """
    from kubedtn.lab.progress import Progress
    from kubedtn.lab.status import choose_lab
    from kubedtn.lab.teardown import down as lab_down
    from kubedtn.lab.teardown import labs_from_files

    try:
        names, unmatched = labs_from_files(files, lab) if files else ([choose_lab(lab)], [])
    except KubedtnError as e:
        fail(e)
    for f in unmatched:
        click.echo(f"{f}: no lab is up from it; nothing to do")
    failed = False
    for name in names:
        try:
            result = lab_down(name, progress=Progress(name, enabled=not no_progress))
        except KubedtnError as e:
            fail(e)
        failed |= _report_down(result)
    if failed:
        sys.exit(1)


def _report_down(result: DownResult) -> bool:
    """Prints what ``lab down`` did; True when something could not be removed."""
    name = result.lab
    if not result.existed:
        click.echo(f"lab {name}: not up; nothing to do")
        return False
    parts = [f"{result.pods} pods", f"{result.objects} store objects"]
    if result.bridge_removed:
        parts.append(f"bridge {result.bridge_removed}")
    if result.nodes:
        parts.append(f"{result.nodes} simulated nodes with their daemons and underlay")
    if result.daemon_stopped:
        parts.append("the daemon")
    click.echo(f"lab {name}: removed {', '.join(parts)}")
    for problem in result.problems:
        click.echo(f"error: {problem}", err=True)
    if result.problems:
        click.echo(f"lab {name}: run `kubedtn lab down --name {name}` again to finish", err=True)
    return bool(result.problems)
