"""The OpenAPI 3 description served by the app: the generated operations, plus one request schema
per published event, built from the JSON Schema of its published data structure."""

import copy

from django.conf import settings
from django.db import DatabaseError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework import exceptions as drf_exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission

from campaign.views import permission_denied
from integrations.authentication import IntegrationAuthentication

from .models import ADDRESS_KEYS, EventConfiguration, PublicationStatus, Targeting

ADDRESS_SCHEMAS = {
    "email": {"type": "string", "format": "email", "maxLength": 254},
    "mobilePhone": {"type": "string", "pattern": r"^\+[1-9][0-9]{6,14}$"},
    "registrationToken": {"type": "string", "minLength": 1, "maxLength": 4096},
    "application": {"type": "string", "minLength": 1, "maxLength": 255},
    "pushPlatform": {"type": "string", "enum": ["gcm", "apns"]},
}
WHEN_SCHEMA = {
    "type": "string",
    "format": "date-time",
    "nullable": True,
    "description": "ISO 8601; the T may be a space; UTC when no offset is given.",
}


class IntegrationAuthenticationScheme(OpenApiAuthenticationExtension):
    """Both headers together, as ACS expects them."""

    target_class = "integrations.authentication.IntegrationAuthentication"
    name = ["ApiKey", "Bearer"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "The client id."},
            {"type": "http", "scheme": "bearer", "description": "The integration's token."},
        ]


class IntegrationOrAdministrator(BasePermission):
    """API credentials, or an administrator signed in to the admin: a user who may see the event
    configurations the schema describes (marketers may not)."""

    message = _("The API documentation is for API credentials and administrators.")

    def has_permission(self, request, view) -> bool:
        if request.auth is not None:
            return True
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_staff
            and user.has_perm("events.view_eventconfiguration")
        )


def event_request_schema(*, configuration) -> dict:

    version = configuration.published_version
    address_keys = (
        [key for key, _ in ADDRESS_KEYS[configuration.channel]]
        if configuration.targeting == Targeting.EVENT
        else []
    )
    ctx = copy.deepcopy(version.ctx_schema)
    return {
        "type": "object",
        "title": f"{configuration.event_id} v{version.number}",
        "properties": {
            **{key: ADDRESS_SCHEMAS[key] for key in address_keys},
            "ctx": ctx,
            "scheduled": WHEN_SCHEMA,
            "expiration": WHEN_SCHEMA,
        },
        "required": [*address_keys, *(["ctx"] if ctx.get("required") else [])],
        "additionalProperties": False,
    }


def per_event_schemas(result, generator, request, public):
    """drf-spectacular post-processing hook: add each published event's path and request schema."""

    # The URL patterns tolerate a trailing slash; the documented paths are ACS's, without it.
    result["paths"] = {
        (path.rstrip("/") if path != "/" else path): item for path, item in result["paths"].items()
    }
    org = settings.CAMPAIGN_ORGANIZATION
    generic = result["paths"].get(f"/{org}/campaign/mc{org}/{{event_id}}", {}).get("post")
    if generic is None:
        return result
    try:
        configurations = list(
            EventConfiguration.objects.select_related("published_version")
            .filter(status=PublicationStatus.PUBLISHED, published_version__isnull=False)
            .order_by("event_id")
        )
    except DatabaseError:
        # Generated without a database (drf-spectacular's system check, `manage.py spectacular`):
        # the generic operations only.
        return result
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for configuration in configurations:
        name = f"Event_{configuration.event_id}"
        schemas[name] = event_request_schema(configuration=configuration)
        operation = copy.deepcopy(generic)
        operation["operationId"] = f"event_trigger_{configuration.event_id}"
        operation["summary"] = f"Trigger {configuration.label} ({configuration.event_id})"
        operation["parameters"] = [p for p in operation.get("parameters", []) if p.get("name") != "event_id"]
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
        result["paths"][f"/{org}/campaign/mc{org}/{configuration.event_id}"] = {"post": operation}
    return result


class _DocsAccess:
    authentication_classes = [SessionAuthentication, IntegrationAuthentication]
    permission_classes = [IntegrationOrAdministrator]

    def handle_exception(self, exc):
        # A signed-in admin user without the right gets the admin's 403 page, not a JSON body.
        request = self.request
        if (
            isinstance(exc, drf_exceptions.PermissionDenied)
            and request.auth is None
            and getattr(request.user, "is_staff", False)
        ):
            return permission_denied(request._request, exc.detail)
        return super().handle_exception(exc)


class OpenApiSchemaView(_DocsAccess, SpectacularAPIView):
    pass


class SwaggerView(_DocsAccess, SpectacularSwaggerView):
    pass


class RedocView(_DocsAccess, SpectacularRedocView):
    pass
