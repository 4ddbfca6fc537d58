"""Reads of marketing deliveries: the audience as a filter, its live count, the exclusions per rule,
the progress figures and the opens and clicks."""

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from delivery.models import Interaction, InteractionKind
from delivery.selectors import human_interactions
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


def delivery_engagement(*, delivery: MarketingDelivery) -> dict:
    """Its recipients who opened and who clicked (each recipient once, people and machines apart:
    docs/tracking.md), and the rates of people among the emails sent: opens, and clicks
    (click-through rate)."""
    rows = (
        Interaction.objects.filter(marketing_delivery_id=delivery.pk, link_key=0)
        .values("kind")
        .annotate(
            human=Count("pk", filter=Q(machine_reason="")),
            machine=Count("pk", filter=~Q(machine_reason="")),
        )
    )
    figures = {
        (row["kind"], machine): row["machine" if machine else "human"] for row in rows for machine in (0, 1)
    }
    opens, clicks = figures.get((InteractionKind.OPEN, 0), 0), figures.get((InteractionKind.CLICK, 0), 0)
    sent = delivery.sent_count
    return {
        "opens": opens,
        "opens_machine": figures.get((InteractionKind.OPEN, 1), 0),
        "clicks": clicks,
        "clicks_machine": figures.get((InteractionKind.CLICK, 1), 0),
        "open_rate": round(100 * opens / sent, 1) if sent else None,
        "click_rate": round(100 * clicks / sent, 1) if sent else None,
    }


def recipients_with_engagement(*, delivery: MarketingDelivery) -> QuerySet[DeliveryRecipient]:
    """The delivery's recipients with whether a person opened (`opened`) and clicked (`clicked`)."""

    def done(kind: str) -> Exists:
        return Exists(
            human_interactions(kind=kind).filter(
                marketing_delivery_id=delivery.pk, marketing_recipient_id=OuterRef("pk"), link_key=0
            )
        )

    return (
        delivery.recipients.select_related("profile", "rule")
        .annotate(opened=done(InteractionKind.OPEN), clicked=done(InteractionKind.CLICK))
        .order_by("pk")
    )
