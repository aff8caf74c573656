"""Each lab test gets its own lab (unique name, own directories), taken down after it,
also when it fails; the test fails if anything of the lab is left on the host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lab import LabEnv, kubedtn


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LabEnv]:
    env = LabEnv(root=tmp_path)
    for key, value in env.env.items():
        monkeypatch.setenv(key, value)
    try:
        yield env
    finally:
        env.note_daemon()
        kubedtn(env, "lab", "down", "--name", env.name)
        left = env.leftovers()
        assert not left, f"lab {env.name} left behind: {left}"
