"""`kubedtn topo ...`: check and convert Topology files (thin: parse, call the model, print)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click
import yaml

from kubedtn.errors import KubedtnError, ValidationError
from kubedtn.model import documents
from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.model.types import PeerKind
from kubedtn.store.resource import TOPOLOGY_GROUPS

if TYPE_CHECKING:
    from kubedtn.cluster.connect import Cluster
    from kubedtn.cluster.desired import Desired

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


def _fail(problems: Sequence[str], *, code: int = 1) -> NoReturn:
    for line in problems:
        click.echo(line)
    click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found", err=True)
    sys.exit(code)


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


# ---- on a cluster: apply, get, delete, diff ------------------------------------------------

_files = click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    metavar="FILE|DIR|-",
    help="Topology files, directories of them, or - for standard input (repeatable).",
)


def _cluster_options(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(
        (
            click.option("--kubeconfig", help="The kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."),
            click.option("--context", help="The kubeconfig context (default: its current context)."),
            click.option(
                "-n",
                "--namespace",
                help="Namespace of objects that name none (default: the context's, else default).",
            ),
            click.option(
                "--api-group",
                type=click.Choice(TOPOLOGY_GROUPS),
                default=TOPOLOGY_GROUPS[0],
                show_default=True,
                help="The group Topologies are served in (y-young.github.io: a cluster on kube-dtn's CRD).",
            ),
        )
    ):
        fn = option(fn)
    return fn


@contextlib.contextmanager
def _on_cluster(options: dict[str, Any], *, error_code: int = 1) -> Iterator[Cluster]:
    """The cluster of the options; its errors as lines on stderr and ``error_code``."""
    from kubedtn.cluster.connect import connect
    from kubedtn.store.errors import StoreUnavailableError

    try:
        cluster = connect(
            kubeconfig=options["kubeconfig"],
            context=options["context"],
            namespace=options["namespace"],
            group=options["api_group"],
        )
    except KubedtnError as e:
        click.echo(f"kubedtn: {e}", err=True)
        sys.exit(error_code)
    try:
        yield cluster
    except StoreUnavailableError as e:
        click.echo(f"kubedtn: {cluster.unreachable(e)}", err=True)
        sys.exit(error_code)
    except ValidationError as e:
        for line in e.problems:
            click.echo(line, err=True)
        sys.exit(error_code)
    except KubedtnError as e:
        click.echo(f"kubedtn: {e}", err=True)
        sys.exit(error_code)
    finally:
        cluster.store.close()


def _wanted(cluster: Cluster, filenames: Sequence[str], *, code: int = 1) -> Desired:
    """The files' Topologies, checked by the model: every problem printed, exit ``code`` if any."""
    from kubedtn.cluster.desired import desired

    try:
        return desired(_read(filenames), namespace=cluster.namespace, resource=cluster.resource)
    except ValidationError as e:
        _fail(e.problems, code=code)


def _ref(cluster: Cluster, name: str) -> str:
    return f"{cluster.resource.singular}.{cluster.resource.group}/{name}"


def _skipped(wanted: Desired) -> None:
    if wanted.others:
        kinds = sorted({str(d.obj.get("kind")) for d in wanted.others})
        click.echo(
            f"{len(wanted.others)} other object{'s' if len(wanted.others) != 1 else ''} "
            f"({', '.join(kinds)}) left out: kubedtn topo writes Topologies only",
            err=True,
        )


@topo.command()
@_files
@_cluster_options
def apply(filenames: tuple[str, ...], **options: Any) -> None:
    """Create or update the Topologies of files on the cluster (kube-dtn's files converted).

    Every file is checked first; nothing is written if any object has a problem. An
    update keeps the object's status and finalizers. Prints, like kubectl,
    `topology.kubedtn.io/NAME created|configured|unchanged`.
    """
    from kubedtn.cluster.apply import apply_all

    if not filenames:
        raise click.UsageError("name the files to apply with -f FILE|DIR")
    with _on_cluster(options) as cluster:
        wanted = _wanted(cluster, filenames)
        done, problems = apply_all(cluster.store, wanted.objects)
        for applied in done:
            click.echo(f"{_ref(cluster, applied.name)} {applied.outcome}")
        _skipped(wanted)
        if problems:
            raise ValidationError(problems)


@topo.command()
@_files
@_cluster_options
def diff(filenames: tuple[str, ...], **options: Any) -> None:
    """Show what applying the files would change on the live links, per Topology and link uid.

    Exit code 0: no differences; 1: differences; 2: an error (as kubectl diff).
    """
    from kubedtn.cluster.diff import diff_all
    from kubedtn.store.errors import NotFoundError

    if not filenames:
        raise click.UsageError("name the files to compare with -f FILE|DIR")
    with _on_cluster(options, error_code=2) as cluster:
        wanted = _wanted(cluster, filenames, code=2)
        live: dict[tuple[str, str], Any] = {}
        for t in wanted.topologies:
            try:
                live[(t.namespace, t.name)] = cluster.store.get(t.namespace, t.name)
            except NotFoundError:
                live[(t.namespace, t.name)] = None
        lines = diff_all(wanted.topologies, live, namespace=cluster.namespace)
    for line in lines:
        click.echo(line)
    sys.exit(1 if lines else 0)


@topo.command()
@click.argument("names", nargs=-1)
@_files
@_cluster_options
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json", "wide", "name"]),
    help="Print whole objects (yaml, json), more columns (wide) or only the names.",
)
@click.option("-A", "--all-namespaces", is_flag=True, help="Topologies of every namespace.")
def get(
    names: tuple[str, ...],
    filenames: tuple[str, ...],
    output: str | None,
    all_namespaces: bool,
    **options: Any,
) -> None:
    """List Topologies (all, the NAMEs, or those of -f files) with the CRD's columns."""
    from kubedtn.cluster import table
    from kubedtn.store.errors import NotFoundError

    with _on_cluster(options) as cluster:
        keys = [(cluster.namespace, name) for name in names]
        if filenames:
            keys += [(t.namespace, t.name) for t in _wanted(cluster, filenames).topologies]
        missing: list[str] = []
        if keys:
            objects = []
            for ns, name in keys:
                try:
                    objects.append(cluster.store.get(ns, name))
                except NotFoundError:
                    missing.append(f'{cluster.resource.plural}.{cluster.resource.group} "{name}" not found')
        else:
            objects, _ = cluster.store.list(namespace=None if all_namespaces else cluster.namespace)
    if output in ("yaml", "json"):
        shown: Any = (
            objects[0]
            if len(keys) == 1 and objects
            else {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": objects}
        )
        if output == "json":
            click.echo(json.dumps(shown, indent=4))
        else:
            click.echo(yaml.safe_dump(shown, sort_keys=False, default_flow_style=False), nl=False)
    elif output == "name":
        for obj in objects:
            click.echo(_ref(cluster, obj["metadata"]["name"]))
    elif objects:
        several = all_namespaces or len({o["metadata"].get("namespace") for o in objects}) > 1
        rows = table.rows(objects, wide=output == "wide", all_namespaces=several, now=datetime.now(UTC))
        click.echo(table.render(rows), nl=False)
    elif not missing:
        where = "" if all_namespaces else f" in {cluster.namespace} namespace"
        click.echo(f"No resources found{where}.", err=True)
    for line in missing:
        click.echo(f"Error from server (NotFound): {line}", err=True)
    if missing:
        sys.exit(1)


@topo.command()
@click.argument("names", nargs=-1)
@_files
@_cluster_options
@click.option("--wait", is_flag=True, help="Wait until the objects are gone (finalizers removed).")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds --wait waits at most.")
def delete(
    names: tuple[str, ...], filenames: tuple[str, ...], wait: bool, timeout: float, **options: Any
) -> None:
    """Delete the Topologies NAME... or those of -f files.

    The daemons remove a Topology's links before its finalizer lets it go; --wait waits
    for that.
    """
    from kubedtn.cluster.delete import delete_all, wait_gone

    if not names and not filenames:
        raise click.UsageError("name the Topologies to delete: NAME... or -f FILE|DIR")
    with _on_cluster(options) as cluster:
        keys = [(cluster.namespace, name) for name in names]
        if filenames:
            keys += [(t.namespace, t.name) for t in _wanted(cluster, filenames).topologies]
        deleted = delete_all(cluster.store, keys)
        for _ns, name in deleted.done:
            click.echo(f'{cluster.resource.singular}.{cluster.resource.group} "{name}" deleted')
        left = wait_gone(cluster.store, deleted.done, timeout=timeout) if wait and deleted.done else set()
    for line in deleted.missing:
        click.echo(f"kubedtn: {line}", err=True)
    for ns, name in sorted(left):
        click.echo(
            f"kubedtn: {ns}/{name} is still there after {timeout:g}s: its finalizers "
            "(the daemons remove its links first) have not let it go",
            err=True,
        )
    if deleted.missing or left:
        sys.exit(1)
