"""Topology files: YAML/JSON loading, ``kind: List`` unwrapping, kube-dtn conversion.

A file holds one or more YAML documents; each is an object or a ``List`` (``kind: List``
or ``...List`` with ``items``). Topology objects (``kubedtn.io/v1`` or kube-dtn's
``y-young.github.io/v1``) are parsed and checked; other objects (Pods, ...) are kept as
they are, because the lab wants e.g. a Pod's ``spec.nodeName``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from kubedtn.errors import ValidationError
from kubedtn.model import yamlload
from kubedtn.model.namespace import DEFAULT_NAMESPACE
from kubedtn.model.objects import (
    is_topology,
    parse_topology,
    topology_to_dict,
)
from kubedtn.model.types import Topology
from kubedtn.model.validate import set_problems

TOPOLOGY_FILE_SUFFIXES: Final = (".yaml", ".yml", ".json")

_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Document:
    """One object of a file: the file (``source``), where in it (``position``), the object."""

    source: str
    obj: Any
    position: str = ""  # "[2]" for the third YAML document, "[0].items[3]" inside a List

    @property
    def where(self) -> str:
        return f"{self.source}{self.position}"


@dataclass(frozen=True)
class Bundle:
    """Everything read from a set of files: checked Topologies, other objects, all problems."""

    topologies: tuple[Topology, ...]
    others: tuple[Document, ...]
    problems: tuple[str, ...]
    default_namespace: str = DEFAULT_NAMESPACE

    def raise_for_problems(self) -> None:
        if self.problems:
            raise ValidationError(list(self.problems))

    def pod_nodes(self) -> dict[str, str]:
        """``namespace/name`` → ``spec.nodeName`` of the Pods in the set that name a node."""
        out: dict[str, str] = {}
        for doc in self.others:
            obj = doc.obj
            if not isinstance(obj, Mapping) or obj.get("kind") != "Pod":
                continue
            meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
            node = spec.get("nodeName") if isinstance(spec, Mapping) else None
            name = meta.get("name") if isinstance(meta, Mapping) else None
            if isinstance(node, str) and isinstance(name, str):
                ns = meta.get("namespace") or self.default_namespace
                out[f"{ns}/{name}"] = node
        return out


def _is_list(obj: object) -> bool:
    kind = obj.get("kind") if isinstance(obj, Mapping) else None
    return isinstance(kind, str) and kind.endswith("List") and isinstance(obj, Mapping) and "items" in obj


def _flatten(obj: Any, source: str, position: str) -> list[Document]:
    if not _is_list(obj):
        return [Document(source, obj, position)]
    items = obj["items"] or []
    if not isinstance(items, list):
        raise ValidationError(f"{source}{position}.items: is not a list")
    out: list[Document] = []
    for i, item in enumerate(items):
        out.extend(_flatten(item, source, f"{position}.items[{i}]"))
    return out


def parse_documents(text: str, *, source: str = "<stdin>") -> list[Document]:
    """All objects of a (multi-document) YAML or JSON text, Lists unwrapped, empty documents dropped."""
    try:
        raw_docs = yamlload.load_all(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ValidationError(f"{source}{at}: not valid YAML: {problem}") from None
    out: list[Document] = []
    for i, obj in enumerate(raw_docs):
        if obj is not None:
            out.extend(_flatten(obj, source, f"[{i}]" if len(raw_docs) > 1 else ""))
    return out


def topology_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named, and the ``*.yaml``/``*.yml``/``*.json`` files of directories named (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.is_file() and f.suffix in TOPOLOGY_FILE_SUFFIXES))
        else:
            out.append(p)
    return out


def read_documents(paths: Iterable[str | os.PathLike[str]]) -> list[Document]:
    """Documents of every file (see ``topology_files``); ValidationError lists every unreadable file."""
    docs: list[Document] = []
    problems: list[str] = []
    for path in topology_files(paths):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            problems.append(f"{path}: cannot read: {getattr(e, 'strerror', None) or e}")
            continue
        try:
            docs.extend(parse_documents(text, source=str(path)))
        except ValidationError as e:
            problems.extend(e.problems)
    if problems:
        raise ValidationError(problems)
    return docs


def bundle_documents(docs: Sequence[Document], *, default_namespace: str = DEFAULT_NAMESPACE) -> Bundle:
    """Check every Topology one by one, then the set; never stops at the first problem."""
    topologies: list[Topology] = []  # the ones without problems
    partial: list[Topology] = []  # every named one, with its good links, for the set rules
    broken: dict[str, frozenset[int]] = {}
    others: list[Document] = []
    problems: list[str] = []
    first_seen: dict[str, Document] = {}
    for doc in docs:
        if not is_topology(doc.obj):
            if not isinstance(doc.obj, Mapping):
                problems.append(
                    f"{doc.where}: is not a Kubernetes object (a mapping with apiVersion and kind)"
                )
            else:
                others.append(doc)
            continue
        parsed = parse_topology(doc.obj, default_namespace=default_namespace)
        problems.extend(f"{doc.source}: {line}" for line in parsed.problems)
        topo = parsed.topology
        if topo is None:
            continue
        if topo.key in first_seen:
            problems.append(
                f"{doc.source}: {topo.key}: defined again (first in {first_seen[topo.key].where});"
                " a pod has one Topology"
            )
            continue
        first_seen[topo.key] = doc
        partial.append(topo)
        broken[topo.key] = parsed.broken_uids
        if not parsed.problems:
            topologies.append(topo)
    # Set problems start with the object's key; lead them with its file like the others.
    for line in set_problems(partial, broken_uids=broken):
        first = first_seen.get(line.split(": ", 1)[0])
        problems.append(f"{first.source}: {line}" if first else line)
    return Bundle(tuple(topologies), tuple(others), tuple(problems), default_namespace)


def load_bundle(
    paths: Iterable[str | os.PathLike[str]], *, default_namespace: str = DEFAULT_NAMESPACE
) -> Bundle:
    """Read files/directories and check everything in them (problems are in the Bundle)."""
    try:
        docs = read_documents(paths)
    except ValidationError as e:
        return Bundle((), (), tuple(e.problems), default_namespace)
    return bundle_documents(docs, default_namespace=default_namespace)


def load_topologies(
    paths: Iterable[str | os.PathLike[str]], *, default_namespace: str = DEFAULT_NAMESPACE
) -> list[Topology]:
    """The Topologies of files/directories; ValidationError with every problem if any."""
    bundle = load_bundle(paths, default_namespace=default_namespace)
    bundle.raise_for_problems()
    return list(bundle.topologies)


def convert_documents(
    docs: Sequence[Document], *, default_namespace: str = DEFAULT_NAMESPACE, topologies_only: bool = False
) -> list[Any]:
    """The objects of ``docs`` in order, Topologies rewritten as ``kubedtn.io/v1``.

    Raises ValidationError with every problem rather than converting a part.
    """
    bundle = bundle_documents(docs, default_namespace=default_namespace)
    bundle.raise_for_problems()
    converted = iter(bundle.topologies)  # in document order: every Topology parsed
    out: list[Any] = []
    for doc in docs:
        if is_topology(doc.obj):
            obj = topology_to_dict(next(converted))
            if not (doc.obj.get("metadata") or {}).get("namespace"):
                # Left open in the source: keep it open so `kubectl apply -n X` still works.
                del obj["metadata"]["namespace"]
            out.append(obj)
        elif not topologies_only:
            out.append(doc.obj)
    return out


def dump_yaml(objects: Iterable[Any]) -> str:
    """Objects as a multi-document YAML text (field order kept)."""
    return yaml.dump_all(
        list(objects),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        explicit_start=True,
        width=120,
    )
