"""The repository explains itself: package docstrings, README and ARCHITECTURE.md match the code."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "kubedtn"
PACKAGES = sorted(p.parent.name for p in SRC.glob("*/__init__.py") if p.parent.name != "proto")
MAX_CLASS_LINES = 400


def _modules(package: str) -> list[str]:
    return sorted(p.stem for p in (SRC / package).glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_docstring_names_its_modules(package: str) -> None:
    doc = ast.get_docstring(ast.parse((SRC / package / "__init__.py").read_text())) or ""
    named = set(re.findall(r"``(\w+)``", doc))
    missing = [m for m in _modules(package) if m not in named]
    assert not missing, f"kubedtn.{package}'s docstring does not name {missing}"


def test_no_class_is_longer_than_the_limit() -> None:
    long = []
    for path in SRC.rglob("*.py"):
        if "proto/v1" in path.as_posix():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.name} ({lines} lines)")
    assert not long


def test_the_readme_layout_and_architecture_name_every_package() -> None:
    readme = (ROOT / "README.md").read_text()
    architecture = (ROOT / "ARCHITECTURE.md").read_text()
    for package in [*PACKAGES, "proto"]:
        assert f"src/kubedtn/{package}" in readme, f"README's layout table lacks {package}"
        assert f"`{package}`" in architecture, f"ARCHITECTURE.md's layers lack {package}"


def test_every_path_architecture_names_exists() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    paths = set(re.findall(r"`((?:tests|src|bench|hack)/[\w/.]+)`", text))
    assert paths, "ARCHITECTURE.md names no file"
    assert [p for p in sorted(paths) if not (ROOT / p).exists()] == []


def test_every_module_architecture_names_exists() -> None:
    text = (ROOT / "ARCHITECTURE.md").read_text()
    dotted = set(re.findall(r"`((?:" + "|".join(PACKAGES) + r")\.\w+)", text))
    assert dotted
    missing = [d for d in sorted(dotted) if not (SRC / d.split(".")[0] / f"{d.split('.')[1]}.py").exists()]
    assert not missing
