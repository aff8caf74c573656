"""Generated protobuf modules are current: regenerate them into a scratch directory and
compare bytes with the committed copy (the generators' output depends only on the .proto
and the pinned grpcio-tools)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def stale_modules(
    generator: str, modules: Sequence[str], where: str, scratch: Path, *, root: str = ""
) -> list[str]:
    """The committed ``modules`` in ``where`` (a directory of the repository) that differ
    from what ``hack/<generator> PYTHON scratch`` writes. The generator writes below its
    output directory as below ``root`` of the repository (``src`` for the package's)."""
    proc = subprocess.run(
        [str(REPO / "hack" / generator), sys.executable, str(scratch)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"hack/{generator} failed: {proc.stderr}")
    written = scratch / Path(where).relative_to(root)
    return [name for name in modules if (written / name).read_bytes() != (REPO / where / name).read_bytes()]
