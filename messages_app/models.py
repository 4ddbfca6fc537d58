from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from events.models import Channel, PushPlatform
from fastpath.rowcache import RowCachedQuerySet
from organisations.models import unit_root_pk

from .rendering import MissingValuePolicy

# The draft fields frozen into a version (the content keys the worker and senders read).
CONTENT_FIELDS = (
    "sender_name",
    "sender_email",
    "reply_to",
    "subject",
    "preheader",
    "html",
    "text",
    "sms_text",
    "push_title",
    "push_body",
    "push_deep_link",
    "push_custom_data",
    "push_badge",
    "push_sound",
    "locale",
    "missing_value_policy",
    "missing_value_default",
)


class MessageStatus(models.TextChoices):
    # Being edited; events of its configuration are not sent (routingFailed).
    DRAFT = "draft", _("Draft")
    # Live: events are rendered with the published version.
    PUBLISHED = "published", _("Published")
    # Published but held: new events are stored `paused` until resume (or their expiration).
    PAUSED = "paused", _("Paused")


class TransactionalMessage(models.Model):
    """The message of one event configuration (id `RT` + event id); the fields are the draft."""

    message_id = models.CharField(_("ID"), max_length=80, unique=True, editable=False)
    configuration = models.OneToOneField(
        "events.EventConfiguration",
        verbose_name=_("configuration"),
        on_delete=models.CASCADE,
        related_name="message",
        editable=False,
    )
    label = models.CharField(_("label"), max_length=200)
    status = models.CharField(
        _("status"), max_length=10, choices=MessageStatus.choices, default=MessageStatus.DRAFT
    )
    sender_name = models.CharField(_("brand name"), max_length=200, blank=True)
    sender_email = models.EmailField(
        _("sender address"), blank=True, help_text=_("Empty: the platform's default sender.")
    )
    reply_to = models.EmailField(_("reply-to address"), blank=True)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    preheader = models.CharField(
        _("preheader"),
        max_length=255,
        blank=True,
        help_text=_("The summary shown after the subject in the inbox."),
    )
    html = models.TextField(_("HTML content"), blank=True)
    text = models.TextField(
        _("text content"), blank=True, help_text=_("Empty: generated from the HTML content when sending.")
    )
    sms_text = models.TextField(_("SMS text"), blank=True)
    push_title = models.CharField(_("title"), max_length=255, blank=True)
    push_body = models.TextField(_("body"), blank=True)
    push_deep_link = models.CharField(
        _("deep link"), max_length=2000, blank=True, help_text=_("e.g. myshop://cart/{{ ctx.cartId }}")
    )
    push_custom_data = models.JSONField(
        _("custom data"),
        default=dict,
        blank=True,
        help_text=_('An object of texts, e.g. {"screen": "cart"}.'),
    )
    push_badge = models.PositiveIntegerField(_("badge"), null=True, blank=True)
    push_sound = models.CharField(_("sound"), max_length=100, blank=True)
    locale = models.CharField(
        _("locale"),
        max_length=20,
        default="en",
        help_text=_("Language and country for dates, numbers and currencies, e.g. en_US, fr_FR, de_DE."),
    )
    missing_value_policy = models.CharField(
        _("when a value is missing"),
        max_length=10,
        choices=MissingValuePolicy.choices,
        default=MissingValuePolicy.EMPTY,
    )
    missing_value_default = models.CharField(
        _("default text"),
        max_length=200,
        blank=True,
        help_text=_("Used for a missing value with that policy."),
    )
    # The subscription service the message belongs to: it goes only to the service's subscribers,
    # and its unsubscribe link leaves that service. Read when sending (not frozen in versions):
    # a change of who consented applies at once.
    service = models.ForeignKey(
        "profiles.Service",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("subscription service"),
        help_text=_(
            "Profile-based messages only: sent only to the service's subscribers, and the "
            "unsubscribe link leaves this service. Empty: every profile that accepts the channel."
        ),
    )
    # The rules a profile-based message passes at send time (event-based messages pass only the
    # address rules, whatever their typology).
    typology = models.ForeignKey(
        "typologies.Typology",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("typology"),
        help_text=_(
            "The rules a profile-based message passes before it is sent (filtering, control, fatigue)."
        ),
    )
    category = models.SlugField(
        _("category"),
        max_length=64,
        blank=True,
        help_text=_("Fatigue rules of a category count and limit only the messages of that category."),
    )
    # Open pixel and click redirects in the HTML of emails (delivery/tracking.py); read when sending.
    tracking_enabled = models.BooleanField(
        _("track opens and clicks"),
        default=True,
        help_text=_("Adds an open pixel and click redirects to the HTML of the emails sent."),
    )
    # The version the worker renders; None while not published.
    published_version = models.ForeignKey(
        "MessageVersion",
        verbose_name=_("published version"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified at"), auto_now=True)
    modified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("modified by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    # Read by every trigger call through the row cache (fastpath/rowcache.py).
    objects = RowCachedQuerySet.as_manager()

    class Meta:
        ordering = ["label"]
        permissions = [
            ("publish_transactionalmessage", "Can publish transactional messages and roll back versions"),
            ("unpublish_transactionalmessage", "Can unpublish transactional messages and their event"),
            ("pause_transactionalmessage", "Can pause and resume transactional messages"),
            ("send_proof_transactionalmessage", "Can preview and send proofs of transactional messages"),
        ]
        verbose_name = _("transactional message")
        verbose_name_plural = _("transactional messages")

    def __str__(self) -> str:
        return f"{self.label} ({self.message_id})"

    @property
    def unit(self):
        """A message belongs to the unit of its event configuration (one message per
        configuration: one place to move both)."""
        return self.configuration.unit


class MessageVersion(models.Model):
    """An immutable snapshot of the content, frozen at publish."""

    message = models.ForeignKey(
        TransactionalMessage, verbose_name=_("message"), on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("number"))
    content = models.JSONField(_("content"))
    # Set when this version was published by rolling back to an older one.
    restored_from = models.PositiveIntegerField(_("restored from"), null=True, blank=True)
    published_at = models.DateTimeField(_("published at"), auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["message", "number"], name="unique_message_version_number")
        ]
        verbose_name = _("message version")
        verbose_name_plural = _("message versions")

    def __str__(self) -> str:
        return f"{self.message.message_id} v{self.number}"


class MessageVariant(models.Model):
    """The content of one language, chosen by the event's `AC_language`; empty parts fall back
    to the default content."""

    message = models.ForeignKey(
        TransactionalMessage, verbose_name=_("message"), on_delete=models.CASCADE, related_name="variants"
    )
    language = models.CharField(
        _("language"),
        max_length=20,
        help_text=_("The AC_language value it answers, e.g. fr or fr_CA; also its locale."),
    )
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    preheader = models.CharField(_("preheader"), max_length=255, blank=True)
    html = models.TextField(_("HTML content"), blank=True)
    text = models.TextField(_("text content"), blank=True)
    sms_text = models.TextField(_("SMS text"), blank=True)
    push_title = models.CharField(_("push title"), max_length=255, blank=True)
    push_body = models.TextField(_("push body"), blank=True)

    class Meta:
        ordering = ["language"]
        verbose_name = _("language variant")
        verbose_name_plural = _("language variants")
        constraints = [
            models.UniqueConstraint(fields=["message", "language"], name="unique_variant_language")
        ]

    def __str__(self) -> str:
        return self.language


class TestProfileUsage(models.TextChoices):
    # Receives proofs.
    PROOF = "proof", _("Proof")
    # Only for previews: never sent to.
    RENDERING = "rendering", _("Rendering")
    # A seed address checking deliverability; receives proofs too.
    TRAP = "trap", _("Trap")


class TestProfile(models.Model):
    """A fictitious recipient with the event data to personalise previews and proofs with."""

    message = models.ForeignKey(
        TransactionalMessage,
        verbose_name=_("message"),
        on_delete=models.CASCADE,
        related_name="test_profiles",
    )
    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(
        _("address"),
        max_length=4096,
        blank=True,
        help_text=_("Email address, mobile phone (E.164, e.g. +33612345678) or push registration token."),
    )
    push_application = models.CharField(_("push application"), max_length=255, blank=True)
    push_platform = models.CharField(
        _("push platform"), max_length=4, choices=PushPlatform.choices, blank=True
    )
    usage = models.CharField(
        _("usage"), max_length=10, choices=TestProfileUsage.choices, default=TestProfileUsage.PROOF
    )
    event_data = models.JSONField(
        _("event data used for personalisation"),
        default=dict,
        blank=True,
        help_text=_(
            'The event\'s ctx as JSON, e.g. {"firstName": "Jane"}; checked against the data structure.'
        ),
    )
    # Profile-based messages: the profile the targeting enrichment would find, either a stored one
    # or profile data of the test profile's own (one or the other).
    profile = models.ForeignKey(
        "profiles.Profile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("stored profile"),
        help_text=_("Profile-based messages: personalise with this stored profile's fields and attributes."),
    )
    profile_data = models.JSONField(
        _("profile data"),
        default=dict,
        blank=True,
        help_text=_(
            'Profile-based messages, instead of a stored profile: e.g. {"first_name": "Jane", '
            '"attributes": {"loyalty_tier": "gold"}}; checked against the profile fields and attributes.'
        ),
    )

    # The organisational unit it belongs to (by default its author's).
    unit = models.ForeignKey(
        "organisations.Unit",
        on_delete=models.PROTECT,
        default=unit_root_pk,
        related_name="+",
        verbose_name=_("organisational unit"),
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["message", "name"], name="unique_test_profile_name")]
        verbose_name = _("test profile")
        verbose_name_plural = _("test profiles")

    def __str__(self) -> str:
        return self.name


class ProofStatus(models.TextChoices):
    # Accepted by the channel's provider.
    SENT = "sent", _("Sent")
    # Refused by the provider, or the content could not be rendered.
    FAILED = "failed", _("Failed")


class ProofSend(models.Model):
    """A proof sent to a test profile: kept apart from events, so it never counts in reports."""

    message = models.ForeignKey(
        TransactionalMessage, verbose_name=_("message"), on_delete=models.CASCADE, related_name="proofs"
    )
    test_profile = models.ForeignKey(
        TestProfile, verbose_name=_("test profile"), null=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    address = models.CharField(_("address"), max_length=4096)
    content = models.JSONField(_("content"))
    status = models.CharField(_("status"), max_length=10, choices=ProofStatus.choices)
    provider_message_id = models.CharField(_("provider message id"), max_length=255, blank=True)
    error = models.TextField(_("error"), blank=True)
    sent_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sent by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-sent_at", "-pk"]
        indexes = [models.Index(fields=["message", "-sent_at"], name="proof_latest_per_message")]
        verbose_name = _("proof send")
        verbose_name_plural = _("proof sends")

    def __str__(self) -> str:
        return f"proof of {self.message.message_id} to {self.address}"
