"""File modes in tests: the umask most shells have, and a file's permission bits."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def usual_umask() -> Iterator[None]:
    """umask 022 for the block: files made without a mode of their own come out 0644, so a
    test of an owner-only file fails when the code stops choosing its mode."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
