"""Dataplane errors: what failed, where (namespace/interface), doing what, and why.

Kernel errors come back as errno plus, often, the kernel's own sentence (netlink
extended ack). ``explain`` turns the common ones into advice a person can act on.
"""

from __future__ import annotations

import errno

from kubedtn.errors import DataplaneError

__all__ = [
    "ApplyError",
    "DataplaneError",
    "NamespaceNotFoundError",
    "NetemMissingError",
    "NotOursError",
    "VniInUseError",
    "explain",
]


class NamespaceNotFoundError(DataplaneError):
    """A network namespace named by a spec does not exist (the pod is gone or not up yet)."""


class NotOursError(DataplaneError):
    """An interface with the wanted name exists but was not created by kubedtn; left alone."""


class NetemMissingError(DataplaneError):
    """The running kernel has no sch_netem, so latency/loss/... cannot be emulated."""


class VniInUseError(DataplaneError):
    """A VXLAN end cannot be made: another VXLAN whose tunnel socket is in the same node
    namespace already has its VNI (the kernel tells VXLANs apart by VNI alone)."""

    def __init__(self, message: str, *, vni: int) -> None:
        super().__init__(message)
        self.vni = vni


class ApplyError(DataplaneError):
    """Some links of an apply failed (and were rolled back); ``report`` says what happened to all."""

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


_ADVICE: dict[int, str] = {
    errno.EEXIST: "an object with that name or index already exists",
    errno.ENODEV: "the interface does not exist (any more)",
    errno.ENOENT: "no such object",
    errno.EBUSY: "the interface index is taken",
    errno.EADDRINUSE: "the address or port is in use",
    errno.EPERM: "not permitted: kubedtn needs CAP_NET_ADMIN (run as root)",
    errno.EOPNOTSUPP: "the kernel does not support this",
    errno.ERANGE: "a value is out of range for the kernel",
}


def explain(code: int) -> str:
    """A short reading of an errno for error lines ("" when there is nothing to add)."""
    return _ADVICE.get(code, "")
