from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _


class PrivacyRequestKind(models.TextChoices):
    # Everything held about a profile, given as one JSON document.
    EXPORT = "export", _("Export")
    # The profile's personal data removed everywhere; its addresses suppressed.
    ERASE = "erase", _("Erase")


class PrivacyRequestOutcome(models.TextChoices):
    DONE = "done", _("Done")
    # Nothing was changed (erase runs in one transaction).
    FAILED = "failed", _("Failed")


class PrivacyRequest(models.Model):
    """Append-only record of one privacy request run on a profile: who ran it, when, what it did.
    It holds no personal data: the profile is named by a hash of its address (see
    privacy.selectors.subject_reference), and the outcome by counts per table."""

    kind = models.CharField(_("kind"), max_length=10, choices=PrivacyRequestKind.choices)
    subject_hash = models.CharField(
        _("profile reference (hash)"),
        max_length=64,
        db_index=True,
        help_text=_(
            "SHA-256 of the profile's email (lower-cased), else of its phone, else of its external ID."
        ),
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=PrivacyRequestOutcome.choices)
    # {"<table>": <rows changed or deleted>} for an erase, {"events": n, ...} for an export.
    detail = models.JSONField(_("detail"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(_("error"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("requested by"),
    )
    # Who ran it when no user did (a management command): the operating-system user.
    requested_by_name = models.CharField(_("requested by (name)"), max_length=150, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("privacy request")
        verbose_name_plural = _("privacy requests")
        indexes = [models.Index(fields=["kind", "created_at"], name="privacy_request_kind_time")]
        permissions = [
            ("export_profile_data", _("Can export everything held about a profile")),
            ("erase_profile_data", _("Can erase a profile's personal data")),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.subject_hash[:12]}… {self.created_at:%Y-%m-%d %H:%M}"
