"""Typology rules and typologies: the checks every profile-based message passes before it leaves.

A rule has a kind (what it checks) and a type derived from it (filtering, control, fatigue); a
typology is a named set of rules, run in the rules' order, each profile excluded by the first rule
that matches it. The contacts table counts what was sent to each profile, for fatigue."""

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campaign.channels import Channel
from fastpath.rowcache import RowCachedQuerySet

from .conditions import condition_problems


class RuleType(models.TextChoices):
    FILTERING = "filtering", _("Filtering")
    CONTROL = "control", _("Control")
    FATIGUE = "fatigue", _("Fatigue")


class RuleKind(models.TextChoices):
    ADDRESS_MISSING = "addressMissing", _("Address missing")
    QUARANTINED = "quarantined", _("Address in quarantine")
    DENYLISTED = "denylisted", _("Address on the denylist")
    OPTED_OUT = "optedOut", _("Profile opted out of the channel")
    DUPLICATE = "duplicateAddress", _("Duplicate address in one delivery")
    DOMAINS = "domainExclusion", _("Excluded email domains")
    CONDITION = "customCondition", _("Custom condition on the profile")
    SUBJECT_MISSING = "subjectMissing", _("Subject missing")
    UNSUBSCRIBE_LINK_MISSING = "unsubscribeLinkMissing", _("Unsubscribe link missing in a marketing email")
    SMS_SEGMENTS = "smsSegments", _("SMS longer than N segments")
    FATIGUE = "fatigue", _("Fatigue: too many messages in a period")


KIND_TYPE = {
    RuleKind.ADDRESS_MISSING: RuleType.FILTERING,
    RuleKind.QUARANTINED: RuleType.FILTERING,
    RuleKind.DENYLISTED: RuleType.FILTERING,
    RuleKind.OPTED_OUT: RuleType.FILTERING,
    RuleKind.DUPLICATE: RuleType.FILTERING,
    RuleKind.DOMAINS: RuleType.FILTERING,
    RuleKind.CONDITION: RuleType.FILTERING,
    RuleKind.SUBJECT_MISSING: RuleType.CONTROL,
    RuleKind.UNSUBSCRIBE_LINK_MISSING: RuleType.CONTROL,
    RuleKind.SMS_SEGMENTS: RuleType.CONTROL,
    RuleKind.FATIGUE: RuleType.FATIGUE,
}
# The rules that need no profile: the only ones event-based messages pass.
ADDRESS_KINDS = frozenset({RuleKind.ADDRESS_MISSING, RuleKind.QUARANTINED, RuleKind.DENYLISTED})


class PeriodUnit(models.TextChoices):
    HOURS = "hours", _("hours")
    DAYS = "days", _("days")


class TypologyRule(models.Model):
    label = models.CharField(_("label"), max_length=200)
    kind = models.CharField(_("what it checks"), max_length=30, choices=RuleKind.choices)
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, blank=True, help_text=_("Empty: every channel.")
    )
    order = models.PositiveIntegerField(_("order"), default=100, help_text=_("Lower runs first."))
    active = models.BooleanField(_("active"), default=True)
    description = models.TextField(_("description"), blank=True)
    # What some kinds need (checked by clean()).
    domains = models.TextField(
        _("domains"), blank=True, help_text=_("Excluded email domains, one per line, e.g. example.org.")
    )
    condition = models.JSONField(
        _("condition"),
        null=True,
        blank=True,
        help_text=_(
            'Profiles this rule excludes, e.g. {"all": [{"field": "language", "op": "eq", "value": "de"}]}; '
            '"any" for OR; fields are the profile\'s fields and attributes.'
        ),
    )
    max_segments = models.PositiveSmallIntegerField(_("maximum SMS segments"), null=True, blank=True)
    threshold = models.PositiveIntegerField(
        _("threshold"),
        null=True,
        blank=True,
        help_text=_(
            "Messages a profile may receive in the period (the fallback when read from the profile)."
        ),
    )
    threshold_field = models.CharField(
        _("threshold from the profile"),
        max_length=64,
        blank=True,
        help_text=_(
            "A whole-number profile attribute holding the profile's own threshold; empty: the constant."
        ),
    )
    period = models.PositiveIntegerField(_("period"), null=True, blank=True)
    period_unit = models.CharField(
        _("period unit"), max_length=5, choices=PeriodUnit.choices, default=PeriodUnit.DAYS
    )
    category = models.CharField(
        _("counted category"),
        max_length=64,
        blank=True,
        help_text=_("Count only the messages of this category; empty: every profile-based message."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    # Read for every profile-based event the workers send, through the row cache.
    objects = RowCachedQuerySet.as_manager()

    class Meta:
        ordering = ["order", "pk"]
        verbose_name = _("typology rule")
        verbose_name_plural = _("typology rules")

    def __str__(self) -> str:
        return self.label

    @property
    def type(self) -> str:
        return KIND_TYPE[RuleKind(self.kind)]

    def get_type_display(self) -> str:
        return RuleType(self.type).label

    def clean(self) -> None:
        errors = {}
        if self.kind == RuleKind.DOMAINS and not self.domain_list():
            errors["domains"] = _("Give at least one domain.")
        if self.kind == RuleKind.CONDITION:
            problems = condition_problems(self.condition)
            if problems:
                errors["condition"] = problems
        if self.kind == RuleKind.SMS_SEGMENTS and not self.max_segments:
            errors["max_segments"] = _("Give the number of segments an SMS may not exceed.")
        if self.kind == RuleKind.FATIGUE:
            if not self.threshold and self.threshold != 0:
                errors["threshold"] = _("Give a threshold (the fallback when it is read from the profile).")
            if not self.period:
                errors["period"] = _("Give the period over which messages are counted.")
        if errors:
            raise ValidationError(errors)

    def domain_list(self) -> list[str]:
        return sorted(
            {line.strip().lower().lstrip("@") for line in self.domains.splitlines() if line.strip()}
        )


class Typology(models.Model):
    name = models.SlugField(_("name"), max_length=64, unique=True)
    label = models.CharField(_("label"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    rules = models.ManyToManyField(
        TypologyRule, blank=True, related_name="typologies", verbose_name=_("rules")
    )

    objects = RowCachedQuerySet.as_manager()

    class Meta:
        ordering = ["label"]
        verbose_name = _("typology")
        verbose_name_plural = _("typologies")

    def __str__(self) -> str:
        return self.label


class Contact(models.Model):
    """One profile-based message sent (or being sent) to a profile: what fatigue rules count."""

    profile = models.ForeignKey(
        "profiles.Profile", verbose_name=_("profile"), on_delete=models.CASCADE, related_name="contacts"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    category = models.CharField(_("category"), max_length=64, blank=True)
    source = models.CharField(_("message"), max_length=200, blank=True)
    # What was sent (an event's key): a retried event is counted once.
    key = models.CharField(_("key"), max_length=64, blank=True, db_index=True)
    sent_at = models.DateTimeField(pgettext_lazy("date", "sent"))

    class Meta:
        ordering = ["-sent_at"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [models.Index(fields=["profile", "sent_at"], name="contact_profile_sent")]

    def __str__(self) -> str:
        return f"{self.profile_id} {self.channel} {self.sent_at:%Y-%m-%d %H:%M}"
