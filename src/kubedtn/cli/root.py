"""The `kubedtn` command group. Each mode registers here once it works."""

from __future__ import annotations

import click

import kubedtn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """kubedtn — digital twin networks: pods wired with emulated links.

    Run with CNI_COMMAND in the environment and no arguments, this executable is
    the CNI plugin.
    """


@cli.command()
def version() -> None:
    """Print the version of this build."""
    click.echo(kubedtn.version())


def _register_modes() -> None:
    # Imported here, not at the top, so each mode's module stays the only place that knows it.
    from kubedtn.cli import certs, controller, daemon, lab, link, physical, status, topo

    cli.add_command(topo.topo)
    cli.add_command(lab.lab)
    cli.add_command(link.link)
    cli.add_command(daemon.daemon)
    cli.add_command(controller.controller)
    cli.add_command(physical.physical)
    cli.add_command(certs.certs)
    cli.add_command(status.status)


_register_modes()
