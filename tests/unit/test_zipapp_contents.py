"""What hack/build-zipapp.sh leaves out of dist/kubedtn is never imported by kubedtn.

The script drops the kubernetes client's asyncio variant and aiohttp with its
dependencies (its ``for unused in ...`` list). Importing every kubedtn module must not
import any of them, and the built archive must not hold them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile

from tests.support.zipapp import REPO, executable

SCRIPT = REPO / "hack" / "build-zipapp.sh"
# Every module of the package, imported in a fresh interpreter; what of `unused` got loaded.
PROBE = """
import importlib, json, pkgutil, sys
import kubedtn
for info in pkgutil.walk_packages(kubedtn.__path__, "kubedtn."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
unused = json.loads(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if any(m == u or m.startswith(u + ".") for u in unused))))
"""


def _left_out() -> list[str]:
    (line,) = re.findall(r"^for unused in ([^;]+); do$", SCRIPT.read_text(), re.MULTILINE)
    return str(line).split()


def test_no_kubedtn_module_imports_what_the_archive_leaves_out() -> None:
    modules = [path.replace("/", ".") for path in _left_out()]
    assert "kubernetes.aio" in modules and "aiohttp" in modules
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(proc.stdout) == []


def test_the_archive_does_not_hold_them() -> None:
    with zipfile.ZipFile(executable()) as archive:
        names = archive.namelist()
    assert any(n.startswith("site-packages/kubernetes/client/") for n in names)
    held = {path for path in _left_out() for n in names if n.startswith(f"site-packages/{path}/")}
    assert held == set()
