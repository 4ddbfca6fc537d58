"""The ACS-compatible trigger API: one view per operation, thin, calling the services."""

import json
import logging
from functools import lru_cache

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import (
    AuthenticationFailed,
    MethodNotAllowed,
    NotAuthenticated,
    ParseError,
    Throttled,
    UnsupportedMediaType,
)
from rest_framework.parsers import BaseParser
from rest_framework.utils.mediatypes import media_type_matches
from rest_framework.views import APIView

from campaign.exceptions import (
    ApplicationError,
    NotFoundError,
    ValidationFailed,
    api_exception_handler,
    json_response,
)
from integrations.authentication import IntegrationAuthentication
from integrations.idempotency import Replay, idempotency_begin, idempotency_finish, request_fingerprint
from integrations.ratelimit import IntegrationRateThrottle

from . import selectors
from .models import Event
from .selectors import event_status_payload
from .services import event_trigger, events_trigger_batch
from .services.trigger import integration_reaches, integration_scope_check

logger = logging.getLogger(__name__)


class BodyTooLarge(ApplicationError):
    status = 413
    code = "body_too_large"


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


# Strict JSON (no NaN, no infinities), made once: json.loads with hooks makes a decoder per call. A
# decoder is shared by threads as json.loads's own is.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class AcsJsonParser(BaseParser):
    """Strict JSON, as bytes of at most the view's `max_body_bytes`. Refuses what JSON or PostgreSQL
    cannot hold (NaN, infinities, NUL characters, absurd nesting) with a 400 rather than a crash."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        view = parser_context["view"]
        raw = stream.read(view.max_body_bytes + 1)
        if len(raw) > view.max_body_bytes:
            raise BodyTooLarge(f"The body is larger than {view.max_body_bytes} bytes.")
        parser_context["request"].raw_body = raw
        try:
            data = _DECODER.decode(raw.decode("utf-8"))
        except (ValueError, RecursionError) as exc:
            raise ParseError("The body is not valid JSON.") from exc
        if b"\\u0000" in raw and _has_nul(data):
            raise ValidationFailed("Text may not contain the NUL character (\\u0000).", code="invalid_body")
        return data


class AcsPlainTextJsonParser(AcsJsonParser):
    """Adobe's Campaign Standard SDK (@adobe/aio-lib-campaign-standard) sends its JSON body as
    `Content-Type: text/plain;charset=UTF-8`: accepted, and parsed as JSON."""

    media_type = "text/plain"


# The request headers get_host() reads, and the base URLs they gave (a few hosts in practice).
_HOST_KEYS = ("HTTP_X_FORWARDED_HOST", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT")
_base_urls: dict[tuple, str] = {}


def server_url(request) -> str:
    """The serverUrl of the answers: CAMPAIGN_SERVER_URL, else the request's own base URL (its
    host checked against ALLOWED_HOSTS once per distinct host, not on every call)."""
    if settings.CAMPAIGN_SERVER_URL:
        return settings.CAMPAIGN_SERVER_URL
    meta, scheme = request.META, request.scheme
    key = (scheme, *(meta.get(name) for name in _HOST_KEYS))
    url = _base_urls.get(key)
    if url is None:
        url = f"{scheme}://{request.get_host()}"
        if len(_base_urls) >= 64:
            _base_urls.clear()
        _base_urls[key] = url
    return url


ERROR_SCHEMA = inline_serializer(
    "Error",
    {
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "errors": serializers.ListField(
            child=inline_serializer(
                "FieldError", {"path": serializers.CharField(), "message": serializers.CharField()}
            )
        ),
    },
)
ERRORS = {
    code: OpenApiResponse(ERROR_SCHEMA, description=text)
    for code, text in {
        400: "Invalid body, unknown ctx field or wrong type (errors name each field).",
        401: "Missing or bad credentials.",
        403: "These credentials are not allowed for this event.",
        404: "Unknown or unpublished event: nothing stored.",
        409: "Idempotency-Key: the first request is still in flight.",
        413: "Body too large.",
        415: "Unsupported media type (send application/json).",
        422: "Idempotency-Key already used with another body.",
        429: "Rate limited: retry after Retry-After seconds.",
        503: "The database is unreachable: nothing stored, retry later.",
    }.items()
}
EVENT_SCHEMA = inline_serializer(
    "StoredEvent",
    {
        "PKey": serializers.CharField(),
        "ctx": serializers.DictField(),
        "email": serializers.CharField(required=False),
        "mobilePhone": serializers.CharField(required=False),
        "registrationToken": serializers.CharField(required=False),
        "application": serializers.CharField(required=False),
        "pushPlatform": serializers.CharField(required=False),
        "scheduled": serializers.DateTimeField(allow_null=True),
        "expiration": serializers.DateTimeField(allow_null=True),
        "href": serializers.CharField(),
        "serverUrl": serializers.CharField(),
        "status": serializers.ChoiceField(choices=[s for s, _ in Event._meta.get_field("status").choices]),
        "type": serializers.CharField(),
    },
)
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Same key and body replays the first answer (kept at least 24 h).",
)


@lru_cache(maxsize=64)
def _parser_for(parser_classes: tuple, content_type: str) -> BaseParser | None:
    """The parser of a Content-Type (the parsers keep no state between calls)."""
    return next((cls() for cls in parser_classes if media_type_matches(cls.media_type, content_type)), None)


# The handler of each accepted HTTP method (HEAD is answered as GET, as Django's views do).
HANDLERS = {"get": "get", "head": "get", "post": "post"}


class IntegrationApiView(APIView):
    """The request pipeline of the integration API: credentials (401), rate limit (429), method
    (405), body size (413), media type (415), strict JSON (400) and Idempotency-Key, then the
    handler, every error answered in the API's JSON shape (campaign/exceptions.py).

    It replaces DRF's generic `dispatch` (request wrapping, content negotiation, rendering), which
    cost 0.15 of the 0.7 ms of CPU a trigger call takes; DRF's view stays the base for `as_view`
    and the OpenAPI description, which reads the classes below. Handlers get Django's request with
    `auth` (the integration) and `data` (the parsed body) set, and return `(status, body)`. The
    answer is JSON whatever Accept asks for, as ACS answers."""

    authentication_classes = [IntegrationAuthentication]
    throttle_classes = [IntegrationRateThrottle]
    parser_classes = [AcsJsonParser, AcsPlainTextJsonParser]
    idempotent = True
    # Whether the handlers read the body (parsed, so refused when it is not JSON).
    reads_body = True

    @property
    def max_body_bytes(self) -> int:
        return settings.CAMPAIGN_API_MAX_BODY_BYTES

    def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs, self.request = args, kwargs, request
        claim = None
        try:
            request.auth = self._authenticate(request)
            for throttle in self.get_throttles():
                if not throttle.allow_request(request, self):
                    raise Throttled(throttle.wait())
            method = request.method.lower()
            handler = getattr(self, HANDLERS.get(method, ""), None)
            if handler is None:
                raise MethodNotAllowed(request.method)
            request.data = self._parse(request)
            key = request.META.get("HTTP_IDEMPOTENCY_KEY")
            if self.idempotent and key is not None and method == "post":
                fingerprint = request_fingerprint(
                    method=request.method, path=request.path, body=getattr(request, "raw_body", b"")
                )
                outcome = idempotency_begin(integration=request.auth, key=key, request_hash=fingerprint)
                if isinstance(outcome, Replay):
                    response = HttpResponse(
                        outcome.body, status=outcome.status, content_type=outcome.content_type
                    )
                    response["Idempotent-Replayed"] = "true"
                    return response
                claim = outcome
            status, body = handler(request, *args, **kwargs)
            response = json_response(body, status=status)
        except Exception as exc:
            response = api_exception_handler(exc, {"view": self, "request": request})
            if response is None:
                raise
        if claim is not None:
            self._idempotency_record(claim, response)
        return response

    def _authenticate(self, request):
        authenticator = self.get_authenticators()[0]
        try:
            found = authenticator.authenticate(request)
            if found is None:
                raise NotAuthenticated()
        except (NotAuthenticated, AuthenticationFailed) as exc:
            exc.auth_header = authenticator.authenticate_header(request)
            raise
        return found[1]

    def _parse(self, request):
        """The body as JSON ({} when empty, as DRF reads it), at most `max_body_bytes`."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_body_bytes:
            raise BodyTooLarge(f"The body is larger than {self.max_body_bytes} bytes.")
        if length <= 0 or not self.reads_body:
            return {}
        content_type = request.META.get("CONTENT_TYPE", "")
        parser = _parser_for(tuple(self.parser_classes), content_type)
        if parser is None:
            raise UnsupportedMediaType(content_type)
        return parser.parse(request, content_type, {"view": self, "request": request})

    def _idempotency_record(self, claim, response) -> None:
        """Keep a 2xx answer for replays; any other answer releases the key."""
        ok = 200 <= response.status_code < 300
        try:
            idempotency_finish(
                claim=claim,
                status=response.status_code,
                content_type=response.get("Content-Type", "application/json"),
                body=bytes(response.content) if ok else b"",
            )
        except DatabaseError:
            # The answer stands; the key stays in flight and is taken over after IN_FLIGHT_TIMEOUT.
            logger.warning("could not record the answer of Idempotency-Key %s", claim.key, exc_info=True)


class TriggerApi(IntegrationApiView):
    """POST an event: validated, stored, answered 202 with its PKey."""

    @extend_schema(
        operation_id="event_trigger",
        summary="Trigger an event (ACS Message Center)",
        parameters=[IDEMPOTENCY_HEADER],
        request=OpenApiTypes.OBJECT,
        responses={202: EVENT_SCHEMA, **ERRORS},
        description="The per-event request schemas are under the paths naming each published event.",
    )
    def post(self, request, event_id: str):
        event = event_trigger(event_id=event_id, payload=request.data, integration=request.auth)
        return 202, event_status_payload(event, server_url(request))


class TriggerBatchApi(IntegrationApiView):
    """POST up to CAMPAIGN_API_MAX_BATCH_EVENTS events of one event type: each answered on its own,
    every valid one stored in one transaction."""

    @property
    def max_body_bytes(self) -> int:
        return settings.CAMPAIGN_API_MAX_BATCH_BODY_BYTES

    @extend_schema(
        operation_id="event_trigger_batch",
        summary="Trigger many events of one event type",
        parameters=[IDEMPOTENCY_HEADER],
        request=inline_serializer("Batch", {"events": serializers.ListField(child=serializers.DictField())}),
        responses={
            200: inline_serializer(
                "BatchAnswer",
                {
                    "accepted": serializers.IntegerField(),
                    "rejected": serializers.IntegerField(),
                    "results": serializers.ListField(child=serializers.DictField()),
                },
            ),
            **ERRORS,
        },
    )
    def post(self, request, event_id: str):
        items = events_trigger_batch(event_id=event_id, body=request.data, integration=request.auth)
        base_url = server_url(request)
        results = []
        for item in items:
            if item.event is not None:
                results.append(
                    {
                        "index": item.index,
                        "httpStatus": 202,
                        "event": event_status_payload(item.event, base_url),
                    }
                )
            else:
                results.append(
                    {
                        "index": item.index,
                        "httpStatus": 400,
                        "code": "validation_failed",
                        "errors": [e.as_dict() for e in item.errors],
                    }
                )
        accepted = sum(1 for item in items if item.event is not None)
        return 200, {"accepted": accepted, "rejected": len(items) - accepted, "results": results}


class EventStatusApi(IntegrationApiView):
    """GET (or POST with an empty body, as Adobe's SDK does) the current state of an event."""

    idempotent = False
    reads_body = False

    @extend_schema(
        operation_id="event_status", summary="Status of an event", responses={200: EVENT_SCHEMA, **ERRORS}
    )
    def get(self, request, event_id: str, pkey: str):
        event = selectors.event_get(event_id=event_id, pkey=pkey)
        if event is None or not integration_reaches(
            integration=request.auth, configuration=event.configuration
        ):
            raise NotFoundError(f"No event {pkey} for {event_id}.", code="event_not_found")
        integration_scope_check(integration=request.auth, configuration=event.configuration)
        return 200, event_status_payload(event, server_url(request))

    @extend_schema(
        operation_id="event_status_post",
        summary="Status of an event (POST, as Adobe's SDK calls it)",
        request=None,
        responses={200: EVENT_SCHEMA, **ERRORS},
    )
    def post(self, request, event_id: str, pkey: str):
        return self.get(request, event_id, pkey)
