"""Errors a store raises, shaped after the Kubernetes API statuses they stand for.

``NotFoundError`` (404) and ``ConflictError`` (409) are the project-wide ones from
:mod:`kubedtn.errors`, re-exported so store users import from one place.
"""

from __future__ import annotations

from kubedtn.errors import ConflictError, KubedtnError, NotFoundError, TemporaryError, ValidationError

__all__ = [
    "AlreadyExistsError",
    "ConflictError",
    "ExpiredError",
    "NotFoundError",
    "StoreError",
    "StoreUnavailableError",
    "TemporaryError",
    "ValidationError",
]


class AlreadyExistsError(ConflictError):
    """create() of a name that is taken (Kubernetes 409 AlreadyExists). Retrying will not help."""


class ExpiredError(KubedtnError):
    """A watch asked for events older than the store still keeps (Kubernetes 410 Gone).

    The cure is the one every informer uses: list again and watch from the list's
    resourceVersion.
    """

    def __init__(self, message: str, *, resource_version: int, oldest: int) -> None:
        self.resource_version = resource_version
        self.oldest = oldest
        super().__init__(message)


class StoreError(KubedtnError):
    """The store itself is unusable: its file cannot be opened, or was written by a newer kubedtn."""


class StoreUnavailableError(StoreError, TemporaryError):
    """The database stayed locked past the busy timeout, or failed in a way a retry may fix."""
