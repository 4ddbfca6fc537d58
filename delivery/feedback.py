"""Provider feedback (anymail tracking webhooks), quarantine and denylist (DLV-5)."""

import logging
import re

from anymail.signals import AnymailTrackingEvent
from django.conf import settings
from django.db import transaction
from django.db.models import DateTimeField, F, Value
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from profiles.selectors import addresses_suppressed

from .models import (
    AddressQuarantine,
    DeliveryAttempt,
    DenylistEntry,
    ExclusionReason,
    InteractionKind,
    QuarantineReason,
    TrackingEvent,
)
from .tracking import provider_interaction

logger = logging.getLogger(__name__)

# A bounce whose SMTP answer is a 4xx reply or a 4.x.x status is soft (mailbox full, greylisted):
# some ESPs report those as "bounced" rather than "deferred".
SOFT_BOUNCE_RE = re.compile(r"^\s*(4\d\d\b|4\.\d+\.\d+)")


def address_normalize(*, channel: str, address: str) -> str:
    return address.strip().lower() if channel == "email" else address.strip()


def address_exclusions(*, channel: str, addresses: list[str]) -> dict[str, tuple[str, str]]:
    """(reason code, explanation) of each of the addresses nothing may be sent to, read in one
    query over the denylist and the quarantine (the denylist wins when an address is on both), and
    one over the suppressed addresses of erased profiles (which win over both)."""
    if not addresses:
        return {}
    # Without the models' default ordering: SQLite refuses ORDER BY inside a UNION.
    denied = (
        DenylistEntry.objects.filter(channel=channel, address__in=addresses)
        .order_by()
        .values_list(
            "address", Value(ExclusionReason.DENYLIST), "reason", Value(None, output_field=DateTimeField())
        )
    )
    quarantined = (
        AddressQuarantine.objects.filter(channel=channel, address__in=addresses, quarantined_at__isnull=False)
        .order_by()
        .values_list("address", Value(ExclusionReason.QUARANTINE), "reason", "quarantined_at")
    )
    found: dict[str, tuple[str, str]] = {}
    for address, kind, reason, since in denied.union(quarantined, all=True):
        if kind == ExclusionReason.DENYLIST:
            found[address] = (kind, f"{address} is on the denylist ({reason or 'no reason given'}).")
        elif address not in found:
            found[address] = (
                kind,
                f"{address} is in quarantine since {since:%Y-%m-%d %H:%M} UTC "
                f"({dict(QuarantineReason.choices).get(reason, reason).lower()}).",
            )
    for address in addresses_suppressed(channel=channel, addresses=addresses):
        found[address] = (
            ExclusionReason.SUPPRESSED,
            "The address belongs to a profile erased by a privacy request: it is suppressed.",
        )
    return found


def address_quarantine(*, channel: str, address: str, reason: str, detail: str = "") -> AddressQuarantine:
    """Put the address in quarantine (idempotent: the first reason is kept)."""
    address = address_normalize(channel=channel, address=address)
    with transaction.atomic():
        entry, _ = AddressQuarantine.objects.select_for_update().get_or_create(
            channel=channel, address=address
        )
        if entry.quarantined_at is None:
            entry.quarantined_at = timezone.now()
            entry.reason = reason
            entry.detail = detail[:2000]
            entry.save(update_fields=["quarantined_at", "reason", "detail", "updated_at"])
    return entry


def address_soft_bounce(*, channel: str, address: str, detail: str = "") -> AddressQuarantine:
    """Count one soft bounce; the address goes to quarantine at the threshold."""
    address = address_normalize(channel=channel, address=address)
    with transaction.atomic():
        entry, _ = AddressQuarantine.objects.select_for_update().get_or_create(
            channel=channel, address=address
        )
        entry.soft_bounces = F("soft_bounces") + 1
        entry.save(update_fields=["soft_bounces", "updated_at"])
        entry.refresh_from_db()
        if entry.quarantined_at is None and entry.soft_bounces >= settings.DELIVERY_SOFT_BOUNCE_THRESHOLD:
            entry.quarantined_at = timezone.now()
            entry.reason = QuarantineReason.SOFT_BOUNCES
            entry.detail = f"{entry.soft_bounces} soft bounces; last: {detail}"[:2000]
            entry.save(update_fields=["quarantined_at", "reason", "detail", "updated_at"])
    return entry


@transaction.atomic
def address_release(*, channel: str, address: str) -> int:
    """Take the address out of quarantine (an administrator's decision); returns 1 if it was in."""
    address = address_normalize(channel=channel, address=address)
    entry = AddressQuarantine.objects.select_for_update().filter(channel=channel, address=address).first()
    if entry is None:
        return 0
    released = AddressQuarantine.objects.filter(pk=entry.pk).update(
        quarantined_at=None, soft_bounces=0, reason="", detail="", updated_at=timezone.now()
    )
    if entry.quarantined_at is not None:
        audit_record(
            action=AuditAction.QUARANTINE_RELEASED,
            obj=entry,
            object_label=f"{channel}: {address}",
            before={
                "quarantined_at": entry.quarantined_at,
                "reason": entry.reason,
                "detail": entry.detail,
                "soft_bounces": entry.soft_bounces,
            },
            after={"quarantined_at": None, "soft_bounces": 0},
        )
    return released


def denylist_add(*, channel: str, address: str, reason: str = "") -> DenylistEntry:
    entry, _ = DenylistEntry.objects.get_or_create(
        channel=channel,
        address=address_normalize(channel=channel, address=address),
        defaults={"reason": reason},
    )
    return entry


def tracking_record(*, esp_name: str, esp_event: AnymailTrackingEvent) -> TrackingEvent:
    """Record one anymail tracking event in the delivery log of its message, and apply it to the
    address: hard bounce and complaint quarantine, soft bounces count, a delivery resets the count."""
    message_id = str(esp_event.message_id or "")
    attempt = (
        DeliveryAttempt.objects.filter(provider_message_id=message_id)
        .only("event_id", "event_pkey", "configuration_id")
        .first()
        if message_id
        else None
    )
    recipient = (esp_event.recipient or "").strip().lower()
    event_type = str(esp_event.event_type)
    with transaction.atomic():
        tracking = TrackingEvent.objects.create(
            # The attempt's event, PKey and configuration: the attempt outlives its event, so late
            # feedback still finds which sending it is about.
            event_id=attempt.event_id if attempt else None,
            event_pkey=attempt.event_pkey if attempt else "",
            configuration_id=attempt.configuration_id if attempt else None,
            esp_name=esp_name,
            event_type=event_type,
            provider_message_id=message_id[:255],
            recipient=recipient[:254],
            occurred_at=esp_event.timestamp,
            description=esp_event.description or "",
            mta_response=esp_event.mta_response or "",
            click_url=esp_event.click_url or "",
            esp_event=esp_event.esp_event if isinstance(esp_event.esp_event, dict | list) else {},
        )
        if attempt is not None and attempt.event_id is not None and event_type in ("opened", "clicked"):
            provider_interaction(
                event_pk=attempt.event_id,
                kind=InteractionKind.OPEN if event_type == "opened" else InteractionKind.CLICK,
                url=esp_event.click_url or "",
                user_agent=esp_event.user_agent or "",
                at=esp_event.timestamp,
            )
        if not recipient:
            return tracking
        reply = esp_event.mta_response or esp_event.description or ""
        if event_type == "bounced" and not SOFT_BOUNCE_RE.match(reply):
            address_quarantine(
                channel="email", address=recipient, reason=QuarantineReason.HARD_BOUNCE, detail=reply
            )
        elif event_type in ("bounced", "deferred"):
            address_soft_bounce(channel="email", address=recipient, detail=reply)
        elif event_type == "complained":
            address_quarantine(
                channel="email", address=recipient, reason=QuarantineReason.COMPLAINT, detail=reply
            )
        elif event_type == "delivered":
            AddressQuarantine.objects.filter(
                channel="email", address=recipient, quarantined_at__isnull=True, soft_bounces__gt=0
            ).update(soft_bounces=0, updated_at=timezone.now())
    return tracking
