"""kubedtn: digital twin networks — a CNI plugin, a node daemon and a one-host lab."""

from __future__ import annotations


def version() -> str:
    """The build's version (`git describe` at build time), or "dev" when run from a source tree."""
    try:
        from kubedtn._version import VERSION
    except ImportError:
        return "dev"
    return VERSION
