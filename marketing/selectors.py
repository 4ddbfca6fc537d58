"""Reads of marketing deliveries: the audience as a filter, its live count, the exclusions per rule
and the progress figures."""

from django.db.models import Count, Exists, OuterRef, Q

from profiles.models import Profile, Subscription
from typologies.conditions import condition_q

from .models import DeliveryRecipient, MarketingDelivery, RecipientStatus


def audience_q(*, audience: dict | None, service_id: int | None = None) -> Q:
    """The delivery's audience as a filter on profiles (every profile when it has none), within the
    subscribers of its service when it has one."""
    q = condition_q(audience) if audience else Q()
    if service_id is not None:
        subscribed = Subscription.objects.filter(
            profile=OuterRef("pk"), service_id=service_id, unsubscribed_at__isnull=True
        )
        q &= Q(Exists(subscribed))
    return q


def audience_count(*, audience: dict | None, service_id: int | None = None) -> int:
    return Profile.objects.filter(audience_q(audience=audience, service_id=service_id)).count()


def delivery_exclusions(*, delivery: MarketingDelivery) -> list[tuple[str, int]]:
    """(rule label, profiles it excluded) of a prepared delivery, in the rules' order."""
    rows = (
        DeliveryRecipient.objects.filter(delivery=delivery, status=RecipientStatus.EXCLUDED)
        .values("rule__label", "rule__order", "rule_id")
        .annotate(count=Count("pk"))
        .order_by("rule__order", "rule_id")
    )
    return [(row["rule__label"] or "-", row["count"]) for row in rows]


def delivery_progress(*, delivery_id: int) -> dict:
    """What the delivery page shows while it sends (read again every few seconds)."""
    delivery = MarketingDelivery.objects.get(pk=delivery_id)
    pending = DeliveryRecipient.objects.filter(
        delivery_id=delivery_id, status=RecipientStatus.PENDING
    ).count()
    return {
        "status": delivery.status,
        "status_label": delivery.get_status_display(),
        "audience": delivery.audience_count,
        "excluded": delivery.excluded_count,
        "target": delivery.target_count,
        "sent": delivery.sent_count,
        "failed": delivery.failed_count,
        "pending": pending,
        "percent": round(100 * (delivery.sent_count + delivery.failed_count) / delivery.target_count)
        if delivery.target_count
        else 0,
    }
