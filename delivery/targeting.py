"""What the delivery of one event needs from its configuration: who receives it, and the data
its templates are rendered with (the event's fields, and enrichment data).

Everything is read from the structure frozen in the event's own version, so an event keeps the
meaning it was accepted with even after the configuration is republished.
"""

import contextlib
from dataclasses import dataclass

from django.db.models.functions import Lower

from campaign.exceptions import ApplicationError
from events.models import LANGUAGE_FIELD_ID, Channel, Event, Targeting
from events.selectors import PUSH_APPLICATION_KEY, is_profile_push
from profiles.models import Profile
from profiles.selectors import attribute_definitions, profile_live_app_subscriptions, profile_variables
from profiles.unsubscribe import unsubscribe_url

# The template variable holding the recipient's unsubscribe link (profile-based messages only).
UNSUBSCRIBE_URL_VARIABLE = "unsubscribe_url"


class TargetingFailed(ApplicationError):
    code = "targeting_failed"


@dataclass(frozen=True)
class Recipient:
    email: str = ""
    mobile_phone: str = ""
    push_token: str = ""
    push_application: str = ""
    push_platform: str = ""
    # Profile-based push: the app subscription the token belongs to (disabled when the provider
    # reports the token unregistered).
    app_subscription_id: int | None = None
    # Profile-based email: the recipient's unsubscribe link (its List-Unsubscribe headers).
    unsubscribe_url: str = ""


def _key(profile_field: str, value: object) -> str | None:
    if value is None or value == "" or isinstance(value, dict | list | bool):
        return None
    text = str(value)
    # Email addresses are matched regardless of case, as mailbox providers do.
    return text.lower() if profile_field == "email" else text


def profiles_by_key(*, profile_field: str, values: list) -> dict[str, Profile]:
    """One profile per join value, in one query; when several profiles match a value, the oldest
    (lowest id) is taken so that the choice is stable."""
    keys = {key for key in (_key(profile_field, v) for v in values) if key is not None}
    if not keys:
        return {}
    queryset = Profile.objects.all()
    if profile_field == "email":
        queryset = queryset.annotate(join_key=Lower("email")).filter(join_key__in=keys)
    else:
        queryset = queryset.filter(**{f"{profile_field}__in": keys})
    found: dict[str, Profile] = {}
    for profile in queryset.order_by("pk"):
        found.setdefault(_key(profile_field, getattr(profile, profile_field)), profile)
    return found


def _join(enrichment: dict) -> tuple[str, str]:
    condition = enrichment["join"][0]
    return condition["event_field"], condition["profile_field"]


def _enrichments(event: Event) -> list[dict]:
    return event.configuration_version.structure.get("enrichments", [])


def event_service_id(*, event: Event) -> int | None:
    """The subscription service the event's message belongs to, if any."""
    message = getattr(event.configuration, "message", None)
    return message.service_id if message is not None else None


def event_unsubscribe_url(*, event: Event) -> str:
    """The targeted profile's unsubscribe link (leaving the message's service, or all email)."""
    profile = event_target_profile(event=event)
    return unsubscribe_url(profile_id=profile.pk, service_id=event_service_id(event=event))


def event_context(*, event: Event) -> dict:
    """The top-level variables of the message's templates for this event: `ctx`, then one variable
    per event-level enrichment; item-level enrichments are added inside each item of `ctx`; and
    for a profile-based event, the profile's `unsubscribe_url`."""
    ctx = dict(event.ctx)
    context: dict = {"ctx": ctx}
    if event.configuration.targeting == Targeting.PROFILE:
        with contextlib.suppress(TargetingFailed):
            context[UNSUBSCRIBE_URL_VARIABLE] = event_unsubscribe_url(event=event)
    enrichments = _enrichments(event)
    definitions = attribute_definitions() if enrichments else {}
    for enrichment in enrichments:
        event_field, profile_field = _join(enrichment)
        if enrichment.get("targeting"):
            try:
                profile = event_target_profile(event=event)
            except TargetingFailed:
                profile = None
            context[enrichment["name"]] = profile_variables(profile=profile, definitions=definitions)
            continue
        if enrichment["target"] == "event":
            found = profiles_by_key(profile_field=profile_field, values=[ctx.get(event_field)])
            context[enrichment["name"]] = profile_variables(
                profile=found.get(_key(profile_field, ctx.get(event_field))), definitions=definitions
            )
            continue
        items = [dict(item) for item in ctx.get(enrichment["target"]) or [] if isinstance(item, dict)]
        found = profiles_by_key(profile_field=profile_field, values=[item.get(event_field) for item in items])
        for item in items:
            item[enrichment["name"]] = profile_variables(
                profile=found.get(_key(profile_field, item.get(event_field))), definitions=definitions
            )
        ctx[enrichment["target"]] = items
    return context


def event_target_profile(*, event: Event) -> Profile:
    """The profile a profile-based event is sent to, found by its targeting enrichment: read once
    per Event instance (its recipient, its language and its templates' data all need it)."""
    profile = getattr(event, "_target_profile", None)
    if profile is not None:
        return profile
    enrichment = next((e for e in _enrichments(event) if e.get("targeting")), None)
    if enrichment is None:
        raise TargetingFailed("The published configuration has no targeting enrichment.")
    event_field, profile_field = _join(enrichment)
    value = event.ctx.get(event_field)
    profile = profiles_by_key(profile_field=profile_field, values=[value]).get(_key(profile_field, value))
    if profile is None:
        raise TargetingFailed(f"No profile has {profile_field} = {value!r} (ctx.{event_field}).")
    event._target_profile = profile
    return profile


def _recipient(event: Event) -> Recipient:
    """The one address of every event but a profile-based push one."""
    config = event.configuration
    if config.targeting == Targeting.EVENT:
        return Recipient(
            email=event.email,
            mobile_phone=event.mobile_phone,
            push_token=event.push_token,
            push_application=event.push_application,
            push_platform=event.push_platform,
        )
    profile = event_target_profile(event=event)
    if config.channel == Channel.EMAIL:
        if not profile.email:
            raise TargetingFailed(f"The targeted profile {profile.pk} has no email address.")
        return Recipient(email=profile.email, unsubscribe_url=event_unsubscribe_url(event=event))
    if config.channel == Channel.SMS:
        if not profile.mobile_phone:
            raise TargetingFailed(f"The targeted profile {profile.pk} has no mobile phone.")
        return Recipient(mobile_phone=profile.mobile_phone)
    raise TargetingFailed(f"No recipient for a profile-based {config.channel} event: see event_recipients.")


def event_recipients(*, event: Event) -> list[Recipient]:
    """Whom to send the event to: one recipient, or, for profile-based push, one per live
    registration of the configuration's application on the targeted profile's devices. Raises
    TargetingFailed when there is none."""
    config = event.configuration
    if not is_profile_push(config=config):
        return [_recipient(event)]
    profile = event_target_profile(event=event)
    application = event.configuration_version.structure.get(PUSH_APPLICATION_KEY) or ""
    registrations = profile_live_app_subscriptions(profile=profile, application=application)
    if not registrations:
        raise TargetingFailed(
            f"The targeted profile {profile.pk} has no live registration of the application {application!r}."
        )
    return [
        Recipient(
            push_token=registration.registration_token,
            push_application=registration.application,
            push_platform=registration.platform,
            app_subscription_id=registration.pk,
        )
        for registration in registrations
    ]


def event_language(*, event: Event) -> str:
    """The language selecting the message's variant (SPEC EVT-4): the event's `AC_language`,
    else the targeted profile's language, else '' (the default variant)."""
    language = event.ctx.get(LANGUAGE_FIELD_ID)
    if isinstance(language, str) and language:
        return language
    if event.configuration.targeting == Targeting.PROFILE:
        try:
            return event_target_profile(event=event).language
        except TargetingFailed:
            return ""
    return ""
