from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditSource(models.TextChoices):
    ADMIN = "admin", _("Admin")  # a screen of the web interface
    API = "api", _("API")  # a call of the REST API
    COMMAND = "command", _("Command")  # a management command (manage.py ...)
    SYSTEM = "system", _("System")  # none of the above: a worker task, a shell


class AuditAction(models.TextChoices):
    """Stable codes: exports and filters rely on them; the labels may be translated."""

    EVENT_CONFIG_CREATED = "event_config.created", _("Event configuration created")
    EVENT_CONFIG_CHANGED = "event_config.changed", _("Event configuration changed")
    EVENT_CONFIG_STRUCTURE_CHANGED = "event_config.structure_changed", _("Data structure changed")
    EVENT_CONFIG_DELETED = "event_config.deleted", _("Event configuration deleted")
    EVENT_CONFIG_PUBLISHED = "event_config.published", _("Event configuration published")
    EVENT_CONFIG_UNPUBLISHED = "event_config.unpublished", _("Event configuration unpublished")
    MESSAGE_CHANGED = "message.changed", _("Message content changed")
    MESSAGE_PUBLISHED = "message.published", _("Message published")
    MESSAGE_UNPUBLISHED = "message.unpublished", _("Message unpublished")
    MESSAGE_PAUSED = "message.paused", _("Message paused")
    MESSAGE_RESUMED = "message.resumed", _("Message resumed")
    MESSAGE_ROLLED_BACK = "message.rolled_back", _("Message rolled back")
    PACKAGE_IMPORTED = "package.imported", _("Package imported")
    INTEGRATION_CREATED = "integration.created", _("API credentials created")
    INTEGRATION_CHANGED = "integration.changed", _("API credentials changed")
    INTEGRATION_TOKEN_ROTATED = "integration.token_rotated", _("API token replaced")
    INTEGRATION_CALLBACK_SECRET_ROTATED = "integration.callback_secret_rotated", _("Callback secret replaced")
    INTEGRATION_REVOKED = "integration.revoked", _("API credentials revoked")
    USER_CREATED = "user.created", _("User created")
    USER_CHANGED = "user.changed", _("User changed")
    USER_PASSWORD_CHANGED = "user.password_changed", _("User password changed")
    USER_GROUPS_CHANGED = "user.groups_changed", _("User roles changed")
    USER_DEACTIVATED = "user.deactivated", _("User deactivated")
    USER_TWO_FACTOR_ENABLED = "user.two_factor_enabled", _("Two-factor authentication enabled")
    USER_TWO_FACTOR_DISABLED = "user.two_factor_disabled", _("Two-factor authentication disabled")
    QUARANTINE_RELEASED = "quarantine.released", _("Address released from quarantine")
    UNIT_CREATED = "unit.created", _("Organisational unit created")
    UNIT_RENAMED = "unit.renamed", _("Organisational unit renamed")
    USER_UNIT_CHANGED = "user.unit_changed", _("User's unit changed")
    PRIVACY_EXPORTED = "privacy.exported", _("Personal data exported")
    PRIVACY_ERASED = "privacy.erased", _("Personal data erased")


class AuditEntry(models.Model):
    """One change, append-only: written by `audit.services.audit_record` in the transaction of the
    change, never updated or deleted (a database trigger refuses it on PostgreSQL)."""

    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    source = models.CharField(_("from"), max_length=16, choices=AuditSource.choices)
    # No database constraint: an entry outlives its user, and the log never changes to forget one.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_integration_id = models.BigIntegerField(_("integration id"), null=True, blank=True)
    # Who, as it was named then: the username, the integration's name or the command.
    actor_label = models.CharField(_("who"), max_length=200, blank=True)
    ip_network = models.CharField(_("network"), max_length=64, blank=True)
    action = models.CharField(_("action"), max_length=64, choices=AuditAction.choices)
    object_type = models.CharField(_("object type"), max_length=100)
    object_id = models.CharField(_("object id"), max_length=100, blank=True)
    object_label = models.CharField(_("object"), max_length=300, blank=True)
    # {"before": {...}, "after": {...}} for a change of fields, {"diff": [...]} for content.
    changes = models.JSONField(_("changes"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "created_at"], name="audit_object_idx"),
            models.Index(fields=["action", "created_at"], name="audit_action_idx"),
            models.Index(fields=["actor", "created_at"], name="audit_actor_idx"),
        ]

    def __str__(self):
        who = self.actor_label or self.source
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who}: {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditEntryImmutable("An audit entry cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditEntryImmutable("An audit entry cannot be deleted.")


class AuditEntryImmutable(Exception):
    pass
