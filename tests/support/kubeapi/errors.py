"""API errors as the Kubernetes API reports them: a `Status` object with a code and a reason.

API Conventions, "Response Status Kind": every error answer is a Status whose `reason` clarifies
the HTTP code and whose `details` name the object.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: raised anywhere in the double, turned into a Status by the handler."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(kind: str, name: str, group: str = "") -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": kind}
    if group:
        details["group"] = group
    return details


def _qualified(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        404, "NotFound", f'{_qualified(plural, group)} "{name}" not found', _details(plural, name, group)
    )


def already_exists(plural: str, name: str, group: str = "") -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qualified(plural, group)} "{name}" already exists',
        _details(plural, name, group),
    )


def conflict(plural: str, name: str, group: str = "", why: str = "") -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qualified(plural, group)} "{name}": {why}',
        _details(plural, name, group),
    )


def invalid(  # noqa: PLR0917 (kind, name, field, value, what is accepted: what a user needs to see)
    kind: str, name: str, field: str, value: object, accepted: str, group: str = ""
) -> ApiError:
    cause = {
        "reason": "FieldValueInvalid",
        "field": field,
        "message": f"Invalid value: {value!r}: {accepted}",
    }
    details = _details(kind, name, group) | {"causes": [cause]}
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {field}: {cause["message"]}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format (got {content_type!r}) - accepted media types "
        f"include: {', '.join(accepted)}",
    )
