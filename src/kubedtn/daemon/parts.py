"""Pure: a batch of links cut into parts that share no namespace, to apply side by side.

A ``Dataplane.apply`` spends its first part planning in Python and the rest waiting on
the kernel. Two applies on different threads overlap the two: one part's planning runs
while another's requests are in the kernel (which releases the GIL). Parts must not
share a namespace, or the dataplane's per-namespace lock makes the second wait for the
first to end. Links that share namespaces, directly or through other links, stay in
one part; a topology that is one connected piece is not cut at all.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def disjoint_parts(
    keys: Sequence[K], namespaces: Callable[[K], Iterable[str]], *, size: int
) -> list[list[K]]:
    """``keys`` (links) in parts of at least ``size`` (the last may be smaller), no namespace
    in two parts, each part in the order of ``keys``. One part when they cannot be cut."""
    parent: dict[str, str] = {}

    def root(ns: str) -> str:
        while parent[ns] != ns:
            parent[ns] = parent[parent[ns]]
            ns = parent[ns]
        return ns

    first: dict[K, str] = {}
    for key in keys:
        names = list(namespaces(key))
        for ns in names:
            parent.setdefault(ns, ns)
        for ns in names[1:]:
            a, b = root(names[0]), root(ns)
            if a != b:
                parent[b] = a
        if names:
            first[key] = names[0]
    pieces: dict[str, list[K]] = {}
    for key in keys:
        pieces.setdefault(root(first[key]) if key in first else "", []).append(key)
    parts: list[list[K]] = [[]]
    for piece in pieces.values():
        if len(parts[-1]) >= size:
            parts.append([])
        parts[-1].extend(piece)
    if len(parts) > 1 and len(parts[-1]) < size // 2:
        parts[-2].extend(parts.pop())  # no small tail part: it would cost more than it saves
    order = {key: i for i, key in enumerate(keys)}
    return [sorted(part, key=order.__getitem__) for part in parts]
