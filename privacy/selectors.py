"""Reads of privacy requests: the rows that hold a profile's personal data, wherever they are, and
the export of them all as one JSON document."""

import getpass
from datetime import datetime

from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from delivery.models import AddressQuarantine, CapturedEmail, CapturedMessage, DeliveryAttempt, DenylistEntry
from events.models import Event, EventConfigurationVersion, Targeting
from integrations.models import CallbackAttempt
from messages_app.models import ProofSend, TestProfile
from profiles.models import Profile
from profiles.selectors import address_hash

EXPORT_FORMAT = "message-center/privacy-export/1"


def subject_reference(*, profile: Profile) -> str:
    """How a privacy request names its profile without holding personal data: the hash of its
    email (lower-cased), else of its phone, else of its external ID, as suppressions hash them."""
    if profile.email:
        return address_hash(channel="email", address=profile.email)
    if profile.mobile_phone:
        return address_hash(channel="sms", address=profile.mobile_phone)
    return address_hash(channel="external_id", address=profile.external_id or f"profile:{profile.pk}")


def operator_name() -> str:
    """Who runs a management command, for the record (no user is logged in there)."""
    try:
        return getpass.getuser()[:150]
    except (KeyError, OSError):
        return ""


def profile_addresses(*, profile: Profile) -> dict[str, list[str]]:
    """The channel addresses of a profile: its email (lower-cased), its phone, the registration
    tokens of its devices."""
    tokens = list(profile.app_subscriptions.values_list("registration_token", flat=True))
    return {
        "email": [profile.email.strip().lower()] if profile.email.strip() else [],
        "sms": [profile.mobile_phone.strip()] if profile.mobile_phone.strip() else [],
        "push": [token for token in tokens if token],
    }


def _targeted(profile: Profile) -> Q:
    """Events of profile-based configurations whose targeting enrichment finds this profile."""
    found = Q(pk__in=[])
    versions = EventConfigurationVersion.objects.filter(configuration__targeting=Targeting.PROFILE).only(
        "pk", "structure"
    )
    for version in versions:
        for enrichment in version.structure.get("enrichments", []):
            if not enrichment.get("targeting") or not enrichment.get("join"):
                continue
            event_field = enrichment["join"][0]["event_field"]
            profile_field = enrichment["join"][0]["profile_field"]
            value = str(getattr(profile, profile_field, "") or "").strip()
            if not value:
                continue
            lookup = "iexact" if profile_field == "email" else "exact"
            found |= Q(configuration_version=version.pk, **{f"ctx__{event_field}__{lookup}": value})
            if value.isdigit():
                found |= Q(configuration_version=version.pk, **{f"ctx__{event_field}": int(value)})
    return found


def profile_events(*, profile: Profile) -> QuerySet[Event]:
    """The events that targeted the profile or whose payload holds one of its addresses (in the
    address columns or anywhere in `ctx`). `ctx` is searched as text: a full scan of the events,
    acceptable for a request that runs now and then."""
    addresses = profile_addresses(profile=profile)
    needles = [address for values in addresses.values() for address in values]
    found = _targeted(profile)
    if addresses["email"]:
        found |= Q(email__iexact=addresses["email"][0])
    if addresses["sms"]:
        found |= Q(mobile_phone__in=addresses["sms"])
    if addresses["push"]:
        found |= Q(push_token__in=addresses["push"])
    for needle in needles:
        found |= Q(ctx_text__icontains=needle)
    return Event.objects.alias(ctx_text=Cast("ctx", output_field=TextField())).filter(found)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def profile_personal_data(*, profile: Profile) -> dict:
    """Everything held about the profile, as one JSON-ready document: the profile, its
    subscriptions and devices, the events that concern it with their delivery attempts,
    exclusions, provider feedback and status callbacks, the proofs and captured messages sent
    to its addresses, and its addresses' quarantine and denylist entries."""
    addresses = profile_addresses(profile=profile)
    all_addresses = [address for values in addresses.values() for address in values]
    events = list(
        profile_events(profile=profile)
        .select_related("configuration")
        .prefetch_related("delivery_attempts", "exclusions", "tracking_events")
        .order_by("created_at", "pk")
    )
    callbacks: dict[int, list] = {}
    for attempt in CallbackAttempt.objects.filter(event__in=[e.pk for e in events]).order_by(
        "created_at", "pk"
    ):
        callbacks.setdefault(attempt.event_id, []).append(
            {
                "status": attempt.event_status,
                "url": attempt.url,
                "result": attempt.result,
                "response_status": attempt.response_status,
                "error": attempt.error,
                "at": _iso(attempt.created_at),
            }
        )
    email_filter = Q(pk__in=[])
    for address in addresses["email"]:
        email_filter |= Q(to__icontains=address)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": _iso(timezone.now()),
        "profile": {
            "id": profile.pk,
            "email": profile.email,
            "mobile_phone": profile.mobile_phone,
            "external_id": profile.external_id,
            "first_name": profile.first_name,
            "last_name": profile.last_name,
            "language": profile.language,
            "time_zone": profile.time_zone,
            "attributes": profile.attributes,
            "email_opted_out_at": _iso(profile.email_opted_out_at),
            "sms_opted_out_at": _iso(profile.sms_opted_out_at),
            "push_opted_out_at": _iso(profile.push_opted_out_at),
            "created_at": _iso(profile.created_at),
            "modified_at": _iso(profile.modified_at),
        },
        "subscriptions": [
            {
                "service": subscription.service.name,
                "service_label": subscription.service.label,
                "subscribed_at": _iso(subscription.subscribed_at),
                "unsubscribed_at": _iso(subscription.unsubscribed_at),
                "source": subscription.source,
            }
            for subscription in profile.subscriptions.select_related("service").order_by("pk")
        ],
        "app_subscriptions": [
            {
                "application": app.application,
                "platform": app.platform,
                "registration_token": app.registration_token,
                "device": app.device,
                "last_seen_at": _iso(app.last_seen_at),
                "created_at": _iso(app.created_at),
                "disabled_at": _iso(app.disabled_at),
                "disabled_reason": app.disabled_reason,
            }
            for app in profile.app_subscriptions.order_by("pk")
        ],
        "events": [
            {
                "pkey": event.pkey,
                "event": event.configuration.event_id,
                "status": event.status,
                "created_at": _iso(event.created_at),
                "processed_at": _iso(event.processed_at),
                "email": event.email,
                "mobile_phone": event.mobile_phone,
                "push_token": event.push_token,
                "ctx": event.ctx,
                "error": event.error,
                "delivery_attempts": [
                    {
                        "number": attempt.number,
                        "channel": attempt.channel,
                        "address": attempt.address,
                        "started_at": _iso(attempt.started_at),
                        "outcome": attempt.outcome,
                        "provider_message_id": attempt.provider_message_id,
                        "provider_response": attempt.provider_response,
                        "error": attempt.error,
                    }
                    for attempt in event.delivery_attempts.all()
                ],
                "exclusions": [
                    {
                        "channel": exclusion.channel,
                        "address": exclusion.address,
                        "reason": exclusion.reason,
                        "detail": exclusion.detail,
                        "at": _iso(exclusion.created_at),
                    }
                    for exclusion in event.exclusions.all()
                ],
                "tracking": [
                    {
                        "type": tracking.event_type,
                        "recipient": tracking.recipient,
                        "occurred_at": _iso(tracking.occurred_at),
                        "description": tracking.description,
                        "click_url": tracking.click_url,
                    }
                    for tracking in event.tracking_events.all()
                ],
                "status_callbacks": callbacks.get(event.pk, []),
            }
            for event in events
        ],
        "other_delivery_attempts": [
            {
                "event": attempt.event_pkey,
                "channel": attempt.channel,
                "address": attempt.address,
                "started_at": _iso(attempt.started_at),
                "outcome": attempt.outcome,
            }
            # Those of other events, or of events already deleted (the logs outlive them).
            for attempt in DeliveryAttempt.objects.filter(address__in=all_addresses).exclude(
                event__in=[e.pk for e in events]
            )
        ],
        "proofs": [
            {
                "message": proof.message.message_id,
                "channel": proof.channel,
                "address": proof.address,
                "status": proof.status,
                "sent_at": _iso(proof.sent_at),
            }
            for proof in ProofSend.objects.filter(address__in=all_addresses).select_related("message")
        ],
        "test_profiles": [
            {"message": test.message.message_id, "name": test.name, "address": test.address}
            for test in TestProfile.objects.filter(
                Q(profile=profile) | Q(address__in=all_addresses)
            ).select_related("message")
        ],
        "captured_emails": [
            {"to": captured.to, "subject": captured.subject, "at": _iso(captured.created_at)}
            for captured in CapturedEmail.objects.filter(email_filter)
        ],
        "captured_messages": [
            {
                "channel": captured.channel,
                "to": captured.to,
                "title": captured.title,
                "body": captured.body,
                "at": _iso(captured.created_at),
            }
            for captured in CapturedMessage.objects.filter(to__in=all_addresses)
        ],
        "quarantine": [
            {
                "channel": entry.channel,
                "address": entry.address,
                "quarantined_at": _iso(entry.quarantined_at),
                "reason": entry.reason,
                "soft_bounces": entry.soft_bounces,
            }
            for entry in AddressQuarantine.objects.filter(address__in=all_addresses)
        ],
        "denylist": [
            {
                "channel": entry.channel,
                "address": entry.address,
                "reason": entry.reason,
                "at": _iso(entry.created_at),
            }
            for entry in DenylistEntry.objects.filter(address__in=all_addresses)
        ],
    }
