"""kubedtn: digital twin networks — a CNI plugin, node daemon, controller and one-host lab."""

from __future__ import annotations


def version() -> str:
    """The build's version (`git describe` at build time), or "dev" when run from a source tree."""
    try:
        from kubedtn._version import VERSION
    except ImportError:
        return "dev"
    return VERSION
