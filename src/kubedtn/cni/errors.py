"""CNI errors: the codes, the error object the plugin prints, and the mapping from kubedtn's own.

The plugin reports failure as a non-zero exit and one JSON object on stdout::

    {"cniVersion": "1.1.0", "code": 7, "msg": "...", "details": "..."}

Codes 0-99 are the specification's well-known ones; 100 and up are kubedtn's own.
Only the plugin's outermost layer (kubedtn.cni.plugin) turns exceptions into these.
"""

from __future__ import annotations

from kubedtn import errors
from kubedtn.cni import fastjson

TYPE_CHECKING = False  # see kubedtn.cni.versions
if TYPE_CHECKING:
    from typing import Any


class Code:
    """Error codes. 1-99: CNI well-known errors (SPEC.md "Error codes"); 100+: kubedtn's.

    Plain int constants, not an IntEnum: enum is a costly import on the exec'd path."""

    INCOMPATIBLE_VERSION = 1  # the cniVersion is not one kubedtn supports
    UNSUPPORTED_FIELD = 2  # a field in the network configuration kubedtn does not support
    UNKNOWN_CONTAINER = 3  # the container (its netns) does not exist
    INVALID_ENVIRONMENT = 4  # a CNI_* variable is missing or malformed
    IO_FAILURE = 5  # reading stdin or writing stdout failed
    DECODE_FAILED = 6  # stdin is not a JSON object
    INVALID_NETWORK_CONFIG = 7  # the network configuration fails validation
    TRY_AGAIN_LATER = 11  # transient (daemon not up yet, lost a race): the runtime retries
    PLUGIN_NOT_AVAILABLE = 50  # STATUS: the plugin cannot serve ADDs now
    LIMITED_CONNECTIVITY = 51  # STATUS: the plugin can serve ADDs but not all links
    # kubedtn's own:
    NOT_IMPLEMENTED = 100  # the command is not implemented by this build
    DATAPLANE_FAILED = 101  # a kernel operation on the node failed
    CHECK_FAILED = 102  # CHECK: links of the pod are missing or not as the topology says
    WRONG_PYTHON = 103  # the node's Python cannot load the executable's wheels (kubedtn.cni.nowheels)
    INTERNAL = 999  # a bug: an exception kubedtn did not expect


class CniError(Exception):
    """An error in CNI form. `msg` is one line for people; `details` may be longer."""

    def __init__(self, code: int, msg: str, *, details: str = "") -> None:
        super().__init__(msg)
        self.code = int(code)
        self.msg = msg
        self.details = details

    def to_result(self, cni_version: str) -> dict[str, Any]:
        """The error object for stdout, in the cniVersion of the request."""
        result: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            result["details"] = self.details
        return result

    def to_json(self, cni_version: str) -> str:
        return fastjson.dumps(self.to_result(cni_version))

    def __repr__(self) -> str:
        return f"CniError(code={self.code}, msg={self.msg!r}, details={self.details!r})"


# kubedtn.errors → CNI code, most specific first (isinstance order matters).
_CODES: tuple[tuple[type[errors.KubedtnError], int], ...] = (
    (errors.ValidationError, Code.INVALID_NETWORK_CONFIG),
    (errors.NotFoundError, Code.UNKNOWN_CONTAINER),
    (errors.TemporaryError, Code.TRY_AGAIN_LATER),
    (errors.ConflictError, Code.TRY_AGAIN_LATER),
    (errors.DataplaneError, Code.DATAPLANE_FAILED),
)


def from_exception(exc: BaseException) -> CniError:
    """Any exception as a CniError: kubedtn's own by kind, anything else as INTERNAL (999)."""
    if isinstance(exc, CniError):
        return exc
    if isinstance(exc, errors.KubedtnError):
        code = next((c for kind, c in _CODES if isinstance(exc, kind)), Code.INTERNAL)
        lines = str(exc).splitlines() or [type(exc).__name__]
        details = "\n".join(lines[1:])
        if isinstance(exc, errors.TemporaryError) and exc.delay is not None:
            details = "\n".join(filter(None, [details, f"retry after {exc.delay:g}s"]))
        return CniError(code, lines[0], details=details)
    return CniError(
        Code.INTERNAL,
        f"internal error in kubedtn: {type(exc).__name__}: {exc}",
        details="this is a bug; the plugin's log file has the traceback",
    )
