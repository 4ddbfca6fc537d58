"""Writes of profiles: the profile and its typed attributes, its per-channel opt-outs, its
subscriptions to services and its app subscriptions; the services and attribute definitions.
The admin, the unsubscribe page and delivery all write through here."""

from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from campaign.channels import Channel
from campaign.exceptions import ApplicationError, FieldError, ValidationFailed

from .models import (
    AppSubscription,
    AttributeDefinition,
    Profile,
    Service,
    Subscription,
    SubscriptionSource,
    Suppression,
)
from .selectors import PROFILE_FIELDS, address_hash, attribute_definitions, attribute_value_parse


def _stored(value: object) -> object:
    """A typed attribute value as the JSON column keeps it."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def attributes_typed_merge(*, current: dict, given: dict) -> dict:
    """The profile's attributes with the `given` declared ones set (None removes one); each value
    checked against its declared type. Attributes stored before their definition was removed are
    kept as they are. Raises ValidationFailed naming each attribute in error."""
    definitions = attribute_definitions()
    merged = dict(current) if isinstance(current, dict) else {}
    errors = []
    for name, value in given.items():
        if name not in definitions:
            errors.append(
                FieldError(
                    f"attributes.{name}",
                    gettext("{name} is not a declared profile attribute.").format(name=name),
                )
            )
            continue
        try:
            typed = attribute_value_parse(type=definitions[name], value=value)
        except ValueError as exc:
            errors.append(FieldError(f"attributes.{name}", str(exc)))
            continue
        if typed is None:
            merged.pop(name, None)
        else:
            merged[name] = _stored(typed)
    if errors:
        raise ValidationFailed(gettext("Some attributes do not have the declared type."), errors=errors)
    return merged


@transaction.atomic
def profile_save(*, profile: Profile | None = None, attributes: dict | None = None, **fields) -> Profile:
    """Create a profile (`profile` None) or change one: its fields (PROFILE_FIELDS) and its
    declared attributes, typed (see attributes_typed_merge)."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ApplicationError(
            gettext("Cannot set {fields} on a profile.").format(fields=", ".join(sorted(unknown))),
            code="not_editable",
        )
    profile = profile or Profile()
    for name, value in fields.items():
        setattr(profile, name, value)
    if attributes is not None:
        profile.attributes = attributes_typed_merge(current=profile.attributes, given=attributes)
    profile.save()
    return profile


def profile_delete(*, profile: Profile) -> None:
    profile.delete()


def profile_channel_opt_out(*, profile: Profile, channel: str, when: datetime | None = None) -> bool:
    """The profile refuses the channel from now on; False when it had already."""
    field = f"{channel}_opted_out_at"
    return bool(
        Profile.objects.filter(pk=profile.pk, **{f"{field}__isnull": True}).update(
            **{field: when or timezone.now(), "modified_at": timezone.now()}
        )
    )


def profile_channel_opt_in(*, profile: Profile, channel: str) -> bool:
    """The profile accepts the channel again (an opt-out undone); False when it did already."""
    field = f"{channel}_opted_out_at"
    return bool(
        Profile.objects.filter(pk=profile.pk, **{f"{field}__isnull": False}).update(
            **{field: None, "modified_at": timezone.now()}
        )
    )


@transaction.atomic
def subscription_subscribe(
    *, profile: Profile, service: Service, source: str, when: datetime | None = None
) -> Subscription:
    """Subscribe the profile to the service, or again after it left (its subscription dated anew)."""
    when = when or timezone.now()
    subscription, created = Subscription.objects.select_for_update().get_or_create(
        profile=profile, service=service, defaults={"subscribed_at": when, "source": source}
    )
    if not created and subscription.unsubscribed_at is not None:
        subscription.subscribed_at = when
        subscription.unsubscribed_at = None
        subscription.source = source
        subscription.save(update_fields=["subscribed_at", "unsubscribed_at", "source"])
    return subscription


def subscription_unsubscribe(
    *, profile: Profile, service: Service, source: str, when: datetime | None = None
) -> bool:
    """The profile leaves the service: its subscription keeps when and how; False when it was not
    subscribed (nothing changes)."""
    return bool(
        Subscription.objects.filter(profile=profile, service=service, unsubscribed_at__isnull=True).update(
            unsubscribed_at=when or timezone.now(), source=source
        )
    )


def subscription_dates_error(
    *, subscribed_at: datetime | None, unsubscribed_at: datetime | None
) -> str | None:
    """Why these dates cannot be a subscription's, or None."""
    if subscribed_at is not None and unsubscribed_at is not None and unsubscribed_at < subscribed_at:
        return gettext("The unsubscribe date is before the subscribe date.")
    return None


@transaction.atomic
def subscription_save(
    *,
    profile: Profile,
    service: Service,
    subscribed_at: datetime,
    unsubscribed_at: datetime | None,
    source: str = SubscriptionSource.ADMIN,
    subscription: Subscription | None = None,
) -> Subscription:
    """An administrator's record of a subscription, dates as given (e.g. from a signed form)."""
    problem = subscription_dates_error(subscribed_at=subscribed_at, unsubscribed_at=unsubscribed_at)
    if problem:
        raise ValidationFailed(problem, errors=[FieldError("unsubscribed_at", problem)])
    subscription = subscription or Subscription(profile=profile)
    subscription.service = service
    subscription.subscribed_at = subscribed_at
    subscription.unsubscribed_at = unsubscribed_at
    subscription.source = source
    subscription.save()
    return subscription


def subscription_delete(*, subscription: Subscription) -> None:
    subscription.delete()


def app_subscription_save(*, app_subscription: AppSubscription, **fields) -> AppSubscription:
    """Record or change a registration of an app on a profile's device (from the admin)."""
    editable = {"profile", "application", "platform", "registration_token", "device", "last_seen_at"}
    editable |= {"disabled_at", "disabled_reason"}
    unknown = set(fields) - editable
    if unknown:
        raise ApplicationError(
            gettext("Cannot set {fields}.").format(fields=", ".join(sorted(unknown))), code="not_editable"
        )
    for name, value in fields.items():
        setattr(app_subscription, name, value)
    app_subscription.save()
    return app_subscription


def app_subscription_delete(*, app_subscription: AppSubscription) -> None:
    app_subscription.delete()


def app_subscription_disable(*, app_subscription_id: int, reason: str, when: datetime | None = None) -> bool:
    """Stop sending to a registration (the provider reported its token unregistered): it is kept,
    marked disabled with the reason, and never used again. False when it was disabled already."""
    return bool(
        AppSubscription.objects.filter(pk=app_subscription_id, disabled_at__isnull=True).update(
            disabled_at=when or timezone.now(), disabled_reason=reason[:255]
        )
    )


def service_save(*, service: Service, **fields) -> Service:
    for name, value in fields.items():
        setattr(service, name, value)
    service.save()
    return service


def service_delete(*, service: Service) -> None:
    """Delete a subscription service that no message belongs to (its subscriptions go with it)."""
    service_delete_check(service=service)
    service.delete()


def service_delete_check(*, service: Service) -> None:
    """Raise ApplicationError when the service may not be deleted: messages belong to it."""
    if service.messages.exists():
        message = gettext("Messages belong to the service {service}: choose another service for them first.")
        raise ApplicationError(
            message.format(service=service.label),
            code="service_in_use",
        )


def attribute_definition_save(*, definition: AttributeDefinition, **fields) -> AttributeDefinition:
    for name, value in fields.items():
        setattr(definition, name, value)
    definition.save()
    return definition


def attribute_definition_delete(*, definition: AttributeDefinition) -> None:
    """Delete a definition: stored values stay in the profiles, templates read them empty."""
    definition.delete()


@transaction.atomic
def profile_unsubscribe(*, profile: Profile, service: Service | None, source: str) -> bool:
    """What a recipient's unsubscribe does: leave the service, or with no service, refuse all
    email. False when there was nothing to change."""
    if service is not None:
        return subscription_unsubscribe(profile=profile, service=service, source=source)
    return profile_channel_opt_out(profile=profile, channel=Channel.EMAIL)


@transaction.atomic
def profile_unsubscribe_undo(*, profile: Profile, service: Service | None, source: str) -> bool:
    """Take an unsubscribe back, from the same page: subscribe to the service again, or accept
    email again."""
    if service is not None:
        subscription_subscribe(profile=profile, service=service, source=source)
        return True
    return profile_channel_opt_in(profile=profile, channel=Channel.EMAIL)


def suppression_add(*, channel: str, address: str) -> Suppression:
    """Keep an erased profile's address as a hash only: imports skip it and sending ignores it."""
    suppression, _ = Suppression.objects.get_or_create(
        channel=channel, address_hash=address_hash(channel=channel, address=address)
    )
    return suppression
