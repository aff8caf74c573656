"""The `kubedtn` command group. Each mode registers here once it works."""

from __future__ import annotations

import importlib
from typing import Final

import click

import kubedtn


class _Modes(click.Group):
    """The group whose modes are imported when a command line names them: `kubedtn daemon`
    then pays for the daemon's imports only, not for the YAML documents of `topo` or the
    controller's modules. Listing them (``--help``) imports them all."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *MODES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in MODES and cmd_name not in self.commands:
            module = importlib.import_module(f"kubedtn.cli.{cmd_name}")
            self.add_command(getattr(module, cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)


# Each is the command of that name in the module of that name in kubedtn.cli.
MODES: Final = ("topo", "lab", "link", "daemon", "controller", "physical", "certs", "status")


@click.group(cls=_Modes, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """kubedtn — digital twin networks: pods wired with emulated links.

    Run with CNI_COMMAND in the environment and no arguments, this executable is
    the CNI plugin.
    """


@cli.command()
def version() -> None:
    """Print the version of this build."""
    click.echo(kubedtn.version())
