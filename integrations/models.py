from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from fastpath.rowcache import RowCachedQuerySet
from organisations.models import unit_root_pk


class Integration(models.Model):
    """API credentials of one website or system that calls the trigger API.

    The client id travels as `X-Api-Key`, the secret token as `Authorization: Bearer`.
    Only a SHA-256 digest of the token is stored: the token is random (256 bits), so a
    fast digest is as safe as a slow password hash and keeps the trigger path fast.
    """

    name = models.CharField(max_length=200)
    client_id = models.CharField(max_length=64, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    # First characters of the token, to recognise it without revealing it.
    token_hint = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
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
        default=True, help_text="Allowed to trigger every event; otherwise only the events listed below."
    )
    allowed_events = models.ManyToManyField(
        "events.EventConfiguration", blank=True, related_name="+", verbose_name="allowed events"
    )
    # Requests per second for this credential; empty for the default of CAMPAIGN_API_RATE_LIMIT.
    rate_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per second; empty for the server's default."
    )
    # Optional status callback (webhook): final statuses are POSTed there, HMAC-signed.
    callback_url = models.URLField(
        "status callback URL", max_length=500, blank=True, help_text="https://… receiving final statuses."
    )
    callback_secret = models.CharField(max_length=64, blank=True, editable=False)

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

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # SHA-256 of method, path and body: another body under the same key is refused (422).
    request_hash = models.CharField(max_length=64)
    # Null while the first request is in flight (a retry then gets 409).
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        # The table it had in the `campaign` app, kept when the model moved here.
        db_table = "campaign_idempotencykey"
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "key"], name="unique_idempotency_key_per_integration"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]

    def __str__(self) -> str:
        return self.key


class CallbackAttemptResult(models.TextChoices):
    # The receiver answered 2xx.
    DELIVERED = "delivered", "Delivered"
    # Refused before connecting: the address is not allowed (SSRF protection) or the URL is bad.
    REFUSED = "refused", "Refused"
    # Connection error, timeout, redirect or non-2xx answer: retried with backoff.
    FAILED = "failed", "Failed"


class CallbackAttempt(models.Model):
    """Append-only log of the status callbacks sent to integrations."""

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="callback_attempts")
    event = models.ForeignKey("events.Event", on_delete=models.CASCADE, related_name="+")
    event_status = models.CharField(max_length=20)
    url = models.CharField(max_length=500)
    result = models.CharField(max_length=10, choices=CallbackAttemptResult.choices)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table it had in the `campaign` app, kept when the model moved here.
        db_table = "campaign_callbackattempt"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["integration", "result", "created_at"], name="callback_attempt_lookup")
        ]

    def __str__(self) -> str:
        return f"{self.event_status} -> {self.url}: {self.result}"
