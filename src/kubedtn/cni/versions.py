"""CNI specification versions kubedtn speaks, and the VERSION command's answer.

Part of the plugin's fast path: imports only the standard library's json (via jsonio),
no dataclasses or typing at run time, because a runtime may exec VERSION often.
"""

from __future__ import annotations

from kubedtn.cni import jsonio
from kubedtn.cni.errors import CniError, Code

TYPE_CHECKING = False  # typing costs import time on the exec'd path; mypy treats this as True
if TYPE_CHECKING:
    from typing import Any

# Oldest first. 0.3.0 is the first with the list-shaped result that chaining needs;
# 1.1.0 adds STATUS and GC.
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
LATEST_VERSION = SUPPORTED_VERSIONS[-1]


def version_tuple(version: str) -> tuple[int, int, int]:
    """ "1.0.0" → (1, 0, 0); raises ValueError for anything not MAJOR.MINOR.PATCH digits."""
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a MAJOR.MINOR.PATCH version: {version!r}")
    return (int(parts[0]), int(parts[1]), int(parts[2]))


def is_at_least(version: str, minimum: str) -> bool:
    """Whether a supported version is `minimum` or newer (e.g. CHECK needs 0.4.0)."""
    return version_tuple(version) >= version_tuple(minimum)


def check_version(value: object, *, where: str = "network configuration") -> str:
    """The cniVersion of an input, checked: CniError code 1 unless kubedtn supports it."""
    if not isinstance(value, str):
        raise CniError(
            Code.INVALID_NETWORK_CONFIG,
            f"{where}: cniVersion must be a string such as {LATEST_VERSION!r}, got {value!r}",
        )
    if value not in SUPPORTED_VERSIONS:
        raise CniError(
            Code.INCOMPATIBLE_VERSION,
            f"{where}: cniVersion {value!r} is not supported by kubedtn; "
            f"supported: {', '.join(SUPPORTED_VERSIONS)}",
        )
    return value


def version_for_request(stdin: bytes) -> str:
    """The cniVersion to answer a VERSION call with.

    The runtime sends ``{"cniVersion": "<its version>"}`` (empty stdin is allowed too).
    The answer carries the runtime's version when kubedtn supports it, else the newest
    kubedtn supports: the supportedVersions list then tells the runtime what to use.
    Malformed JSON is still an error (code 6), as for every command.
    """
    if not stdin.strip():
        return LATEST_VERSION
    request = jsonio.decode_object(stdin, what="VERSION request on stdin")
    version = request.get("cniVersion")
    return version if isinstance(version, str) and version in SUPPORTED_VERSIONS else LATEST_VERSION


def version_info(cni_version: str) -> dict[str, Any]:
    """The result object of the VERSION command."""
    return {"cniVersion": cni_version, "supportedVersions": list(SUPPORTED_VERSIONS)}
