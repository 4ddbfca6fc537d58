"""The domain error class and the one handler that turns errors into the API's JSON shape.

Every API error body is {"code": <stable string>, "message": <text>, "errors": [{"path", "message"}]}.
"""

import logging
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, DataError, InterfaceError, OperationalError
from django.http import Http404, HttpResponse
from rest_framework import exceptions as drf_exceptions

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FieldError:
    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class ApplicationError(Exception):
    """A business rule refused the operation; the message is safe to show to the caller."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, errors: list[FieldError] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.errors = errors or []


class NotFoundError(ApplicationError):
    status = 404
    code = "not_found"


class ValidationFailed(ApplicationError):
    status = 400
    code = "validation_failed"


# One encoder for every answer: `json.dumps(cls=...)` builds one per call.
_encode = DjangoJSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_response(body, *, status: int = 200, headers=None) -> HttpResponse:
    """`body` as compact UTF-8 JSON, as DRF's JSONRenderer writes it."""
    return HttpResponse(
        _encode(body).encode(), status=status, headers=headers, content_type="application/json"
    )


def error_response(*, status: int, code: str, message: str, errors=(), headers=None) -> HttpResponse:
    body = {"code": code, "message": message, "errors": [e.as_dict() for e in errors]}
    return json_response(body, status=status, headers=headers)


_DRF_CODES = {
    drf_exceptions.ParseError: "invalid_json",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "forbidden",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "rate_limited",
}


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        headers = {"Retry-After": "5"} if exc.status == 503 else None
        return error_response(
            status=exc.status, code=exc.code, message=exc.message, errors=exc.errors, headers=headers
        )
    if isinstance(exc, Http404):
        return error_response(status=404, code="not_found", message="Not found.")
    if isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    if isinstance(exc, drf_exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "invalid")
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if isinstance(exc, drf_exceptions.ParseError):
            message = "The body is not valid JSON."
        return error_response(status=exc.status_code, code=code, message=str(message), headers=headers)
    if isinstance(exc, OperationalError | InterfaceError) or type(exc) is DatabaseError:
        logger.warning("database unavailable: %s", exc)
        return error_response(
            status=503,
            code="service_unavailable",
            message="The service is temporarily unavailable; retry later.",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DataError):
        # A value the database cannot hold that validation let through: the caller's input, not a crash.
        logger.warning("value refused by the database: %s", exc)
        return error_response(
            status=400, code="invalid_value", message="A value is out of the accepted range."
        )
    return None
