"""How to run this very kubedtn again: as a daemon, or as the CNI plugin of ``--via-cni``.

The lab starts the same code that runs the CLI: ``dist/kubedtn`` when the CLI runs from
the zipapp, ``python -m kubedtn`` (this interpreter) otherwise. ``KUBEDTN_EXECUTABLE``
overrides both (a path to an executable kubedtn).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Final

EXECUTABLE_ENV: Final = "KUBEDTN_EXECUTABLE"


def _zipapp() -> str | None:
    """The archive this process runs from, when it is a zipapp (shiv's __main__ in a zip)."""
    main = sys.modules.get("__main__")
    archive = getattr(getattr(main, "__loader__", None), "archive", None)
    return os.path.abspath(archive) if isinstance(archive, str) and os.path.isfile(archive) else None


def command() -> list[str]:
    """argv prefix that runs kubedtn (append the subcommand and its arguments)."""
    override = os.environ.get(EXECUTABLE_ENV)
    if override:
        return [os.path.abspath(override)]
    archive = _zipapp()
    if archive:
        return [archive]
    return [sys.executable, "-m", "kubedtn"]


def plugin_executable(directory: Path) -> Path:
    """An executable named ``kubedtn`` in ``directory`` that runs this kubedtn (for CNI_PATH).

    A symlink to the zipapp (or the override), else a two-line shell wrapper around
    ``python -m kubedtn``. The caller owns ``directory``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "kubedtn"
    argv = command()
    tmp = directory / ".kubedtn.tmp"
    tmp.unlink(missing_ok=True)
    if len(argv) == 1:
        tmp.symlink_to(argv[0])
    else:
        # A runtime execs the plugin with CNI_* in the environment and no arguments.
        tmp.write_text(f'#!/bin/sh\nexec {shlex.join(argv)} "$@"\n')
        tmp.chmod(0o755)
    tmp.replace(target)
    return target
