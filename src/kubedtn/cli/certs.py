"""`kubedtn certs`: the cluster CA and node certificates of the daemons' mutual TLS."""

from __future__ import annotations

from pathlib import Path

import click

from kubedtn.errors import KubedtnError


@click.group()
def certs() -> None:
    """Make the CA and the node certificates daemons use for mutual TLS (--tls-cert/-key/-ca).

    Keys are written 0600 in 0700 directories; a node directory holds tls.crt, tls.key and
    ca.crt, the files of a Kubernetes TLS Secret.
    """


@certs.command()
@click.option(
    "--out", required=True, type=click.Path(path_type=Path), help="Directory for ca.crt and ca.key."
)
@click.option("--days", default=3650, show_default=True, type=click.IntRange(min=1), help="Validity.")
def ca(out: Path, days: int) -> None:
    """Make a new CA (refuses to replace one)."""
    from kubedtn.daemon.certs import make_ca

    try:
        cert = make_ca(out, days=days)
    except KubedtnError as e:
        raise click.ClickException(str(e)) from e
    click.echo(
        f"CA certificate {cert}; its key {out / 'ca.key'} signs node certificates: keep it off the nodes"
    )


@certs.command()
@click.option("--ca", "ca_dir", required=True, type=click.Path(path_type=Path), help="The CA's directory.")
@click.option("--ip", required=True, help="The node's IP (its HOST_IP, what peers dial).")
@click.option("--name", required=True, help="The node's name (a DNS name).")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Directory for the node's files.")
@click.option("--days", default=365, show_default=True, type=click.IntRange(min=1), help="Validity.")
def node(ca_dir: Path, ip: str, name: str, out: Path, days: int) -> None:
    """Make a node's key and certificate, signed by the CA (replaces the node's old ones)."""
    from kubedtn.daemon.certs import make_node_cert

    try:
        files = make_node_cert(ca_dir, ip=ip, name=name, out=out, days=days)
    except KubedtnError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"--tls-cert {files.cert} --tls-key {files.key} --tls-ca {files.ca}")
