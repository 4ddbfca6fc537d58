from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from campaign.channels import Channel, PushPlatform
from fastpath.rowcache import RowCachedQuerySet


class AttributeType(models.TextChoices):
    TEXT = "text", _("Text")
    INTEGER = "integer", _("Integer")
    DECIMAL = "decimal", _("Decimal")
    BOOLEAN = "boolean", _("Boolean")
    DATE = "date", _("Date")
    DATETIME = "datetime", _("Date and time")


class AttributeDefinition(models.Model):
    """A custom profile attribute, declared once by an administrator: its name (as templates see
    it, `profile.attributes.<name>`) and its type (what the profile form, imports and templates
    accept)."""

    name = models.SlugField(
        _("name"),
        max_length=64,
        unique=True,
        help_text=_("As templates see it: letters, digits and underscores, e.g. loyalty_tier."),
    )
    label = models.CharField(_("label"), max_length=200)
    type = models.CharField(
        _("type"), max_length=10, choices=AttributeType.choices, default=AttributeType.TEXT
    )
    description = models.TextField(_("description"), blank=True)

    # Read by every rendering and rule check of a profile-based event, through the row cache.
    objects = RowCachedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("profile attribute")
        verbose_name_plural = _("profile attributes")

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    """A stored recipient: what profile-based events are reconciled with and enriched from."""

    email = models.EmailField(_("email"), max_length=254, blank=True, db_index=True)
    mobile_phone = models.CharField(
        _("mobile phone"), max_length=16, blank=True, db_index=True, help_text=_("E.164, e.g. +33612345678")
    )
    # The website's own customer id, the usual join key of profile-based events.
    external_id = models.CharField(_("external ID"), max_length=128, blank=True, db_index=True)
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    language = models.CharField(_("language"), max_length=16, blank=True, help_text=_("e.g. en, fr, en-GB"))
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True, help_text=_("e.g. Europe/Paris"))
    attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)
    # The profile's own denylist, per channel (distinct from the address-level denylist): set when
    # the profile opted out of the channel, empty while it accepts messages on it.
    email_opted_out_at = models.DateTimeField(_("opted out of email"), null=True, blank=True)
    sms_opted_out_at = models.DateTimeField(_("opted out of SMS"), null=True, blank=True)
    push_opted_out_at = models.DateTimeField(_("opted out of push"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    modified_at = models.DateTimeField(_("modified"), auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "pk"]
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")
        indexes = [
            # Email addresses are reconciled regardless of case.
            models.Index(Lower("email"), name="profile_email_lower"),
        ]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} <{self.email}>" if name and self.email else name or self.email or f"Profile {self.pk}"

    def opted_out_at(self, channel: str):
        """When the profile opted out of the channel, or None."""
        return getattr(self, f"{channel}_opted_out_at")


class Service(models.Model):
    """A subscription service ("Newsletter", "Order updates"): a list profiles subscribe to and
    leave; a message may belong to one, and then goes only to its subscribers."""

    name = models.SlugField(_("name"), max_length=64, unique=True)
    label = models.CharField(_("label"), max_length=200)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["label"]
        verbose_name = _("subscription service")
        verbose_name_plural = _("subscription services")

    def __str__(self) -> str:
        return self.label


class SubscriptionSource(models.TextChoices):
    ADMIN = "admin", _("Administration")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    UNSUBSCRIBE_PAGE = "unsubscribePage", _("Unsubscribe page")
    ONE_CLICK = "oneClick", _("One-click unsubscribe")


class Subscription(models.Model):
    """One profile's subscription to one service: active while `unsubscribed_at` is empty."""

    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="subscriptions", verbose_name=_("profile")
    )
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="subscriptions", verbose_name=_("service")
    )
    subscribed_at = models.DateTimeField(_("subscribed"))
    unsubscribed_at = models.DateTimeField(_("unsubscribed"), null=True, blank=True)
    source = models.CharField(
        _("source"), max_length=20, choices=SubscriptionSource.choices, default=SubscriptionSource.ADMIN
    )

    class Meta:
        ordering = ["service", "profile"]
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(fields=["profile", "service"], name="unique_subscription"),
        ]

    def __str__(self) -> str:
        return f"{self.profile} → {self.service}"


class AppSubscription(models.Model):
    """A mobile application installed on one device of a profile: where its push notifications go.
    Disabled (never deleted) when the provider reports the token unregistered."""

    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="app_subscriptions", verbose_name=_("profile")
    )
    application = models.CharField(_("application"), max_length=255, help_text=_("e.g. com.example.shop"))
    platform = models.CharField(_("platform"), max_length=4, choices=PushPlatform.choices)
    registration_token = models.CharField(_("registration token"), max_length=4096)
    device = models.CharField(_("device"), max_length=200, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    disabled_at = models.DateTimeField(_("disabled"), null=True, blank=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=255, blank=True)

    class Meta:
        ordering = ["profile", "application", "-last_seen_at"]
        verbose_name = _("app subscription")
        verbose_name_plural = _("app subscriptions")
        constraints = [
            models.UniqueConstraint(
                fields=["application", "registration_token"], name="unique_app_registration_token"
            ),
        ]
        indexes = [models.Index(fields=["profile", "application"], name="app_subscription_profile_app")]

    def __str__(self) -> str:
        return f"{self.application} ({self.get_platform_display()}) {self.device}".strip()


class Suppression(models.Model):
    """An erased profile's address, kept only as a hash, so that no later import or event sends
    to it again."""

    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    # hex SHA-256 of the normalised address (email lower-cased, phone as given in E.164).
    address_hash = models.CharField(_("address hash"), max_length=64)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("suppressed address")
        verbose_name_plural = _("suppressed addresses")
        constraints = [
            models.UniqueConstraint(fields=["channel", "address_hash"], name="unique_suppression"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address_hash[:12]}…"


class ImportKey(models.TextChoices):
    """The column an import matches its rows to stored profiles by (upsert)."""

    EMAIL = "email", _("Email")
    MOBILE_PHONE = "mobile_phone", _("Mobile phone")
    EXTERNAL_ID = "external_id", _("External ID")


class ImportStatus(models.TextChoices):
    # The file is stored; a worker checks it row by row (nothing is written to profiles).
    CHECKING = "checking", _("Checking")
    # Checked: the preview and the error report are ready; waiting for confirmation.
    CHECKED = "checked", _("Checked")
    # Confirmed: a worker writes the rows to profiles, in one transaction.
    APPLYING = "applying", _("Importing")
    # Imported; the file and its staged rows are deleted.
    DONE = "done", _("Imported")
    # Cancelled before it was applied, or refused (errors); nothing was written to profiles.
    CANCELLED = "cancelled", _("Cancelled")
    # Stopped by an unexpected error; nothing was written to profiles.
    FAILED = "failed", _("Failed")


class ProfileImport(models.Model):
    """One CSV import of profiles: checked in full (preview, per-row error report) before anything
    is written, then applied in one transaction. The file and its staged rows are deleted once it
    is done, cancelled or failed: they hold personal data."""

    file_name = models.CharField(_("file"), max_length=255)
    file_size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    key = models.CharField(_("match profiles by"), max_length=20, choices=ImportKey.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=ImportStatus.choices, default=ImportStatus.CHECKING
    )
    # Progress of the current step: bytes of the file checked, rows written.
    bytes_checked = models.PositiveBigIntegerField(_("bytes checked"), default=0)
    rows_applied = models.PositiveIntegerField(_("rows imported"), default=0)
    # What the check found, per row action (see ImportRowAction).
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_new = models.PositiveIntegerField(_("new profiles"), default=0)
    rows_update = models.PositiveIntegerField(_("updated profiles"), default=0)
    rows_unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rows_skipped = models.PositiveIntegerField(_("skipped"), default=0)
    rows_invalid = models.PositiveIntegerField(_("rows with errors"), default=0)
    columns = models.JSONField(_("columns"), default=list, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("profile import")
        verbose_name_plural = _("profile imports")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"


class ProfileImportChunk(models.Model):
    """A block of the uploaded file, in order: the worker reads the file back block by block,
    wherever it runs, without holding it whole."""

    profile_import = models.ForeignKey(
        ProfileImport, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("profile import")
    )
    number = models.PositiveIntegerField(verbose_name=_("number"))
    data = models.BinaryField(verbose_name=_("data"))

    class Meta:
        verbose_name = _("profile import block")
        verbose_name_plural = _("profile import blocks")
        ordering = ["profile_import", "number"]
        constraints = [
            models.UniqueConstraint(fields=["profile_import", "number"], name="unique_import_chunk_number")
        ]

    def __str__(self) -> str:
        return f"{self.profile_import_id} #{self.number}"


class ImportRowAction(models.TextChoices):
    # No profile has the row's key: one is created.
    NEW = "new", _("New")
    # A profile has the row's key and differs: it is updated.
    UPDATE = "update", _("Update")
    # A profile has the row's key and already holds the row's values.
    UNCHANGED = "unchanged", _("Unchanged")
    # Not imported on purpose (a suppressed address): the reason is in `problems`.
    SKIPPED = "skipped", _("Skipped")
    # The row has errors (in `problems`): the import cannot be confirmed.
    INVALID = "invalid", _("Error")


class ProfileImportRow(models.Model):
    """One checked row of an import, staged until the import is confirmed: its cleaned values
    (`data`), what it would do, and its problems as [{"column", "problem"}]."""

    profile_import = models.ForeignKey(
        ProfileImport, on_delete=models.CASCADE, related_name="rows", verbose_name=_("profile import")
    )
    # The row's number as a spreadsheet shows it (the header is row 1).
    line = models.PositiveIntegerField(verbose_name=_("row"))
    action = models.CharField(verbose_name=_("action"), max_length=10, choices=ImportRowAction.choices)
    key = models.CharField(verbose_name=_("key"), max_length=254, blank=True)
    data = models.JSONField(verbose_name=_("values"), default=dict, encoder=DjangoJSONEncoder)
    changes = models.JSONField(verbose_name=_("changes"), default=list)
    problems = models.JSONField(verbose_name=_("problems"), default=list)

    class Meta:
        verbose_name = _("profile import row")
        verbose_name_plural = _("profile import rows")
        ordering = ["profile_import", "line"]
        indexes = [
            models.Index(fields=["profile_import", "action", "line"], name="import_row_action"),
            models.Index(fields=["profile_import", "key"], name="import_row_key"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_import_id} row {self.line}"
