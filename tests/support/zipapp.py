"""The built executable, for end-to-end tests: ``dist/kubedtn`` or a skip saying why not.

``make test`` builds it before running the tests; run ``make build`` after changing code
when running pytest directly. KUBEDTN_E2E_ALLOW_STALE=1 runs against an older build anyway
(others are editing the tree while you test).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXECUTABLE = REPO / "dist" / "kubedtn"
# What `make build` rebuilds the executable from (the Makefile's prerequisites, roughly).
_INPUTS = ("src/**/*.py", "src/**/*.o", "requirements.txt", "hack/build-zipapp.sh", "hack/zipapp/*.py")


def newer_inputs(executable: Path = EXECUTABLE) -> list[Path]:
    """Source files changed since the executable was built."""
    built = executable.stat().st_mtime
    return sorted(p for pattern in _INPUTS for p in REPO.glob(pattern) if p.stat().st_mtime > built)


def executable() -> Path:
    """dist/kubedtn when it exists and is current; skips the test otherwise."""
    if not EXECUTABLE.exists():
        pytest.skip(f"{EXECUTABLE.relative_to(REPO)} is not built: run `make build` (make test does)")
    changed = [] if os.environ.get("KUBEDTN_E2E_ALLOW_STALE") == "1" else newer_inputs()
    if changed:
        shown = ", ".join(str(p.relative_to(REPO)) for p in changed[:3])
        pytest.skip(
            f"dist/kubedtn is older than {shown}{' ...' if len(changed) > 3 else ''}: run `make build`"
        )
    return EXECUTABLE
