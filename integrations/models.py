from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from events.models import EventLog
from fastpath.rowcache import RowCachedQuerySet
from organisations.models import unit_root_pk


class Integration(models.Model):
    """API credentials of one website or system that calls the trigger API.

    The client id travels as `X-Api-Key`, the secret token as `Authorization: Bearer`.
    Only a SHA-256 digest of the token is stored: the token is random (256 bits), so a
    fast digest is as safe as a slow password hash and keeps the trigger path fast.
    """

    name = models.CharField(_("name"), max_length=200)
    client_id = models.CharField(_("client id"), max_length=64, unique=True, editable=False)
    token_hash = models.CharField(_("token hash"), max_length=64, editable=False)
    # First characters of the token, to recognise it without revealing it.
    token_hint = models.CharField(_("token hint"), max_length=12, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    # The organisational unit it belongs to (it triggers the events of that unit and below).
    unit = models.ForeignKey(
        "organisations.Unit",
        on_delete=models.PROTECT,
        default=unit_root_pk,
        related_name="+",
        verbose_name=_("organisational unit"),
    )
    # Scope (API-5 403): either every event, or only the listed event configurations.
    all_events = models.BooleanField(
        _("all events"),
        default=True,
        help_text=_("Allowed to trigger every event; otherwise only the events listed below."),
    )
    allowed_events = models.ManyToManyField(
        "events.EventConfiguration", blank=True, related_name="+", verbose_name=_("allowed events")
    )
    # Requests per second for this credential; empty for the default of CAMPAIGN_API_RATE_LIMIT.
    rate_limit = models.PositiveIntegerField(
        _("rate limit"),
        null=True,
        blank=True,
        help_text=_("Requests per second; empty for the server's default."),
    )
    # Optional status callback (webhook): final statuses are POSTed there, HMAC-signed.
    callback_url = models.URLField(
        _("status callback URL"),
        max_length=500,
        blank=True,
        help_text=_("https://… receiving final statuses."),
    )
    callback_secret = models.CharField(_("callback secret"), max_length=64, blank=True, editable=False)

    # Read by every trigger call through the row cache (fastpath/rowcache.py).
    objects = RowCachedQuerySet.as_manager()

    class Meta:
        # The table it had in the `campaign` app, kept when the model moved here.
        db_table = "campaign_integration"
        ordering = ["name"]
        # One name everywhere (admin, README): API credentials.
        verbose_name = _("API credentials")
        verbose_name_plural = _("API credentials")
        permissions = [("revoke_integration", "Can revoke API credentials")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyKey(models.Model):
    """The first answer to a request sent with an `Idempotency-Key` header, replayed byte for byte
    to retries of the same request by the same credential (API-6)."""

    integration = models.ForeignKey(
        Integration, verbose_name=_("integration"), on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(_("key"), max_length=255)
    # SHA-256 of method, path and body: another body under the same key is refused (422).
    request_hash = models.CharField(_("request hash"), max_length=64)
    # Null while the first request is in flight (a retry then gets 409).
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_content_type = models.CharField(_("response content type"), max_length=100, blank=True)
    response_body = models.BinaryField(_("response body"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        # The table it had in the `campaign` app, kept when the model moved here.
        db_table = "campaign_idempotencykey"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "key"], name="unique_idempotency_key_per_integration"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]
        verbose_name = _("idempotency key")
        verbose_name_plural = _("idempotency keys")

    def __str__(self) -> str:
        return self.key


class CallbackAttemptResult(models.TextChoices):
    # The receiver answered 2xx.
    DELIVERED = "delivered", _("Delivered")
    # Refused before connecting: the address is not allowed (SSRF protection) or the URL is bad.
    REFUSED = "refused", _("Refused")
    # Connection error, timeout, redirect or non-2xx answer: retried with backoff.
    FAILED = "failed", _("Failed")


class CallbackAttempt(EventLog):
    """Append-only log of the status callbacks sent to integrations."""

    integration = models.ForeignKey(
        Integration, verbose_name=_("integration"), on_delete=models.CASCADE, related_name="callback_attempts"
    )
    # Outlives its event (RETENTION_LOGS_DAYS against RETENTION_EVENTS_DAYS): see EventLog.
    event = models.ForeignKey(
        "events.Event",
        verbose_name=_("event"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    event_status = models.CharField(_("event status"), max_length=20)
    url = models.CharField(_("url"), max_length=500)
    result = models.CharField(_("result"), max_length=10, choices=CallbackAttemptResult.choices)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        # The table it had in the `campaign` app, kept when the model moved here.
        db_table = "campaign_callbackattempt"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["integration", "result", "created_at"], name="callback_attempt_lookup"),
            # The logs' retention, oldest first.
            models.Index(fields=["created_at"], name="callback_attempt_created"),
        ]
        verbose_name = _("callback attempt")
        verbose_name_plural = _("callback attempts")

    def __str__(self) -> str:
        return f"{self.event_status} -> {self.url}: {self.result}"
