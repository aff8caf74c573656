"""`kubedtn topo ...`: check and convert Topology files."""

from __future__ import annotations

import click


@click.group()
def topo() -> None:
    """Work with Topology files (kubedtn.io/v1, and kube-dtn's y-young.github.io/v1)."""
