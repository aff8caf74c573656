"""The node-local topology pod list the daemon keeps: ``{"pods": ["<kube_ns>/<name>", ...]}``.

Light on purpose (no json package, see kubedtn.cni.fastjson): the fast path reads it for every
pod of the node.
"""

from __future__ import annotations

from kubedtn.cni import fastjson


def parse_pod_list(data: bytes, *, source: str) -> frozenset[str]:
    """The pod keys of a pod list file; ValueError naming the source and the problem."""
    try:
        document = fastjson.loads(data)
    except ValueError as e:  # json.JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{source}: not valid JSON: {e}") from e
    pods = document.get("pods") if isinstance(document, dict) else None
    if not isinstance(pods, list) or not all(isinstance(p, str) for p in pods):
        raise ValueError(f'{source}: expected {{"pods": ["<namespace>/<name>", ...]}}')
    return frozenset(pods)


def read_pod_list(path: str) -> bytes | None:
    """The file's bytes; None when there is no such file. OSError for anything else."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
