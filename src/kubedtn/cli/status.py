"""`kubedtn status`: does this node's daemon answer on its unix socket? (The DaemonSet's
readiness probe, and a quick look for a person: ``kubectl exec ... -- kubedtn status``.)"""

from __future__ import annotations

import click

from kubedtn.cni.rules import DEFAULT_DAEMON_SOCKET

STATUS_TIMEOUT_S = 3.0


@click.command()
@click.option(
    "--socket",
    "socket_path",
    default=DEFAULT_DAEMON_SOCKET,
    show_default=True,
    envvar="KUBEDTN_SOCKET",
    help="The daemon's unix socket. [env KUBEDTN_SOCKET]",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Print nothing when it answers (exit status 0); why not, on stderr, when not.",
)
def status(socket_path: str, quiet: bool) -> None:
    """Ask the node daemon for its Status, as the CNI plugin does; exit 1 when it does not answer."""
    from kubedtn.cni.client import CniDaemonClient, probe
    from kubedtn.cni.errors import CniError

    why = probe(socket_path)
    if why is None:
        try:
            with CniDaemonClient(socket_path, wait_s=0) as daemon:
                answer = daemon.status(timeout_s=STATUS_TIMEOUT_S)
        except CniError as e:
            why = e.msg
    if why is not None:
        raise click.ClickException(f"the kubedtn daemon at {socket_path} does not answer: {why}")
    if not quiet:
        click.echo(
            f"daemon {socket_path}: version {answer.version}, node {answer.node_ip}, "
            f"{answer.pods_alive} pods alive, {answer.links} links, store {answer.store}"
        )
