"""Reads of typologies: which rules a message passes, each rule as a filter on profiles (so that
one query checks a profile against every rule, and a delivery's whole audience is filtered in set
operations), and the control rules' checks of a message's content."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import GreaterThanOrEqual
from django.utils.translation import gettext, ngettext

from campaign.channels import Channel
from fastpath.rowcache import rowcache_get
from profiles.models import AppSubscription, Profile
from profiles.selectors import ATTRIBUTES_KEY

from .conditions import condition_q
from .models import ADDRESS_KINDS, Contact, PeriodUnit, RuleKind, RuleType, Typology, TypologyRule

DEFAULT_TYPOLOGY = "transactional-profile"

# The address lists (quarantine, denylist) belong to the delivery engine, which registers here,
# when it starts, how a rule of each kind filters profiles on a channel.
_ADDRESS_FILTERS: dict[str, Callable[[str], Q | None]] = {}


def address_filter_register(*, kind: str, build: Callable[[str], Q | None]) -> None:
    _ADDRESS_FILTERS[kind] = build


@dataclass(frozen=True)
class RuleHit:
    """A rule that excluded a profile or refused a message, and why, in words."""

    typology: str
    rule: TypologyRule
    detail: str

    @property
    def reason(self) -> str:
        return f"{self.typology} / {self.rule.label}: {self.detail}"


def typology_default() -> Typology | None:
    """The typology new profile-based messages get."""
    return Typology.objects.filter(name=DEFAULT_TYPOLOGY).first()


def typology_rules(*, typology: Typology, channel: str, profile_based: bool = True) -> list[TypologyRule]:
    """The active rules of `typology` that apply to `channel`, in their order. Without a profile
    (event-based messages) only the address rules apply, never fatigue."""
    rules = [
        rule
        for rule in typology.rules.filter(active=True).order_by("order", "pk")
        if not rule.channel or rule.channel == channel
    ]
    return rules if profile_based else [rule for rule in rules if rule.kind in ADDRESS_KINDS]


_RULE_FIELDS = tuple(field.attname for field in TypologyRule._meta.concrete_fields)


def _typology_row(typology_id: int) -> tuple[dict, list[dict]] | None:
    typology = Typology.objects.filter(pk=typology_id).values("pk", "name", "label").first()
    if typology is None:
        return None
    rules = TypologyRule.objects.filter(typologies=typology_id, active=True).order_by("order", "pk")
    return typology, list(rules.values(*_RULE_FIELDS))


def typology_for_sending(*, typology_id: int, channel: str) -> tuple[Typology, list[TypologyRule]] | None:
    """The typology and its active rules for `channel`, in order, as typology_rules gives them, read
    through the row cache (the workers read them for every profile-based event)."""
    row = rowcache_get(("typology", typology_id), lambda: _typology_row(typology_id))
    if row is None:
        return None
    typology_fields, rule_rows = row
    rules = [TypologyRule(**fields) for fields in rule_rows]
    return Typology(**typology_fields), [
        rule for rule in rules if not rule.channel or rule.channel == channel
    ]


def _period(rule: TypologyRule) -> timedelta:
    return (
        timedelta(hours=rule.period) if rule.period_unit == PeriodUnit.HOURS else timedelta(days=rule.period)
    )


def fatigue_counted(*, rule: TypologyRule, channel: str, now: datetime):
    """The contacts of a profile (OuterRef "pk") that `rule` counts, as a number expression."""
    contacts = Contact.objects.filter(profile=OuterRef("pk"), sent_at__gt=now - _period(rule))
    if rule.channel:
        contacts = contacts.filter(channel=rule.channel)
    if rule.category:
        contacts = contacts.filter(category=rule.category)
    counted = contacts.order_by().values("profile").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=models.IntegerField()), 0)


def fatigue_threshold(*, rule: TypologyRule):
    """The threshold of a profile as an expression: its own attribute, else the rule's constant."""
    constant = Value(rule.threshold or 0, output_field=models.BigIntegerField())
    if not rule.threshold_field:
        return constant
    own = Cast(KT(f"{ATTRIBUTES_KEY}__{rule.threshold_field}"), models.BigIntegerField())
    return Coalesce(own, constant)


def rule_profile_q(*, rule: TypologyRule, channel: str, now: datetime) -> Q | None:
    """The profiles `rule` excludes, as a filter; None for rules that do not look at the profile
    (address lists, duplicates and content controls are checked by their owners)."""
    if rule.kind == RuleKind.ADDRESS_MISSING:
        if channel == Channel.EMAIL:
            return Q(email="")
        if channel == Channel.SMS:
            return Q(mobile_phone="")
        return ~Q(Exists(AppSubscription.objects.filter(profile=OuterRef("pk"), disabled_at__isnull=True)))
    if rule.kind in _ADDRESS_FILTERS:
        return _ADDRESS_FILTERS[rule.kind](channel)
    if rule.kind == RuleKind.OPTED_OUT:
        return Q(**{f"{channel}_opted_out_at__isnull": False})
    if rule.kind == RuleKind.DOMAINS:
        if channel != Channel.EMAIL:
            return None
        q = Q(pk__in=[])
        for domain in rule.domain_list():
            q |= Q(email__iendswith=f"@{domain}") | Q(email__iendswith=f".{domain}")
        return q
    if rule.kind == RuleKind.CONDITION:
        return condition_q(rule.condition)
    if rule.kind == RuleKind.FATIGUE:
        return Q(
            GreaterThanOrEqual(
                fatigue_counted(rule=rule, channel=channel, now=now), fatigue_threshold(rule=rule)
            )
        )
    return None


def _fatigue_detail(rule: TypologyRule, count: int, threshold: int) -> str:
    """In words, e.g. "fatigue: 3 emails in 7 days, threshold 3"."""
    counted = {
        Channel.EMAIL: ngettext("%(n)s email", "%(n)s emails", count),
        Channel.SMS: ngettext("%(n)s SMS", "%(n)s SMS", count),
        Channel.PUSH: ngettext("%(n)s push notification", "%(n)s push notifications", count),
    }.get(rule.channel, ngettext("%(n)s message", "%(n)s messages", count)) % {"n": count}
    period = (
        ngettext("%(n)s hour", "%(n)s hours", rule.period)
        if rule.period_unit == PeriodUnit.HOURS
        else ngettext("%(n)s day", "%(n)s days", rule.period)
    ) % {"n": rule.period}
    return gettext("fatigue: %(counted)s in %(period)s, threshold %(threshold)s") % {
        "counted": counted,
        "period": period,
        "threshold": threshold,
    }


def _address(profile: Profile, channel: str) -> str:
    return profile.email if channel == Channel.EMAIL else profile.mobile_phone


def _detail(rule: TypologyRule, channel: str, profile: Profile) -> str:
    if rule.kind == RuleKind.QUARANTINED:
        return gettext("%(address)s is in quarantine") % {"address": _address(profile, channel)}
    if rule.kind == RuleKind.DENYLISTED:
        return gettext("%(address)s is on the denylist") % {"address": _address(profile, channel)}
    if rule.kind == RuleKind.FATIGUE:
        return _fatigue_detail(rule, profile.rule_count, profile.rule_threshold)
    if rule.kind == RuleKind.OPTED_OUT:
        when = profile.opted_out_at(channel)
        return gettext("the profile opted out of %(channel)s on %(date)s") % {
            "channel": Channel(channel).label,
            "date": f"{when:%Y-%m-%d}",
        }
    if rule.kind == RuleKind.DOMAINS:
        return gettext("the address %(email)s is in an excluded domain") % {"email": profile.email}
    if rule.kind == RuleKind.ADDRESS_MISSING:
        return gettext("the profile has no %(channel)s address") % {"channel": Channel(channel).label}
    return gettext("the profile matches the rule's condition")


@dataclass(frozen=True)
class ProfileCheck:
    """A profile against a typology's rules: whether it exists, the contact already counted for
    the same message (a retried event), and the first rule that excludes it."""

    found: bool
    counted: int | None = None
    hit: RuleHit | None = None


# The check of a profile against a typology's rules, compiled once and run again with the values
# of each event: the ORM takes 2 to 3 ms to build and compile it, the database 0.2 ms to run it.
# Compiled with these stand-ins for the profile, the event's key and the time, whose places among
# the parameters are then taken by the real values (a time as its distance to the stand-in's: a
# fatigue period reaches back from it; no condition compares with a date of the 81st to 90th centuries).
_STAND_IN_PK = -7_364_917_251
_STAND_IN_KEY = "\x1fstand-in key\x1f"
_STAND_IN_NOW = datetime(9000, 3, 5, 7, 11, 13, 170_000, tzinfo=UTC)
_STAND_IN_REACH = timedelta(days=365_000)
# How long a compiled check is reused: a condition may read other tables when it is built (a
# message by its ID), which then may change.
CHECK_CACHE_SECONDS = 60
_compiled: dict[tuple, tuple[str, list, list]] = {}


def _rule_signature(rule: TypologyRule) -> tuple:
    return tuple(repr(getattr(rule, field.attname)) for field in rule._meta.concrete_fields)


def _check_annotations(checks: list, key: str) -> dict:
    annotations = {
        f"rule_{index}": models.ExpressionWrapper(q, output_field=models.BooleanField())
        for index, (_rule, q) in enumerate(checks)
    }
    if key:
        counted = Contact.objects.filter(profile=OuterRef("pk"), key=key).values("pk")[:1]
        annotations["counted_contact"] = Subquery(counted, output_field=models.BigIntegerField())
    return annotations


def _compiled_check(rules: list[TypologyRule], channel: str, keyed: bool) -> tuple[str, list, list]:
    """(SQL, parameter plan, the rules it checks) of the check of a profile against `rules`."""
    signature = (
        channel,
        keyed,
        int(time.monotonic() // CHECK_CACHE_SECONDS),
        tuple(_rule_signature(rule) for rule in rules),
    )
    found = _compiled.get(signature)
    if found is not None:
        return found
    checks = [(rule, rule_profile_q(rule=rule, channel=channel, now=_STAND_IN_NOW)) for rule in rules]
    checks = [(rule, q) for rule, q in checks if q is not None]
    queryset = Profile.objects.filter(pk=_STAND_IN_PK).annotate(
        **_check_annotations(checks, _STAND_IN_KEY if keyed else "")
    )
    sql, params = queryset.order_by()[:1].query.sql_with_params()
    plan = []
    for param in params:
        if param == _STAND_IN_PK and type(param) is int:
            plan.append(("pk", None))
        elif param == _STAND_IN_KEY:
            plan.append(("key", None))
        elif (
            isinstance(param, datetime)
            and param.tzinfo is not None
            and _STAND_IN_NOW - _STAND_IN_REACH <= param <= _STAND_IN_NOW
        ):
            plan.append(("now", param - _STAND_IN_NOW))
        else:
            plan.append(("value", param))
    if len(_compiled) > 256:
        _compiled.clear()
    _compiled[signature] = (sql, plan, [rule for rule, _q in checks])
    return _compiled[signature]


def profile_check(
    *,
    typology: Typology,
    rules: list[TypologyRule],
    channel: str,
    profile_id: int,
    now: datetime,
    key: str = "",
    lock: bool = False,
) -> ProfileCheck:
    """The profile against `rules` (in order) in one query, after its row is locked with `lock` (in
    the caller's transaction); the fatigue figures of an exclusion are read in another one."""
    sql, plan, checked = _compiled_check(rules, channel, bool(key))
    values = {"pk": profile_id, "key": key}
    params = [now + extra if kind == "now" else values.get(kind, extra) for kind, extra in plan]
    if lock and not Profile.objects.select_for_update().filter(pk=profile_id).exists():
        return ProfileCheck(found=False)
    # Counted in a statement of its own, after the lock: in READ COMMITTED a statement sees what was
    # committed before it started, so counting in the locking statement itself would miss the
    # contact of the transaction it waited for.
    profile = next(iter(Profile.objects.raw(sql, params)), None)
    if profile is None:
        return ProfileCheck(found=False)
    if getattr(profile, "counted_contact", None) is not None:
        return ProfileCheck(found=True, counted=profile.counted_contact)
    for index, rule in enumerate(checked):
        if getattr(profile, f"rule_{index}"):
            if rule.kind == RuleKind.FATIGUE:
                figures = (
                    Profile.objects.filter(pk=profile_id)
                    .annotate(
                        rule_count=fatigue_counted(rule=rule, channel=channel, now=now),
                        rule_threshold=fatigue_threshold(rule=rule),
                    )
                    .values_list("rule_count", "rule_threshold")
                    .get()
                )
                profile.rule_count, profile.rule_threshold = figures
            return ProfileCheck(
                found=True, hit=RuleHit(typology.label, rule, _detail(rule, channel, profile))
            )
    return ProfileCheck(found=True)


def content_rule_hit(
    *,
    typology: Typology,
    rules: list[TypologyRule],
    channel: str,
    content: dict,
    sms_segments: int = 0,
    marketing: bool = False,
) -> RuleHit | None:
    """The first control rule that refuses the message's content (rendered or as written; an SMS
    by its number of segments)."""
    for rule in rules:
        if rule.type != RuleType.CONTROL:
            continue
        if (
            rule.kind == RuleKind.SUBJECT_MISSING
            and channel == Channel.EMAIL
            and not content.get("subject", "").strip()
        ):
            return RuleHit(typology.label, rule, gettext("the email has no subject"))
        if (
            rule.kind == RuleKind.UNSUBSCRIBE_LINK_MISSING
            and marketing
            and channel == Channel.EMAIL
            and "unsubscribe_url" not in content.get("html", "")
        ):
            return RuleHit(typology.label, rule, gettext("the marketing email has no unsubscribe link"))
        if (
            rule.kind == RuleKind.SMS_SEGMENTS
            and channel == Channel.SMS
            and sms_segments > (rule.max_segments or 0)
        ):
            return RuleHit(
                typology.label,
                rule,
                gettext("the SMS takes %(segments)s segments, more than %(max)s")
                % {"segments": sms_segments, "max": rule.max_segments},
            )
    return None


@dataclass(frozen=True)
class RuleCount:
    rule: TypologyRule
    excluded: int
    remaining: int


def duplicate_q(*, channel: str, audience: Q) -> Q | None:
    """The profiles of `audience` whose address an earlier profile of it has already (the first
    one keeps it)."""
    field = {Channel.EMAIL: "email", Channel.SMS: "mobile_phone"}.get(channel)
    if field is None:
        return None
    earlier = Profile.objects.filter(audience, pk__lt=OuterRef("pk"), **{f"{field}__iexact": OuterRef(field)})
    return ~Q(**{field: ""}) & Q(Exists(earlier))


def audience_rule_counts(
    *, typology: Typology, channel: str, audience: Q, now: datetime
) -> tuple[int, list[RuleCount]]:
    """(audience size, how many profiles each rule of `typology` excludes, in order): a profile is
    counted against the first rule that excludes it. Set operations, one count per rule."""
    remaining = Profile.objects.filter(audience)
    total = remaining.count()
    counts = []
    for rule in typology_rules(typology=typology, channel=channel):
        q = (
            duplicate_q(channel=channel, audience=audience)
            if rule.kind == RuleKind.DUPLICATE
            else rule_profile_q(rule=rule, channel=channel, now=now)
        )
        if q is None:
            continue
        excluded = remaining.filter(q).count()
        remaining = remaining.exclude(pk__in=Profile.objects.filter(audience).filter(q).values("pk"))
        total_left = (counts[-1].remaining if counts else total) - excluded
        counts.append(RuleCount(rule, excluded, total_left))
    return total, counts
