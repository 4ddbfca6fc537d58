"""The ACS-compatible trigger API: one view per operation, thin, calling the services."""

import json
import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from campaign.authentication import IntegrationAuthentication
from campaign.exceptions import ApplicationError, NotFoundError, ValidationFailed
from campaign.idempotency import Replay, idempotency_begin, idempotency_finish, request_fingerprint
from campaign.ratelimit import IntegrationRateThrottle

from . import selectors
from .models import Event, Targeting
from .services import ADDRESS_KEYS, event_trigger, events_trigger_batch
from .services.trigger import integration_scope_check

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
            data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
        except (ValueError, RecursionError) as exc:
            raise ParseError("The body is not valid JSON.") from exc
        if b"\\u0000" in raw and _has_nul(data):
            raise ValidationFailed("Text may not contain the NUL character (\\u0000).", code="invalid_body")
        return data


class AcsPlainTextJsonParser(AcsJsonParser):
    """Adobe's Campaign Standard SDK (@adobe/aio-lib-campaign-standard) sends its JSON body as
    `Content-Type: text/plain;charset=UTF-8`: accepted, and parsed as JSON."""

    media_type = "text/plain"


def _when(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def event_status_payload(event: Event, server_url: str | None = None) -> dict:
    """The stored event as ACS answers it (API-2)."""
    org = settings.CAMPAIGN_ORGANIZATION
    config = event.configuration
    body = {"PKey": event.pkey, "ctx": event.ctx}
    if config.targeting == Targeting.EVENT:
        body.update({key: getattr(event, attribute) for key, attribute in ADDRESS_KEYS[config.channel]})
    body.update(
        {
            "scheduled": _when(event.scheduled),
            "expiration": _when(event.expiration),
            "href": f"mc{org}/{config.event_id}/{event.pkey}",
            "serverUrl": settings.CAMPAIGN_SERVER_URL or server_url or "",
            "status": event.status,
            "type": config.channel,
        }
    )
    return body


def event_representation(event: Event, request) -> dict:
    return event_status_payload(event, request.build_absolute_uri("/").rstrip("/"))


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


class _ReplayAnswer(Exception):
    """Carries a stored Idempotency-Key answer out of `initial` to `handle_exception`."""

    def __init__(self, replay: Replay):
        self.replay = replay


class JsonNegotiation(DefaultContentNegotiation):
    """The API answers JSON whatever the Accept header asks for, as ACS does (no 406)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class IntegrationApiView(APIView):
    """Credentials (401), body size (413), media type (415), rate limit (429) and Idempotency-Key."""

    authentication_classes = [IntegrationAuthentication]
    content_negotiation_class = JsonNegotiation
    throttle_classes = [IntegrationRateThrottle]
    parser_classes = [AcsJsonParser, AcsPlainTextJsonParser]
    idempotent = True

    @property
    def max_body_bytes(self) -> int:
        return settings.CAMPAIGN_API_MAX_BODY_BYTES

    def initial(self, request, *args, **kwargs):
        self.idempotency_claim = None
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_body_bytes:
            raise BodyTooLarge(f"The body is larger than {self.max_body_bytes} bytes.")
        super().initial(request, *args, **kwargs)
        key = request.headers.get("Idempotency-Key")
        if self.idempotent and key is not None and request.method == "POST":
            request.data  # noqa: B018 - parse first: a bad body is refused before the key is claimed
            fingerprint = request_fingerprint(
                method=request.method, path=request.path, body=getattr(request, "raw_body", b"")
            )
            outcome = idempotency_begin(integration=request.auth, key=key, request_hash=fingerprint)
            if isinstance(outcome, Replay):
                raise _ReplayAnswer(outcome)
            self.idempotency_claim = outcome

    def handle_exception(self, exc):
        if isinstance(exc, _ReplayAnswer):
            response = HttpResponse(
                exc.replay.body, status=exc.replay.status, content_type=exc.replay.content_type
            )
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        claim = getattr(self, "idempotency_claim", None)
        if claim is not None:
            self.idempotency_claim = None
            if 200 <= response.status_code < 300:
                response.render()
            try:
                idempotency_finish(
                    claim=claim,
                    status=response.status_code,
                    content_type=response.get("Content-Type", "application/json"),
                    body=bytes(response.content) if 200 <= response.status_code < 300 else b"",
                )
            except DatabaseError:
                # The answer stands; the key stays in flight and is taken over after IN_FLIGHT_TIMEOUT.
                logger.warning("could not record the answer of Idempotency-Key %s", claim.key, exc_info=True)
        return response


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
        return Response(event_representation(event, request), status=202)


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
        data = request.data
        events = data.get("events") if isinstance(data, dict) else None
        limit = settings.CAMPAIGN_API_MAX_BATCH_EVENTS
        if not isinstance(events, list) or not events:
            raise ValidationFailed(
                'Send {"events": [<event>, ...]}, with at least one event.', code="invalid_body"
            )
        if len(events) > limit:
            raise ValidationFailed(
                f"At most {limit} events per batch (got {len(events)}).", code="batch_too_large"
            )
        items = events_trigger_batch(event_id=event_id, payloads=events, integration=request.auth)
        results = []
        for item in items:
            if item.event is not None:
                results.append(
                    {
                        "index": item.index,
                        "httpStatus": 202,
                        "event": event_representation(item.event, request),
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
        return Response({"accepted": accepted, "rejected": len(items) - accepted, "results": results})


class EventStatusApi(IntegrationApiView):
    """GET (or POST with an empty body, as Adobe's SDK does) the current state of an event."""

    idempotent = False

    @extend_schema(
        operation_id="event_status", summary="Status of an event", responses={200: EVENT_SCHEMA, **ERRORS}
    )
    def get(self, request, event_id: str, pkey: str):
        event = selectors.event_get(event_id=event_id, pkey=pkey)
        if event is None:
            raise NotFoundError(f"No event {pkey} for {event_id}.", code="event_not_found")
        integration_scope_check(integration=request.auth, configuration=event.configuration)
        return Response(event_representation(event, request))

    @extend_schema(
        operation_id="event_status_post",
        summary="Status of an event (POST, as Adobe's SDK calls it)",
        request=None,
        responses={200: EVENT_SCHEMA, **ERRORS},
    )
    def post(self, request, event_id: str, pkey: str):
        return self.get(request, event_id, pkey)
