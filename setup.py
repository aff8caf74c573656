"""Build shim: metadata lives in setup.cfg; the version comes from git (hack/version.sh)."""

import re
from pathlib import Path

from setuptools import setup


def pep440_version() -> str:
    """Turn the `git describe` string recorded in _version.py into a PEP 440 version."""
    version_file = Path(__file__).parent / "src" / "kubedtn" / "_version.py"
    match = re.search(r'VERSION = "([^"]+)"', version_file.read_text()) if version_file.exists() else None
    if not match:
        return "0.0.0"
    described = match.group(1)
    tagged = re.fullmatch(r"v?(\d+(?:\.\d+)*)(?:-(.+))?", described)
    if tagged:
        public, rest = tagged.groups()
        return public if not rest else f"{public}+{re.sub(r'[^0-9a-zA-Z]+', '.', rest)}"
    return "0.0.0+" + re.sub(r"[^0-9a-zA-Z]+", ".", described)


setup(version=pep440_version())
