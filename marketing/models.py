from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from campaign.channels import Channel
from organisations.models import unit_root_pk


class DeliveryStatus(models.TextChoices):
    # Being written; the audience and the content can change.
    DRAFT = "draft", _("Draft")
    # The recipient list is being computed (a task).
    PREPARING = "preparing", _("Preparing")
    # The recipient list is frozen with its exclusions; waits for the marketer's confirmation.
    PREPARED = "prepared", _("Prepared")
    # Confirmed for a later time.
    SCHEDULED = "scheduled", _("Scheduled")
    SENDING = "sending", _("Sending")
    PAUSED = "paused", _("Paused")
    DONE = "done", _("Sent")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Preparation failed")


class FollowUpEngagement(models.TextChoices):
    ANY = "any", _("every recipient")
    NOT_OPENED = "notOpened", _("who did not open it")
    NOT_CLICKED = "notClicked", _("who did not click in it")
    CLICKED = "clicked", _("who clicked in it")


class Recurrence(models.TextChoices):
    ONCE = "once", _("once")
    DAILY = "daily", _("every day")


class MarketingDelivery(models.Model):
    label = models.CharField(_("label"), max_length=200)
    # The organisational unit it belongs to (organisations/selectors.py: who reads and writes it).
    unit = models.ForeignKey(
        "organisations.Unit",
        on_delete=models.PROTECT,
        default=unit_root_pk,
        related_name="+",
        verbose_name=_("organisational unit"),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.DRAFT
    )
    # The content, as a transactional message's (templates read {{ profile.<field> }}).
    sender_name = models.CharField(_("brand name"), max_length=200, blank=True)
    sender_email = models.EmailField(_("sender address"), blank=True)
    reply_to = models.EmailField(_("reply-to address"), blank=True)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    preheader = models.CharField(_("preheader"), max_length=255, blank=True)
    html = models.TextField(_("HTML content"), blank=True)
    text = models.TextField(_("text content"), blank=True, help_text=_("Empty: made from the HTML."))
    sms_text = models.TextField(_("SMS text"), blank=True)
    push_title = models.CharField(_("push title"), max_length=255, blank=True)
    push_body = models.TextField(_("push body"), blank=True)
    push_application = models.CharField(
        _("push application"), max_length=255, blank=True, help_text=_("e.g. com.example.shop")
    )
    locale = models.CharField(_("locale"), max_length=16, default="en")
    # Open pixel and click redirects in the HTML of its emails (delivery/tracking.py), as messages.
    tracking_enabled = models.BooleanField(
        _("track opens and clicks"),
        default=True,
        help_text=_("Adds an open pixel and click redirects to the HTML of the emails sent."),
    )
    # Who receives it.
    audience = models.JSONField(
        _("audience"),
        null=True,
        blank=True,
        help_text=_(
            'Profiles it goes to, as a condition, e.g. {"all": [{"field": "service", "op": "subscribed", '
            '"value": "newsletter"}]}; empty: every profile.'
        ),
    )
    service = models.ForeignKey(
        "profiles.Service",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="marketing_deliveries",
        verbose_name=_("subscription service"),
        help_text=_("Sent only to the service's subscribers; the unsubscribe link leaves this service."),
    )
    typology = models.ForeignKey(
        "typologies.Typology",
        on_delete=models.PROTECT,
        related_name="marketing_deliveries",
        verbose_name=_("typology"),
    )
    category = models.SlugField(_("category"), max_length=64, blank=True)
    # A follow-up (SPEC EVT-5(c)): to the recipients of a transactional message, chosen by when
    # they received it and what they did with it, personalised with the original event's data.
    follow_up_of = models.ForeignKey(
        "messages_app.TransactionalMessage",
        verbose_name=_("follow-up of"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="follow_ups",
        help_text=_("Sent to the recipients of this message instead of an audience of profiles."),
    )
    follow_up_min_days = models.PositiveSmallIntegerField(_("received at least (days ago)"), default=1)
    follow_up_max_days = models.PositiveSmallIntegerField(_("received at most (days ago)"), default=7)
    follow_up_engagement = models.CharField(
        _("who"), max_length=12, choices=FollowUpEngagement.choices, default=FollowUpEngagement.ANY
    )
    recurrence = models.CharField(
        _("repeat"),
        max_length=6,
        choices=Recurrence.choices,
        default=Recurrence.ONCE,
        help_text=_("Daily: once sent, it is prepared and sent again every day, to the new recipients only."),
    )
    scheduled_at = models.DateTimeField(
        _("send at"), null=True, blank=True, help_text=_("Empty: when confirmed.")
    )
    rate_per_second = models.PositiveIntegerField(
        _("messages per second"), null=True, blank=True, help_text=_("Empty: the channel's default throttle.")
    )
    # Figures of the preparation and the sending.
    audience_count = models.PositiveIntegerField(_("audience"), default=0)
    excluded_count = models.PositiveIntegerField(_("excluded"), default=0)
    target_count = models.PositiveIntegerField(_("to send"), default=0)
    sent_count = models.PositiveIntegerField(_("sent"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    error = models.TextField(_("error"), blank=True)
    # Changed at each confirm and resume: a batch queued before carries the old one and stops.
    send_token = models.PositiveIntegerField(_("send token"), default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    prepared_at = models.DateTimeField(_("prepared"), null=True, blank=True)
    started_at = models.DateTimeField(_("sending started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("marketing delivery")
        verbose_name_plural = _("marketing deliveries")
        permissions = [
            ("send_marketingdelivery", "Can prepare, confirm, pause and cancel a marketing delivery")
        ]

    def __str__(self) -> str:
        return self.label


class RecipientStatus(models.TextChoices):
    PENDING = "pending", _("To send")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    EXCLUDED = "excluded", _("Excluded")


class DeliveryRecipient(models.Model):
    """One profile of a prepared delivery: to send, sent, failed, or excluded by a rule."""

    delivery = models.ForeignKey(
        MarketingDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="recipients"
    )
    # A profile; for a follow-up, the event it follows up (and its profile when profile-based).
    profile = models.ForeignKey(
        "profiles.Profile",
        verbose_name=_("profile"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    event = models.ForeignKey(
        "events.Event",
        verbose_name=_("event"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    status = models.CharField(_("status"), max_length=10, choices=RecipientStatus.choices)
    rule = models.ForeignKey(
        "typologies.TypologyRule",
        verbose_name=_("rule"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    error = models.TextField(_("error"), blank=True)
    provider_message_id = models.CharField(_("provider message ID"), max_length=255, blank=True)
    sent_at = models.DateTimeField(pgettext_lazy("date", "sent"), null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        indexes = [models.Index(fields=["delivery", "status"], name="recipient_delivery_status")]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "profile"],
                condition=Q(event__isnull=True),
                name="unique_delivery_recipient",
            ),
            models.UniqueConstraint(fields=["delivery", "event"], name="unique_follow_up_event"),
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id}:{self.event_id or self.profile_id}"
