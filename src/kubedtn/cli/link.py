"""`kubedtn link set POD INTF --latency 20ms ...`: change a lab link's properties live."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from kubedtn.cli.lab import fail
from kubedtn.errors import KubedtnError

# kube-dtn's property names (model.types.PROPERTY_FIELDS), as options: latency_corr → --latency-corr.
_PROPERTIES = (
    ("latency", "delay, e.g. 20ms"),
    ("latency_corr", "delay correlation, percent"),
    ("jitter", "delay variation, e.g. 2ms (needs latency)"),
    ("loss", "loss, percent, e.g. 1 or 0.5%"),
    ("loss_corr", "loss correlation, percent"),
    ("rate", "rate, e.g. 100mbit (tc units: 100Mbps is bytes/s)"),
    ("gap", "reorder gap, packets"),
    ("duplicate", "duplication, percent"),
    ("duplicate_corr", "duplication correlation, percent"),
    ("reorder_prob", "reordering, percent (needs latency)"),
    ("reorder_corr", "reordering correlation, percent"),
    ("corrupt_prob", "corruption, percent"),
    ("corrupt_corr", "corruption correlation, percent"),
)


def _property_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for name, text in reversed(_PROPERTIES):
        fn = click.option(f"--{name.replace('_', '-')}", name, metavar="VALUE", help=text)(fn)
    return fn


@click.group()
def link() -> None:
    """Change the links of a lab while traffic flows."""


@link.command(name="set")
@click.option("--name", "lab", default=None, metavar="LAB", help="The lab (default: the one that has POD).")
@_property_options
@click.option("--clear", is_flag=True, help="Start from no properties (then apply the ones given).")
@click.option("--both", is_flag=True, help="Set the peer's end too (both directions).")
@click.argument("pod")
@click.argument("intf")
def set_(lab: str | None, clear: bool, both: bool, pod: str, intf: str, **values: str | None) -> None:
    """Set the properties of POD's end of the link on INTF.

    They shape POD's egress on INTF (the way from POD to its peer); --both also sets
    the peer's end. Given values are merged into the current ones; 0 unsets one.
    The Topology in the lab's store is updated, then the daemon changes the qdiscs in
    place (same interface). Prints what changed.
    """
    from kubedtn.lab import linkset, report

    given = {k: v for k, v in values.items() if v is not None}
    if not given and not clear:
        click.echo("error: nothing to set: give properties (e.g. --latency 20ms) or --clear", err=True)
        sys.exit(2)
    try:
        result = linkset.set_link(pod=pod, intf=intf, given=given, clear=clear, both=both, lab=lab)
    except KubedtnError as e:
        fail(e)
    for change in result.changes:
        after = report.describe_properties(change.after)
        if change.changed:
            before = report.describe_properties(change.before)
            click.echo(f"{change.where} (link {change.link.uid}): {before} -> {after}")
        else:
            click.echo(f"{change.where} (link {change.link.uid}): unchanged ({after})")
    if result.error:
        click.echo(f"error: the store was updated, but the daemon did not apply it: {result.error}", err=True)
        sys.exit(1)
