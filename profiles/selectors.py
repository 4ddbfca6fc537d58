"""Reads of profiles: what templates see of a profile (its fields and its typed custom attributes),
the check of profile data given as JSON (a test profile's own), and the live app subscriptions
that profile-based push goes to."""

import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext

from campaign.exceptions import FieldError
from fastpath.rowcache import rowcache_get

from .models import (
    AppSubscription,
    AttributeDefinition,
    AttributeType,
    Profile,
    Service,
    Subscription,
    Suppression,
)

# What templates see of a profile, besides `attributes` (the custom attributes, by name):
# {{ customer.first_name }}, {{ customer.attributes.loyalty_tier }}.
PROFILE_TEMPLATE_FIELDS = (
    "email",
    "mobile_phone",
    "external_id",
    "first_name",
    "last_name",
    "language",
    "time_zone",
)
ATTRIBUTES_KEY = "attributes"
# Every field of a profile that is written as such (forms, imports, exports).
PROFILE_FIELDS = (*PROFILE_TEMPLATE_FIELDS, "email_opted_out_at", "sms_opted_out_at", "push_opted_out_at")


def attribute_definitions() -> dict[str, str]:
    """The declared custom attributes, name -> type, in name order (through the row cache: the
    workers read them for every profile-based event)."""
    rows = rowcache_get(
        ("attribute_definitions",),
        lambda: tuple(AttributeDefinition.objects.order_by("name").values_list("name", "type")),
    )
    return dict(rows)


def attribute_definition_list() -> list[AttributeDefinition]:
    return list(AttributeDefinition.objects.order_by("name"))


def attribute_value_parse(*, type: str, value: object) -> object:
    """A stored or given attribute value as its type holds it (a date as a date, a decimal as a
    Decimal); raises ValueError with the reason when it is not one."""
    if value is None or value == "":
        return None
    if type == AttributeType.TEXT:
        if isinstance(value, dict | list):
            raise ValueError(gettext("Expected a text."))
        return str(value)
    if type == AttributeType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0", "yes", "no"}:
            return value.strip().lower() in {"true", "1", "yes"}
        raise ValueError(gettext("Expected true or false."))
    if type == AttributeType.INTEGER:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(gettext("Expected a whole number."))
        try:
            return int(str(value).strip()) if not isinstance(value, int | float) else int(value)
        except ValueError:
            raise ValueError(gettext("Expected a whole number.")) from None
    if type == AttributeType.DECIMAL:
        if isinstance(value, bool | dict | list):
            raise ValueError(gettext("Expected a decimal number, e.g. 80.50."))
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(gettext("Expected a decimal number, e.g. 80.50.")) from None
        if not number.is_finite():
            raise ValueError(gettext("Expected a decimal number, e.g. 80.50."))
        return number
    if type == AttributeType.DATE:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(gettext("Expected a date as YYYY-MM-DD.")) from None
    if type == AttributeType.DATETIME:
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(gettext("Expected a date and time, e.g. 2026-12-24T18:30:00Z.")) from None
        return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
    raise ValueError(gettext("Unknown attribute type {type}.").format(type=type))


def _typed_attributes(values: object, definitions: dict[str, str]) -> dict:
    """The declared attributes, typed; one that is missing or unreadable is None (it renders
    empty, as a missing value does)."""
    values = values if isinstance(values, dict) else {}
    typed = {}
    for name, type_ in definitions.items():
        try:
            typed[name] = attribute_value_parse(type=type_, value=values.get(name))
        except ValueError:
            typed[name] = None
    return typed


def profile_variables(*, profile: Profile | None, definitions: dict[str, str]) -> dict:
    """A profile as template data: its fields and its declared custom attributes, typed; empty
    when there is no profile (its variables render empty)."""
    if profile is None:
        return {}
    data = {name: getattr(profile, name) for name in PROFILE_TEMPLATE_FIELDS}
    data[ATTRIBUTES_KEY] = _typed_attributes(profile.attributes, definitions)
    return data


def profile_data_variables(*, data: dict, definitions: dict[str, str]) -> dict:
    """Profile data given as JSON (a test profile's own) as template data, like a stored profile's."""
    variables = {name: str(data.get(name) or "") for name in PROFILE_TEMPLATE_FIELDS}
    variables[ATTRIBUTES_KEY] = _typed_attributes(data.get(ATTRIBUTES_KEY), definitions)
    return variables


def profile_data_errors(*, data: object, definitions: dict[str, str], path: str) -> list[FieldError]:
    """Why profile data given as JSON is not a profile: unknown fields or attributes, values of
    the wrong type."""
    if not isinstance(data, dict):
        return [
            FieldError(path, gettext('Expected an object of profile fields, e.g. {"first_name": "Jane"}.'))
        ]
    errors = []
    known = ", ".join((*PROFILE_TEMPLATE_FIELDS, ATTRIBUTES_KEY))
    for name, value in data.items():
        if name == ATTRIBUTES_KEY:
            continue
        if name not in PROFILE_TEMPLATE_FIELDS:
            errors.append(
                FieldError(
                    f"{path}.{name}",
                    gettext("{name} is not a profile field (known: {known}).").format(name=name, known=known),
                )
            )
        elif not isinstance(value, str):
            errors.append(FieldError(f"{path}.{name}", gettext("Expected a text.")))
    if isinstance(data.get("email"), str) and data["email"]:
        try:
            validate_email(data["email"])
        except DjangoValidationError:
            errors.append(FieldError(f"{path}.email", gettext("Not a valid email address.")))
    attributes = data.get(ATTRIBUTES_KEY, {})
    if not isinstance(attributes, dict):
        return [*errors, FieldError(f"{path}.{ATTRIBUTES_KEY}", gettext("Expected an object of attributes."))]
    for name, value in attributes.items():
        if name not in definitions:
            declared = ", ".join(definitions) or gettext("none yet")
            errors.append(
                FieldError(
                    f"{path}.{ATTRIBUTES_KEY}.{name}",
                    gettext("{name} is not a declared profile attribute (declared: {declared}).").format(
                        name=name, declared=declared
                    ),
                )
            )
            continue
        try:
            attribute_value_parse(type=definitions[name], value=value)
        except ValueError as exc:
            errors.append(FieldError(f"{path}.{ATTRIBUTES_KEY}.{name}", str(exc)))
    return errors


def profile_live_app_subscriptions(*, profile: Profile, application: str) -> list[AppSubscription]:
    """The registrations of `application` on the profile's devices that push may go to (not
    disabled), most recently seen first."""
    return list(
        AppSubscription.objects.filter(
            profile=profile, application=application, disabled_at__isnull=True
        ).order_by("-last_seen_at", "-pk")
    )


# Why a profile-based message is not sent to its profile (the exclusion reasons of delivery).
CONSENT_OPTED_OUT = "optedOut"
CONSENT_UNSUBSCRIBED = "unsubscribed"


def profile_consent_refusal(
    *, profile: Profile, channel: str, service_id: int | None
) -> tuple[str, str] | None:
    """(reason, detail) when the profile does not accept this message: it opted out of the
    channel, or the message belongs to a service the profile left or never joined; None when it
    may be sent."""
    opted_out_at = profile.opted_out_at(channel)
    if opted_out_at is not None:
        return (
            CONSENT_OPTED_OUT,
            f"The profile {profile.pk} opted out of {channel} on {opted_out_at:%Y-%m-%d %H:%M} UTC.",
        )
    if service_id is None:
        return None
    subscription = (
        Subscription.objects.filter(profile=profile, service_id=service_id).select_related("service").first()
    )
    if subscription is None:
        service = Service.objects.filter(pk=service_id).values_list("name", flat=True).first()
        return CONSENT_UNSUBSCRIBED, f"The profile {profile.pk} is not subscribed to the service {service}."
    if subscription.unsubscribed_at is not None:
        return (
            CONSENT_UNSUBSCRIBED,
            f"The profile {profile.pk} left the service {subscription.service.name} on "
            f"{subscription.unsubscribed_at:%Y-%m-%d %H:%M} UTC ({subscription.get_source_display()}).",
        )
    return None


def profile_by_id(*, profile_id: int) -> Profile | None:
    return Profile.objects.filter(pk=profile_id).first()


def service_by_id(*, service_id: int | None) -> Service | None:
    return Service.objects.filter(pk=service_id).first() if service_id is not None else None


def service_list() -> list[Service]:
    return list(Service.objects.order_by("label"))


def profile_active_subscriptions(*, profile: Profile) -> list[Subscription]:
    """The services the profile receives messages of, by label."""
    return list(
        Subscription.objects.filter(profile=profile, unsubscribed_at__isnull=True)
        .select_related("service")
        .order_by("service__label")
    )


def profile_subscription(*, profile: Profile, service: Service) -> Subscription | None:
    return Subscription.objects.filter(profile=profile, service=service).first()


def address_hash(*, channel: str, address: str) -> str:
    """How a suppressed address is kept: hex SHA-256 of the address normalised (an email
    lower-cased, a phone as given in E.164, a push token as is)."""
    normalised = address.strip().lower() if channel == "email" else address.strip()
    return hashlib.sha256(normalised.encode()).hexdigest()


def suppressed_hashes(*, hashes: list[str]) -> set[str]:
    """Which of these address hashes are suppressed (on any channel), in one query."""
    if not hashes:
        return set()
    return set(
        Suppression.objects.filter(address_hash__in=set(hashes)).values_list("address_hash", flat=True)
    )


def addresses_suppressed(*, channel: str, addresses: list[str]) -> set[str]:
    """The addresses of this channel that belong to erased profiles: nothing may be sent to them."""
    by_hash = {address_hash(channel=channel, address=address): address for address in addresses if address}
    if not by_hash:
        return set()
    found = Suppression.objects.filter(channel=channel, address_hash__in=by_hash).values_list(
        "address_hash", flat=True
    )
    return {by_hash[value] for value in found}
