"""The one exception hierarchy of kubedtn.

Every layer raises these (wrapping library errors with ``raise ... from e``); only the
outermost layer turns them into CNI error codes, gRPC statuses or CLI exit codes.
Messages are for people: name the object, the field, the bad value, what is accepted.
"""

from __future__ import annotations


class KubedtnError(Exception):
    """Base of every error kubedtn raises on purpose."""


class ValidationError(KubedtnError):
    """User input is wrong; retrying will not help. Carries one line per problem."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class NotFoundError(KubedtnError):
    """The named object does not exist."""


class PermissionDeniedError(KubedtnError):
    """The request asks for something its sender may not have (a pod not recorded on this
    node, a namespace outside the allowed places); retrying will not help."""


class ConflictError(KubedtnError):
    """Optimistic concurrency lost (stale resourceVersion) or the object already exists."""


class TemporaryError(KubedtnError):
    """Something not ready yet (peer daemon down, namespace not there); retrying may help."""

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        self.delay = delay
        super().__init__(message)


class DataplaneError(KubedtnError):
    """A kernel operation failed; the message names namespace, interface, operation and cause."""
