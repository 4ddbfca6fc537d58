"""Writes of typologies: rules and typologies (checked before they are saved), and the contacts
fatigue counts, reserved under the profile's row lock so that the count is exact when several
workers send to the same profile at once."""

from contextlib import nullcontext
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .models import Contact, RuleKind, Typology, TypologyRule
from .selectors import RuleHit, profile_check


def typology_rule_save(*, rule: TypologyRule) -> TypologyRule:
    """Create or change a rule; raises ValidationError with the field and the problem."""
    rule.full_clean()
    rule.save()
    return rule


def typology_save(*, typology: Typology, rules: list[TypologyRule] | None = None) -> Typology:
    typology.full_clean()
    with transaction.atomic():
        typology.save()
        if rules is not None:
            typology.rules.set(rules)
    return typology


def contact_reserve(
    *,
    typology: Typology,
    rules: list[TypologyRule],
    channel: str,
    profile_id: int,
    key: str = "",
    category: str = "",
    source: str = "",
    now: datetime | None = None,
) -> tuple[RuleHit | None, int | None]:
    """Check the profile against `rules` and, when none excludes it, count the message as sent to
    it: (the rule that excluded it, None) or (None, the contact's id).

    With a fatigue rule, the profile's row is locked from the check to the insert, so two workers
    sending to the same profile at once count one after the other and cannot both pass a threshold
    of 1; without one, nothing needs the lock (the contact is still recorded, for the fatigue rules
    of other messages). A message counted already under the same `key` (an event retried) passes
    without being counted again."""
    now = now or timezone.now()
    counting = any(rule.kind == RuleKind.FATIGUE for rule in rules)
    with transaction.atomic() if counting else nullcontext():
        check = profile_check(
            typology=typology,
            rules=rules,
            channel=channel,
            profile_id=profile_id,
            now=now,
            key=key,
            lock=counting,
        )
        if not check.found or check.counted is not None:
            return None, check.counted
        if check.hit is not None:
            return check.hit, None
        contact = Contact.objects.create(
            profile_id=profile_id,
            channel=channel,
            category=category,
            source=source[:200],
            key=key[:64],
            sent_at=now,
        )
    return None, contact.pk


def contact_release(*, contact_id: int) -> None:
    """Stop counting a message that could not be sent after all (a permanent failure)."""
    Contact.objects.filter(pk=contact_id).delete()


def contacts_record(
    *, profile_ids: list[int], channel: str, category: str = "", source: str = "", key_prefix: str = ""
) -> None:
    """Count the messages of a marketing batch as contacts of their profiles (one INSERT)."""
    now = timezone.now()
    Contact.objects.bulk_create(
        Contact(
            profile_id=profile_id,
            channel=channel,
            category=category,
            source=source[:200],
            key=f"{key_prefix}-{profile_id}"[:64],
            sent_at=now,
        )
        for profile_id in profile_ids
    )
