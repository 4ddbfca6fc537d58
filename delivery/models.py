from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from events.models import Channel


class CapturedEmail(models.Model):
    """An email kept by the local outbox backend instead of being sent (development)."""

    created_at = models.DateTimeField(auto_now_add=True)
    message_id = models.CharField("Message-ID", max_length=255, blank=True)
    from_email = models.CharField("from", max_length=500)
    to = models.TextField()
    subject = models.TextField(blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    raw = models.TextField(help_text="The whole message as it would have been sent (MIME).")

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "outbox email"

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"


class CapturedMessage(models.Model):
    """An SMS or push notification kept by a local capture backend instead of being sent."""

    channel = models.CharField(max_length=10, choices=Channel.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    to = models.CharField(max_length=4096)
    title = models.TextField(blank=True)
    body = models.TextField(blank=True)
    # The provider request that would have been sent (FCM message), for push.
    data = models.JSONField(default=dict, blank=True)
    message_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "outbox SMS or push"
        verbose_name_plural = "outbox SMS and push"

    def __str__(self) -> str:
        return f"{self.channel} → {self.to[:40]}"


class AttemptOutcome(models.TextChoices):
    # The provider accepted the message.
    SENT = "sent", "Sent"
    # A temporary sending failure (SMTP 4xx, HTTP 429/5xx, timeout): retried with backoff.
    TEMPORARY_FAILURE = "temporaryFailure", "Temporary failure"
    # A permanent sending failure (SMTP 5xx, HTTP 4xx): the event ends deliveryFailed.
    PERMANENT_FAILURE = "permanentFailure", "Permanent failure"
    # Rendering, targeting or configuration failed before sending: the event is postponed.
    PROCESSING_ERROR = "processingError", "Processing error"


class DeliveryAttempt(models.Model):
    """One try at processing and sending an event (append-only)."""

    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="delivery_attempts")
    number = models.PositiveIntegerField()
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=4096, blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    outcome = models.CharField(max_length=20, choices=AttemptOutcome.choices)
    # The provider's id of the accepted message (Message-ID for SMTP): feedback is matched on it.
    provider_message_id = models.CharField(max_length=255, blank=True)
    provider_response = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # When the event is due again, for a failure that postponed it.
    retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["event", "number"]
        indexes = [
            models.Index(fields=["event", "number"], name="attempt_event_number"),
            models.Index(fields=["provider_message_id"], name="attempt_provider_message_id"),
            models.Index(fields=["outcome", "started_at"], name="attempt_outcome_started"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} #{self.number} {self.outcome}"


class QuarantineReason(models.TextChoices):
    HARD_BOUNCE = "hardBounce", "Hard bounce"
    COMPLAINT = "complaint", "Spam complaint"
    SOFT_BOUNCES = "softBounces", "Too many soft bounces"
    REFUSED = "refused", "Refused by the provider when sending"


class AddressQuarantine(models.Model):
    """Delivery health of one address: its soft bounces, and whether it is in quarantine."""

    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=4096)
    soft_bounces = models.PositiveIntegerField(default=0)
    # Set while the address is in quarantine: nothing is sent to it.
    quarantined_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=20, choices=QuarantineReason.choices, blank=True)
    detail = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

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

    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=4096)
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("denylisted address")
        verbose_name_plural = _("denylisted addresses")
        constraints = [models.UniqueConstraint(fields=["channel", "address"], name="unique_denylist_address")]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address[:60]}"


class ExclusionReason(models.TextChoices):
    QUARANTINE = "quarantine", "Address in quarantine"
    DENYLIST = "denylist", "Address on the denylist"
    # Profile consent (profile-based messages only).
    OPTED_OUT = "optedOut", _("Profile opted out of the channel")
    UNSUBSCRIBED = "unsubscribed", _("Profile not subscribed to the message's service")
    TYPOLOGY = "typology", _("Typology rule")
    # The address belonged to an erased profile (profiles.Suppression); kept out of the log.
    SUPPRESSED = "suppressed", _("Address of an erased profile")


class Exclusion(models.Model):
    """An event not sent on purpose, and why (append-only)."""

    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="exclusions")
    channel = models.CharField(max_length=10, choices=Channel.choices)
    address = models.CharField(max_length=4096)
    reason = models.CharField(max_length=20, choices=ExclusionReason.choices)
    # The typology rule that excluded the event (reason `typology`).
    rule = models.ForeignKey(
        "typologies.TypologyRule", null=True, blank=True, on_delete=models.SET_NULL, related_name="exclusions"
    )
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["reason", "created_at"], name="exclusion_reason_created")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.reason}"


class TrackingEvent(models.Model):
    """Provider feedback about a sent message (anymail tracking webhooks), append-only."""

    event = models.ForeignKey(
        "events.Event", null=True, blank=True, on_delete=models.CASCADE, related_name="tracking_events"
    )
    esp_name = models.CharField(max_length=50)
    # anymail's normalized type: delivered, bounced, deferred, complained, opened, clicked, ...
    event_type = models.CharField(max_length=20)
    provider_message_id = models.CharField(max_length=255, blank=True)
    recipient = models.CharField(max_length=254, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    description = models.TextField(blank=True)
    mta_response = models.TextField(blank=True)
    click_url = models.TextField(blank=True)
    esp_event = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-received_at", "-pk"]
        indexes = [
            models.Index(fields=["event", "event_type", "received_at"], name="tracking_event_type_time"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.recipient}"


class TrackedLink(models.Model):
    """A link of a published version's HTML (its `href` as written, possibly a template): a click
    redirect only ever leads to a link of the version of the message it was sent with."""

    version = models.ForeignKey("messages_app.MessageVersion", on_delete=models.CASCADE, related_name="+")
    # Its order among the tracked links of the version (default content first, then the variants).
    position = models.PositiveIntegerField()
    url = models.TextField()

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="unique_tracked_link_position")
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
    """The opens of one recipient (event), or its clicks on one link: one row each, counting the
    repeats. Kept apart from the event (no foreign key constraint), with its message and
    recipient domain, so that it can outlive the event under its own retention."""

    event_id = models.BigIntegerField()
    configuration_id = models.BigIntegerField()
    kind = models.CharField(max_length=5, choices=InteractionKind.choices)
    link = models.ForeignKey(TrackedLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # 0 for opens; the link's id for clicks (a provider click on a link we do not know: its URL's hash).
    link_key = models.BigIntegerField(default=0)
    url = models.TextField(blank=True)
    domain = models.CharField(max_length=255, blank=True)
    source = models.CharField(
        max_length=10, choices=InteractionSource.choices, default=InteractionSource.TRACKING
    )
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    user_agent = models.CharField(max_length=500, blank=True)
    # The client's network (/24 for IPv4, /48 for IPv6), never its full address.
    ip_network = models.CharField(max_length=50, blank=True)
    # Why it is taken for a machine (docs/tracking.md); empty for a human.
    machine_reason = models.CharField(max_length=30, blank=True)
    # What the report rollups hold of it (reports/rollup.py): `rolled` is cleared by every change,
    # and the rollup job adds the difference between now and then.
    rolled = models.BooleanField(default=False)
    rolled_count = models.PositiveIntegerField(default=0)
    rolled_machine = models.BooleanField(default=False)

    class Meta:
        ordering = ["-first_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["event_id", "kind", "link_key"], name="unique_interaction")
        ]
        indexes = [
            models.Index(fields=["first_at"], name="interaction_first_at"),
            models.Index(fields=["id"], condition=models.Q(rolled=False), name="interaction_to_roll"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id}"
