"""`kubedtn topo ...`: check and convert Topology files (thin: parse, call the model, print)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from kubedtn.errors import ValidationError
from kubedtn.model import documents
from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.model.types import PeerKind

_paths = click.argument("paths", nargs=-1, required=True, metavar="FILE|DIR...")
_namespace = click.option(
    "-n",
    "--namespace",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="Namespace of objects that name none.",
)


def _read(paths: Sequence[str]) -> list[documents.Document]:
    """Documents of the files and directories; '-' is standard input."""
    docs: list[documents.Document] = []
    problems: list[str] = []
    for path in paths:
        try:
            if path == "-":
                docs.extend(documents.parse_documents(sys.stdin.read(), source="<stdin>"))
            else:
                docs.extend(documents.read_documents([path]))
        except ValidationError as e:
            problems.extend(e.problems)
    if problems:
        raise ValidationError(problems)
    return docs


def _fail(problems: Sequence[str]) -> None:
    for line in problems:
        click.echo(line)
    click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found", err=True)
    sys.exit(1)


@click.group()
def topo() -> None:
    """Work with Topology files (kubedtn.io/v1, and kube-dtn's y-young.github.io/v1)."""


@topo.command()
@_namespace
@_paths
def validate(namespace: str, paths: tuple[str, ...]) -> None:
    """Check Topology files: every problem is printed, one line each; exit 1 if any.

    Each object is checked alone (names, addresses, units, ranges) and the whole set
    together (both ends of every link agree; a uid joins one pair). Objects of other
    kinds (e.g. Pods) are skipped.
    """
    try:
        docs = _read(paths)
    except ValidationError as e:
        _fail(e.problems)
        return
    bundle = documents.bundle_documents(docs, default_namespace=namespace)
    if bundle.problems:
        _fail(bundle.problems)
        return
    links = [link for t in bundle.topologies for link in t.links]
    pod_links = sum(1 for link in links if link.peer_kind is PeerKind.POD)
    others = len(bundle.others)
    click.echo(
        f"OK: {len(bundle.topologies)} topolog{'ies' if len(bundle.topologies) != 1 else 'y'}, "
        f"{len(links)} link ends ({pod_links} to pods, {len(links) - pod_links} to hosts)"
        + (f"; {others} other object{'s' if others != 1 else ''} skipped" if others else "")
    )


@topo.command()
@_namespace
@click.option("--topologies-only", is_flag=True, help="Leave out objects that are not Topologies.")
@_paths
def convert(namespace: str, topologies_only: bool, paths: tuple[str, ...]) -> None:
    """Print the files as kubedtn.io/v1 YAML (multi-document), converting kube-dtn's Topologies.

    Other objects (Pods, ...) are printed unchanged unless --topologies-only.
    Nothing is printed if any Topology has a problem.
    """
    try:
        objects = documents.convert_documents(
            _read(paths), default_namespace=namespace, topologies_only=topologies_only
        )
    except ValidationError as e:
        for line in e.problems:
            click.echo(line, err=True)
        sys.exit(1)
    click.echo(documents.dump_yaml(objects), nl=False)
