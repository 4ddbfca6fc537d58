from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import MD5
from django.utils.translation import gettext_lazy as _

from events.models import Channel, EventLog


class CapturedEmail(models.Model):
    """An email kept by the local outbox backend instead of being sent (development)."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    message_id = models.CharField(_("Message-ID"), max_length=255, blank=True)
    from_email = models.CharField(_("from"), max_length=500)
    to = models.TextField(_("to"))
    subject = models.TextField(_("subject"), blank=True)
    text = models.TextField(_("text"), blank=True)
    html = models.TextField(_("html"), blank=True)
    raw = models.TextField(_("raw"), help_text=_("The whole message as it would have been sent (MIME)."))

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("outbox email")
        verbose_name_plural = _("outbox emails")

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"


class CapturedMessage(models.Model):
    """An SMS or push notification kept by a local capture backend instead of being sent."""

    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    to = models.CharField(_("to"), max_length=4096)
    title = models.TextField(_("title"), blank=True)
    body = models.TextField(_("body"), blank=True)
    # The provider request that would have been sent (FCM message), for push.
    data = models.JSONField(_("data"), default=dict, blank=True)
    message_id = models.CharField(_("message id"), max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("outbox SMS or push")
        verbose_name_plural = _("outbox SMS and push")

    def __str__(self) -> str:
        return f"{self.channel} → {self.to[:40]}"


class AttemptOutcome(models.TextChoices):
    # The provider accepted the message.
    SENT = "sent", _("Sent")
    # A temporary sending failure (SMTP 4xx, HTTP 429/5xx, timeout): retried with backoff.
    TEMPORARY_FAILURE = "temporaryFailure", _("Temporary failure")
    # A permanent sending failure (SMTP 5xx, HTTP 4xx): the event ends deliveryFailed.
    PERMANENT_FAILURE = "permanentFailure", _("Permanent failure")
    # Rendering, targeting or configuration failed before sending: the event is postponed.
    PROCESSING_ERROR = "processingError", _("Processing error")


class DeliveryAttempt(EventLog):
    """One try at processing and sending an event (append-only). A log of its own: it outlives its
    event (RETENTION_LOGS_DAYS against RETENTION_EVENTS_DAYS), keeping the event's PKey and
    configuration (`events.models.EventLog`)."""

    event = models.ForeignKey(
        "events.Event",
        verbose_name=_("event"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="delivery_attempts",
    )
    number = models.PositiveIntegerField(_("number"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=4096, blank=True)
    started_at = models.DateTimeField(_("started at"))
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    outcome = models.CharField(_("outcome"), max_length=20, choices=AttemptOutcome.choices)
    # The provider's id of the accepted message (Message-ID for SMTP): feedback is matched on it.
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)
    provider_response = models.TextField(_("provider response"), blank=True)
    error = models.TextField(_("error"), blank=True)
    # When the event is due again, for a failure that postponed it.
    retry_at = models.DateTimeField(_("retry at"), null=True, blank=True)

    class Meta:
        ordering = ["event", "number"]
        indexes = [
            models.Index(fields=["event", "number"], name="attempt_event_number"),
            models.Index(fields=["provider_message_id"], name="attempt_provider_message_id"),
            models.Index(fields=["outcome", "started_at"], name="attempt_outcome_started"),
            # The logs' retention, oldest first.
            models.Index(fields=["started_at"], name="attempt_started"),
        ]
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")

    def __str__(self) -> str:
        return f"{self.event_pkey or self.event_id} #{self.number} {self.outcome}"


class QuarantineReason(models.TextChoices):
    HARD_BOUNCE = "hardBounce", _("Hard bounce")
    COMPLAINT = "complaint", _("Spam complaint")
    SOFT_BOUNCES = "softBounces", _("Too many soft bounces")
    REFUSED = "refused", _("Refused by the provider when sending")


class AddressQuarantine(models.Model):
    """Delivery health of one address: its soft bounces, and whether it is in quarantine."""

    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=4096)
    soft_bounces = models.PositiveIntegerField(_("soft bounces"), default=0)
    # Set while the address is in quarantine: nothing is sent to it.
    quarantined_at = models.DateTimeField(_("quarantined at"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=20, choices=QuarantineReason.choices, blank=True)
    detail = models.TextField(_("detail"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = _("quarantined address")
        verbose_name_plural = _("quarantined addresses")
        constraints = [
            models.UniqueConstraint(fields=["channel", "address"], name="unique_quarantine_address")
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address[:60]}"


class DenylistEntry(models.Model):
    """An address we must never send to (set by an administrator)."""

    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=4096)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("denylisted address")
        verbose_name_plural = _("denylisted addresses")
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="unique_denylist_address")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address[:60]}"


class ExclusionReason(models.TextChoices):
    QUARANTINE = "quarantine", _("Address in quarantine")
    DENYLIST = "denylist", _("Address on the denylist")
    # Profile consent (profile-based messages only).
    OPTED_OUT = "optedOut", _("Profile opted out of the channel")
    UNSUBSCRIBED = "unsubscribed", _("Profile not subscribed to the message's service")
    TYPOLOGY = "typology", _("Typology rule")
    # The address belonged to an erased profile (profiles.Suppression); kept out of the log.
    SUPPRESSED = "suppressed", _("Address of an erased profile")


class Exclusion(EventLog):
    """An event not sent on purpose, and why (append-only); outlives its event."""

    event = models.ForeignKey(
        "events.Event",
        verbose_name=_("event"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exclusions",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=4096)
    reason = models.CharField(_("reason"), max_length=20, choices=ExclusionReason.choices)
    # The typology rule that excluded the event (reason `typology`).
    rule = models.ForeignKey(
        "typologies.TypologyRule",
        verbose_name=_("rule"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="exclusions",
    )
    detail = models.TextField(_("detail"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["reason", "created_at"], name="exclusion_reason_created"),
            # The logs' retention, oldest first.
            models.Index(fields=["created_at"], name="exclusion_created"),
        ]
        verbose_name = _("exclusion")
        verbose_name_plural = _("exclusions")

    def __str__(self) -> str:
        return f"{self.event_pkey or self.event_id} {self.reason}"


class TrackingEvent(EventLog):
    """Provider feedback about a sent message (anymail tracking webhooks), append-only; outlives its
    event. No event and no configuration: feedback matching none of our sendings."""

    event = models.ForeignKey(
        "events.Event",
        verbose_name=_("event"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tracking_events",
    )
    esp_name = models.CharField(_("esp name"), max_length=50)
    # anymail's normalized type: delivered, bounced, deferred, complained, opened, clicked, ...
    event_type = models.CharField(_("event type"), max_length=20)
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)
    recipient = models.CharField(_("recipient"), max_length=254, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    description = models.TextField(_("description"), blank=True)
    mta_response = models.TextField(_("mta response"), blank=True)
    click_url = models.TextField(_("click url"), blank=True)
    esp_event = models.JSONField(_("esp event"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [
            models.Index(fields=["event", "event_type", "received_at"], name="tracking_event_type_time"),
            # The logs' retention, oldest first.
            models.Index(fields=["received_at"], name="tracking_received"),
        ]
        verbose_name = _("tracking event")
        verbose_name_plural = _("tracking events")

    def __str__(self) -> str:
        return f"{self.event_type} {self.recipient}"


class TrackedLink(models.Model):
    """A link of a published version's HTML, or of a marketing delivery's (its `href` as written,
    possibly a template): a click redirect only ever leads to a link of the content the email was
    sent with."""

    version = models.ForeignKey(
        "messages_app.MessageVersion",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("version"),
    )
    # The marketing delivery whose content holds it (no foreign key: marketing sits above delivery,
    # and its links go when its interactions go). Its content may change after a sending that
    # failed to prepare again, so its links are told apart by position and URL.
    marketing_delivery_id = models.BigIntegerField(
        verbose_name=_("marketing delivery"), null=True, blank=True
    )
    # Its order among the tracked links of the content (default content first, then the variants).
    position = models.PositiveIntegerField(verbose_name=_("position"))
    url = models.TextField(verbose_name=_("URL"))

    class Meta:
        verbose_name = _("tracked link")
        verbose_name_plural = _("tracked links")
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="unique_tracked_link_position"),
            models.UniqueConstraint(
                F("marketing_delivery_id"), F("position"), MD5("url"), name="unique_marketing_tracked_link"
            ),
            models.CheckConstraint(
                condition=Q(version__isnull=False, marketing_delivery_id__isnull=True)
                | Q(version__isnull=True, marketing_delivery_id__isnull=False),
                name="tracked_link_of_one_content",
            ),
        ]

    def __str__(self) -> str:
        return self.url[:80]


class InteractionKind(models.TextChoices):
    OPEN = "open", _("Open")
    CLICK = "click", _("Click")


class InteractionSource(models.TextChoices):
    # Our open pixel or click redirect.
    TRACKING = "tracking", _("Tracking pixel or redirect")
    # An ESP's tracking webhook (anymail).
    PROVIDER = "provider", _("Provider webhook")


class Interaction(models.Model):
    """The opens of one recipient (an event, or a marketing delivery's recipient), or its clicks on
    one link: one row each, counting the repeats. Kept apart from the event (no foreign key
    constraint), with its message and recipient domain, so that it can outlive the event under its
    own retention."""

    # A transactional recipient: its event and the event's configuration.
    event_id = models.BigIntegerField(verbose_name=_("event"), null=True, blank=True)
    configuration_id = models.BigIntegerField(verbose_name=_("event configuration"), null=True, blank=True)
    # Or a marketing recipient and its delivery (no foreign keys: marketing sits above delivery).
    marketing_recipient_id = models.BigIntegerField(
        verbose_name=_("marketing recipient"), null=True, blank=True
    )
    marketing_delivery_id = models.BigIntegerField(
        verbose_name=_("marketing delivery"), null=True, blank=True
    )
    # The profile a profile-based event was sent to, found when the interaction is recorded (the
    # event may be gone long before its opens): what audience conditions on opens and clicks read.
    profile = models.ForeignKey(
        "profiles.Profile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        verbose_name=_("profile"),
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=5, choices=InteractionKind.choices)
    link = models.ForeignKey(
        TrackedLink,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("link"),
    )
    # 0 for opens; the link's id for clicks (a provider click on a link we do not know: its URL's hash).
    link_key = models.BigIntegerField(verbose_name=_("link key"), default=0)
    url = models.TextField(verbose_name=_("URL"), blank=True)
    domain = models.CharField(verbose_name=_("domain"), max_length=255, blank=True)
    source = models.CharField(
        verbose_name=_("source"),
        max_length=10,
        choices=InteractionSource.choices,
        default=InteractionSource.TRACKING,
    )
    first_at = models.DateTimeField(verbose_name=_("first at"))
    last_at = models.DateTimeField(verbose_name=_("last at"))
    count = models.PositiveIntegerField(verbose_name=_("count"), default=1)
    user_agent = models.CharField(verbose_name=_("user agent"), max_length=500, blank=True)
    # The client's network (/24 for IPv4, /48 for IPv6), never its full address.
    ip_network = models.CharField(verbose_name=_("network"), max_length=50, blank=True)
    # Why it is taken for a machine (docs/tracking.md); empty for a human.
    machine_reason = models.CharField(verbose_name=_("machine reason"), max_length=30, blank=True)
    # What the report rollups hold of it (reports/rollup.py): `rolled` is cleared by every change,
    # and the rollup job adds the difference between now and then.
    rolled = models.BooleanField(verbose_name=_("rolled up"), default=False)
    rolled_count = models.PositiveIntegerField(verbose_name=_("count rolled up"), default=0)
    rolled_machine = models.BooleanField(verbose_name=_("rolled up as a machine"), default=False)

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        ordering = ["-first_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "kind", "link_key"], name="unique_interaction"),
            models.UniqueConstraint(
                fields=["marketing_recipient_id", "kind", "link_key"], name="unique_marketing_interaction"
            ),
            models.CheckConstraint(
                condition=Q(
                    event_id__isnull=False,
                    configuration_id__isnull=False,
                    marketing_recipient_id__isnull=True,
                    marketing_delivery_id__isnull=True,
                )
                | Q(
                    event_id__isnull=True,
                    configuration_id__isnull=True,
                    marketing_recipient_id__isnull=False,
                    marketing_delivery_id__isnull=False,
                ),
                name="interaction_of_one_recipient",
            ),
        ]
        indexes = [
            models.Index(fields=["first_at"], name="interaction_first_at"),
            models.Index(fields=["id"], condition=models.Q(rolled=False), name="interaction_to_roll"),
            # Audience conditions (opened / clicked a message): the human interactions of a
            # message's configuration, by kind, to their profiles; and a profile's, when erased.
            models.Index(
                fields=["configuration_id", "kind", "profile"],
                condition=models.Q(machine_reason="", profile__isnull=False),
                name="interaction_human_profile",
            ),
            models.Index(
                fields=["profile"], condition=models.Q(profile__isnull=False), name="interaction_profile"
            ),
            # A marketing delivery's figures.
            models.Index(
                fields=["marketing_delivery_id", "kind"],
                condition=models.Q(marketing_delivery_id__isnull=False),
                name="interaction_marketing",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id or f'm{self.marketing_recipient_id}'}"
