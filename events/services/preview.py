"""The API preview of a configuration (SPEC EVT-6): what a website developer needs to integrate."""

import json
import shlex
from dataclasses import dataclass, field

from django.conf import settings

from ..contract import sample_ctx
from ..models import Event, EventConfiguration, PublicationStatus, Targeting
from ..selectors import configuration_latest_events, configuration_structure
from .trigger import ADDRESS_KEYS

# Placeholders: the real token is shown once, when the integration is created, and stored hashed.
TOKEN_PLACEHOLDER = "<ACCESS_TOKEN>"  # noqa: S105 - a placeholder, not a secret
CLIENT_ID_PLACEHOLDER = "<CLIENT_ID>"
SAMPLE_ADDRESSES = {
    "email": "customer@example.com",
    "mobilePhone": "+33612345678",
    "registrationToken": "<DEVICE_REGISTRATION_TOKEN>",
    "application": "com.example.shop",
    "pushPlatform": "gcm",
}


@dataclass(frozen=True)
class ApiPreview:
    endpoint: str
    headers: dict[str, str]
    body: dict
    # True while unpublished: the endpoint refuses events until the configuration is published.
    simulated: bool
    latest_events: list[Event] = field(default_factory=list)

    @property
    def body_json(self) -> str:
        return json.dumps(self.body, indent=2, ensure_ascii=False)

    @property
    def curl(self) -> str:
        parts = ["curl", "-X", "POST", shlex.quote(self.endpoint)]
        for name, value in self.headers.items():
            parts += ["-H", shlex.quote(f"{name}: {value}")]
        parts += ["--data", shlex.quote(json.dumps(self.body, ensure_ascii=False))]
        return " \\\n  ".join(
            [" ".join(parts[:4]), *[" ".join(parts[i : i + 2]) for i in range(4, len(parts), 2)]]
        )


def event_payload(*, event: Event, config: EventConfiguration) -> dict:
    """The event as it was sent: its addresses (event-based) and its ctx, without the dates."""
    payload = {}
    if config.targeting == Targeting.EVENT:
        payload.update({key: getattr(event, attribute) for key, attribute in ADDRESS_KEYS[config.channel]})
    payload["ctx"] = event.ctx
    return payload


def trigger_url_path(*, event_id: str) -> str:
    org = settings.CAMPAIGN_ORGANIZATION
    return f"/{org}/campaign/mc{org}/{event_id}"


def api_preview_build(
    *, config: EventConfiguration, base_url: str, client_id: str = "", token: str = ""
) -> ApiPreview:
    """The preview against the published structure, or the draft one while unpublished."""
    published = config.status == PublicationStatus.PUBLISHED and config.published_version is not None
    structure = config.published_version.structure if published else configuration_structure(config=config)
    body: dict = {}
    if config.targeting == Targeting.EVENT:
        body.update({key: SAMPLE_ADDRESSES[key] for key, _ in ADDRESS_KEYS[config.channel]})
    body["ctx"] = sample_ctx(structure=structure)
    return ApiPreview(
        endpoint=base_url.rstrip("/") + trigger_url_path(event_id=config.event_id),
        headers={
            "Content-Type": "application/json;charset=utf-8",
            "Authorization": f"Bearer {token or TOKEN_PLACEHOLDER}",
            "X-Api-Key": client_id or CLIENT_ID_PLACEHOLDER,
        },
        body=body,
        simulated=not published,
        latest_events=configuration_latest_events(config=config),
    )
