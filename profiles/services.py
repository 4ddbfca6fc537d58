"""Writes of profiles."""

from datetime import datetime

from django.utils import timezone

from .models import AppSubscription, Suppression
from .selectors import address_hash


def app_subscription_disable(*, app_subscription_id: int, reason: str, when: datetime | None = None) -> bool:
    """Stop sending to a registration (the provider reported its token unregistered): it is kept,
    marked disabled with the reason, and never used again. False when it was disabled already."""
    return bool(
        AppSubscription.objects.filter(pk=app_subscription_id, disabled_at__isnull=True).update(
            disabled_at=when or timezone.now(), disabled_reason=reason[:255]
        )
    )


def suppression_add(*, channel: str, address: str) -> Suppression:
    """Keep an erased profile's address as a hash only: imports skip it and sending ignores it."""
    suppression, _ = Suppression.objects.get_or_create(
        channel=channel, address_hash=address_hash(channel=channel, address=address)
    )
    return suppression
