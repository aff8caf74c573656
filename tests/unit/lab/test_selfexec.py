"""How the lab runs kubedtn again (daemon, CNI plugin): this interpreter, the zipapp, or an override."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubedtn.lab import selfexec


def test_from_a_venv_it_is_this_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(selfexec.EXECUTABLE_ENV, raising=False)
    assert selfexec.command() == [sys.executable, "-m", "kubedtn"]


def test_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(selfexec.EXECUTABLE_ENV, str(tmp_path / "kubedtn"))
    assert selfexec.command() == [str(tmp_path / "kubedtn")]


def test_plugin_wrapper_runs_this_kubedtn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(selfexec.EXECUTABLE_ENV, raising=False)
    plugin = selfexec.plugin_executable(tmp_path / "bin")
    assert plugin.name == "kubedtn" and os.access(plugin, os.X_OK)
    # exec'd as a runtime does: CNI_COMMAND in the environment, no arguments
    out = subprocess.run(
        [str(plugin)],
        input=b'{"cniVersion":"1.0.0"}',
        env={**os.environ, "CNI_COMMAND": "VERSION"},
        capture_output=True,
        check=True,
    )
    assert b'"supportedVersions"' in out.stdout
    # written again (a second `lab up`): replaced, not failing
    assert selfexec.plugin_executable(tmp_path / "bin") == plugin


def test_plugin_link_for_an_executable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    target = tmp_path / "dist" / "kubedtn"
    target.parent.mkdir()
    target.write_text("#!/bin/sh\n")
    monkeypatch.setenv(selfexec.EXECUTABLE_ENV, str(target))
    plugin = selfexec.plugin_executable(tmp_path / "bin")
    assert plugin.is_symlink() and plugin.resolve() == target
