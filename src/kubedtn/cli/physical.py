"""`kubedtn physical add|del --link-file F`: the host end of a pod's link to a physical host
(thin: parse, call kubedtn.lab.physical, print)."""

from __future__ import annotations

import json

import click

from kubedtn.cli.lab import fail
from kubedtn.errors import KubedtnError
from kubedtn.model.namespace import DEFAULT_NAMESPACE

_file = click.option(
    "--link-file",
    required=True,
    type=click.Path(dir_okay=False),
    help="kube-dtn's physical link file: link (uid, peer_pod physical/<this host's IP>, local_intf, "
    "peer_intf, local_ip, peer_ip) and remote_ip (the node the pod runs on).",
)
_netns = click.option(
    "--netns",
    default=None,
    metavar="NAME|PATH",
    help="Work in this network namespace instead of the host's (tests, simulated hosts).",
)


@click.group()
def physical() -> None:
    """Set up or remove, on a physical host, its end of a pod's link (a VXLAN toward the pod's node)."""


@physical.command()
@_file
@_netns
@click.option(
    "--namespace",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="The Kubernetes namespace of the pod (the VXLAN VNI depends on it and the uid).",
)
def add(link_file: str, netns: str | None, namespace: str) -> None:
    """Make the host end: VXLAN peer_intf (the link's VNI) toward remote_ip, address peer_ip, up."""
    from kubedtn.lab import physical as ph

    try:
        spec = ph.add(ph.parse_link_file(link_file), netns=netns, namespace=namespace)
    except KubedtnError as e:
        fail(e)
    click.echo(json.dumps(ph.describe(spec)))


@physical.command(name="del")
@_file
@_netns
def delete(link_file: str, netns: str | None) -> None:
    """Remove exactly the interface `physical add` made for this file (peer_intf)."""
    from kubedtn.lab import physical as ph

    try:
        link = ph.parse_link_file(link_file)
        existed = ph.delete(link, netns=netns)
    except KubedtnError as e:
        fail(e)
    click.echo(f"{link.intf}: {'removed' if existed else 'not there; nothing to do'}")
