"""The ACS-compatible trigger API: one view per operation, thin, calling the services."""

from django.conf import settings
from rest_framework.response import Response
from rest_framework.views import APIView

from campaign.authentication import IntegrationAuthentication
from campaign.exceptions import NotFoundError

from . import selectors
from .models import Event, Targeting
from .services import ADDRESS_KEYS, event_trigger


def _when(value):
    return value.isoformat().replace("+00:00", "Z") if value else None


def event_representation(event: Event, request) -> dict:
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
            "serverUrl": settings.CAMPAIGN_SERVER_URL or request.build_absolute_uri("/").rstrip("/"),
            "status": event.status,
            "type": config.channel,
        }
    )
    return body


class TriggerApi(APIView):
    """POST an event: validated, stored `pending`, answered 202 with its PKey."""

    authentication_classes = [IntegrationAuthentication]

    def post(self, request, event_id: str):
        event = event_trigger(event_id=event_id, payload=request.data, integration=request.auth)
        return Response(event_representation(event, request), status=202)


class EventStatusApi(APIView):
    """GET (or POST with an empty body, as Adobe's SDK does) the current state of an event."""

    authentication_classes = [IntegrationAuthentication]

    def get(self, request, event_id: str, pkey: str):
        event = selectors.event_get(event_id=event_id, pkey=pkey)
        if event is None:
            raise NotFoundError(f"No event {pkey} for {event_id}.", code="event_not_found")
        return Response(event_representation(event, request))

    def post(self, request, event_id: str, pkey: str):
        return self.get(request, event_id, pkey)
