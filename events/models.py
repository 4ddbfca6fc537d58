import re
from functools import lru_cache

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaign.channels import Channel, PushPlatform
from fastpath.rowcache import RowCachedQuerySet
from organisations.models import unit_root_pk

EVENT_ID_PREFIX = "EVT"
EVENT_ID_MAX_LENGTH = 64
EVENT_ID_RE = re.compile(r"^[A-Za-z0-9_]+$")
FIELD_ID_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Targeting(models.TextChoices):
    # The channel address travels in the event itself.
    EVENT = "event", _("Real-time event")
    # The event is reconciled with a stored profile.
    PROFILE = "profile", _("Profile")


class PublicationStatus(models.TextChoices):
    # Never published, or unpublished: the trigger endpoint refuses events.
    DRAFT = "draft", _("Draft")
    # The trigger endpoint accepts events against the published version.
    PUBLISHED = "published", _("Published")


class EventConfiguration(models.Model):
    event_id = models.CharField(_("ID"), max_length=EVENT_ID_MAX_LENGTH, unique=True)
    label = models.CharField(_("label"), max_length=200)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    targeting = models.CharField(
        _("targeting dimension"), max_length=10, choices=Targeting.choices, default=Targeting.EVENT
    )
    # Profile-based push: the mobile application whose registrations on the targeted profile's
    # devices receive the notification (event-based push events name theirs).
    push_application = models.CharField(
        _("push application"),
        max_length=255,
        blank=True,
        help_text=_(
            "Profile-based push only: the application (e.g. com.example.shop) whose registered devices "
            "of the targeted profile receive the notification."
        ),
    )
    # SPEC EVT-5(c): publishing also creates a follow-up (a marketing delivery to the recipients of
    # the message, marketing/), once.
    create_follow_up = models.BooleanField(
        _("create follow-up template"),
        default=False,
        help_text=_("Publishing creates a draft follow-up delivery to the recipients of the message."),
    )
    status = models.CharField(
        _("publication status"),
        max_length=10,
        choices=PublicationStatus.choices,
        default=PublicationStatus.DRAFT,
    )
    # The version the trigger endpoint validates against; kept after unpublish for history.
    published_version = models.ForeignKey(
        "EventConfigurationVersion",
        verbose_name=_("published version"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The organisational unit it belongs to (organisations/selectors.py: who reads and writes it).
    unit = models.ForeignKey(
        "organisations.Unit",
        on_delete=models.PROTECT,
        default=unit_root_pk,
        related_name="+",
        verbose_name=_("organisational unit"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    modified_at = models.DateTimeField(_("last modified"), auto_now=True)
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
        permissions = [("publish_eventconfiguration", "Can publish and unpublish event configurations")]
        verbose_name = _("event configuration")
        verbose_name_plural = _("event configurations")

    def __str__(self) -> str:
        return f"{self.label} ({self.event_id})"


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    INTEGER = "integer", _("Integer")
    DECIMAL = "decimal", _("Decimal number")
    BOOLEAN = "boolean", _("Boolean")
    DATE = "date", _("Date")
    DATETIME = "datetime", _("Date and time")
    EMAIL = "email", _("Email address")
    PHONE = "phone", _("Phone number (E.164)")
    URL = "url", _("URL")
    ENUMERATION = "enumeration", _("Enumeration")


# The field id whose value selects the message's language variant (SPEC EVT-4).
LANGUAGE_FIELD_ID = "AC_language"
FIELD_ID_HELP = _("Letters, digits and '_' only, not starting with a digit (e.g. firstName).")


class EventCollection(models.Model):
    """An array of objects under `ctx.<collection_id>`, each item with its own typed fields."""

    configuration = models.ForeignKey(
        EventConfiguration,
        verbose_name=_("configuration"),
        on_delete=models.CASCADE,
        related_name="collections",
    )
    collection_id = models.CharField(
        _("ID"), max_length=64, validators=[RegexValidator(FIELD_ID_RE, FIELD_ID_HELP)]
    )
    label = models.CharField(_("label"), max_length=200)
    min_items = models.PositiveIntegerField(
        _("minimum items"),
        null=True,
        blank=True,
        help_text=_("Empty: no minimum (the collection may be absent)."),
    )
    max_items = models.PositiveIntegerField(
        _("maximum items"), null=True, blank=True, help_text=_("Empty: no maximum.")
    )
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("collection")
        verbose_name_plural = _("collections")
        constraints = [
            models.UniqueConstraint(
                fields=["configuration", "collection_id"], name="unique_collection_id_per_event"
            )
        ]

    def __str__(self) -> str:
        return self.collection_id


class EventField(models.Model):
    """A typed field of the event's data structure, sent under `ctx` (or in each item of a collection)."""

    configuration = models.ForeignKey(
        EventConfiguration, verbose_name=_("configuration"), on_delete=models.CASCADE, related_name="fields"
    )
    # Empty: a field of the event itself; otherwise a field of each item of that collection.
    collection = models.ForeignKey(
        EventCollection,
        verbose_name=_("collection"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="fields",
        help_text=_("Empty for a field of the event; a collection for a field of each of its items."),
    )
    field_id = models.CharField(
        _("ID"), max_length=64, validators=[RegexValidator(FIELD_ID_RE, FIELD_ID_HELP)]
    )
    label = models.CharField(_("label"), max_length=200)
    type = models.CharField(_("type"), max_length=20, choices=FieldType.choices, default=FieldType.TEXT)
    max_length = models.PositiveIntegerField(
        _("max length"),
        null=True,
        blank=True,
        help_text=_("Maximum number of characters (text fields); empty for no limit."),
    )
    allowed_values = models.TextField(
        _("allowed values"), blank=True, help_text=_("Enumerations: the allowed values, one per line.")
    )
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("field")
        verbose_name_plural = _("fields")
        constraints = [
            models.UniqueConstraint(
                fields=["configuration", "field_id"],
                condition=models.Q(collection__isnull=True),
                name="unique_field_id_per_event",
            ),
            models.UniqueConstraint(
                fields=["collection", "field_id"],
                condition=models.Q(collection__isnull=False),
                name="unique_field_id_per_collection",
            ),
        ]

    def __str__(self) -> str:
        return self.field_id

    @property
    def allowed_values_list(self) -> list[str]:
        return [line.strip() for line in self.allowed_values.splitlines() if line.strip()]


class EnrichmentResource(models.TextChoices):
    PROFILE = "profile", _("Profile")


# The profile attributes a join can match on (the Profile model's field names).
PROFILE_JOIN_FIELDS = [
    ("email", _("Email")),
    ("mobile_phone", _("Mobile phone")),
    ("external_id", _("External ID")),
    ("first_name", _("First name")),
    ("last_name", _("Last name")),
]


class EventEnrichment(models.Model):
    """Joins the event (or each item of a collection) to one stored profile, by an event field."""

    configuration = models.ForeignKey(
        EventConfiguration,
        verbose_name=_("configuration"),
        on_delete=models.CASCADE,
        related_name="enrichments",
    )
    name = models.CharField(
        _("name"),
        max_length=64,
        validators=[RegexValidator(FIELD_ID_RE, FIELD_ID_HELP)],
        help_text=_("The templates' variable: {{ name.first_name }}, {{ item.name.first_name }} in items."),
    )
    # Empty: the event itself; otherwise each item of this collection is enriched.
    collection = models.ForeignKey(
        EventCollection,
        verbose_name=_("collection"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="enrichments",
        help_text=_("Empty to enrich the event; a collection to enrich each of its items."),
    )
    resource = models.CharField(
        _("resource"), max_length=20, choices=EnrichmentResource.choices, default=EnrichmentResource.PROFILE
    )
    event_field = models.CharField(
        _("event field"),
        max_length=64,
        help_text=_("The field id (of the event or of the item) holding the key."),
    )
    profile_field = models.CharField(
        _("profile field"), max_length=32, choices=PROFILE_JOIN_FIELDS, default="email"
    )
    targeting = models.BooleanField(
        _("targeting enrichment"),
        default=False,
        help_text=_("Profile-based configurations: the profile this join finds receives the message."),
    )
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "pk"]
        verbose_name = _("enrichment")
        verbose_name_plural = _("enrichments")
        constraints = [
            models.UniqueConstraint(fields=["configuration", "name"], name="unique_enrichment_name_per_event")
        ]

    def __str__(self) -> str:
        return self.name


class EventConfigurationVersion(models.Model):
    """A frozen snapshot of the data structure, taken at publish; never changed afterwards."""

    configuration = models.ForeignKey(
        EventConfiguration, verbose_name=_("configuration"), on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("number"))
    # {"fields", "collections", "enrichments"} as published (see contract.py), and the JSON Schema
    # of the payload's `ctx` compiled from it.
    structure = models.JSONField(_("structure"))
    ctx_schema = models.JSONField(_("ctx schema"))
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
            models.UniqueConstraint(fields=["configuration", "number"], name="unique_event_version_number")
        ]
        verbose_name = _("event configuration version")
        verbose_name_plural = _("event configuration versions")

    def __str__(self) -> str:
        return f"{self.configuration.event_id} v{self.number}"


class PublicationLogType(models.TextChoices):
    PUBLISHED = "published", _("Published")
    # The publish was refused; the previous publication keeps serving.
    PUBLISH_FAILED = "publish_failed", _("Publish failed")
    UNPUBLISHED = "unpublished", _("Unpublished")


class PublicationLog(models.Model):
    """Append-only: one entry per publish or unpublish attempt, with its steps and errors."""

    configuration = models.ForeignKey(
        EventConfiguration,
        verbose_name=_("configuration"),
        on_delete=models.CASCADE,
        related_name="publication_logs",
    )
    type = models.CharField(_("type"), max_length=20, choices=PublicationLogType.choices)
    version = models.ForeignKey(
        EventConfigurationVersion,
        verbose_name=_("version"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # [{"step": <text>, "ms": <duration>}] in order, then the errors [{"path", "message"}] if refused.
    steps = models.JSONField(_("steps"), default=list, encoder=DjangoJSONEncoder)
    errors = models.JSONField(_("errors"), default=list, encoder=DjangoJSONEncoder)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["configuration", "type", "created_at"], name="publication_log_lookup")
        ]
        verbose_name = _("publication log")
        verbose_name_plural = _("publication logs")

    def __str__(self) -> str:
        return f"{self.configuration_id} {self.type} {self.created_at:%Y-%m-%d %H:%M:%S}"


# The top-level address keys of an event-based payload per channel (ACS's names), and the
# Event attribute each one is stored in.
ADDRESS_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    Channel.EMAIL: (("email", "email"),),
    Channel.SMS: (("mobilePhone", "mobile_phone"),),
    Channel.PUSH: (
        ("registrationToken", "push_token"),
        ("application", "push_application"),
        ("pushPlatform", "push_platform"),
    ),
}


class EventStatus(models.TextChoices):
    # Received and stored; waiting for a worker.
    PENDING = "pending", _("Pending")
    # Claimed by a worker: being rendered and sent.
    PROCESSING = "processing", _("Processing")
    # The message is paused; the event waits for resume or its expiration.
    PAUSED = "paused", _("Paused")
    # The message was accepted by the provider.
    PROCESSED = "processed", _("Processed")
    # Not sent on purpose (quarantine, denylist, typology rule).
    IGNORED = "ignored", _("Ignored")
    # Sending failed for good.
    DELIVERY_FAILED = "deliveryFailed", _("Delivery failed")
    # No published message to route the event to.
    ROUTING_FAILED = "routingFailed", _("Routing failed")
    # Expired before it could be processed.
    TOO_OLD = "tooOld", _("Too old")
    # Profile reconciliation or targeting enrichment failed.
    TARGETING_FAILED = "targetingFailed", _("Targeting failed")


FINAL_STATUSES = frozenset(
    {
        EventStatus.PROCESSED,
        EventStatus.IGNORED,
        EventStatus.DELIVERY_FAILED,
        EventStatus.ROUTING_FAILED,
        EventStatus.TOO_OLD,
        EventStatus.TARGETING_FAILED,
    }
)


class Event(models.Model):
    """One call of the trigger API, stored before the API answers."""

    pkey = models.CharField(_("PKey"), max_length=64, editable=False)
    # Indexed by event_latest_per_config, which starts with it.
    configuration = models.ForeignKey(
        EventConfiguration,
        verbose_name=_("configuration"),
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
    )
    configuration_version = models.ForeignKey(
        EventConfigurationVersion,
        verbose_name=_("configuration version"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    integration = models.ForeignKey(
        "integrations.Integration",
        verbose_name=_("integration"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The channel address of an event-based event (the one matching its channel is set). The text
    # columns the trigger leaves empty have database defaults: its INSERT names only what it sets.
    email = models.EmailField(_("email"), max_length=254, blank=True, default="", db_default="")
    mobile_phone = models.CharField(
        _("mobile phone"),
        max_length=16,
        blank=True,
        help_text=_("E.164, e.g. +33612345678"),
        default="",
        db_default="",
    )
    push_token = models.CharField(
        _("registration token"), max_length=4096, blank=True, default="", db_default=""
    )
    push_application = models.CharField(
        _("application"), max_length=255, blank=True, default="", db_default=""
    )
    push_platform = models.CharField(
        _("push platform"), max_length=4, choices=PushPlatform.choices, blank=True, default="", db_default=""
    )
    ctx = models.JSONField(_("ctx"), default=dict)
    scheduled = models.DateTimeField(_("scheduled"), null=True, blank=True)
    expiration = models.DateTimeField(_("expiration"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=EventStatus.choices, default=EventStatus.PENDING
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    # When the dispatcher handed the `pending` event to the transactional queue (DLV-3): the API
    # only stores the event; the dispatcher of the transactional workers publishes what is not yet.
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True, editable=False)
    # The provider's id of the sent message (the Message-ID header for SMTP).
    provider_message_id = models.CharField(
        _("provider message id"), max_length=255, blank=True, default="", db_default=""
    )
    error = models.TextField(_("error"), blank=True, default="", db_default="")
    # Delivery attempts logged so far (DeliveryAttempt rows), moved with the status in the same
    # transaction: the next attempt's number without counting the log. The database default lets
    # code that does not know the column yet insert events during a deploy.
    attempts = models.IntegerField(_("attempts"), default=0, db_default=0, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]
        # A plain unique index on pkey (a `unique=True` field would add a second one, for LIKE).
        constraints = [models.UniqueConstraint(fields=["pkey"], name="event_pkey_unique")]
        indexes = [
            models.Index(fields=["configuration", "-created_at"], name="event_latest_per_config"),
            models.Index(fields=["status", "updated_at"], name="event_status_updated"),
            # The report rollup job reads finished events by the time they finished (reports/rollup.py).
            models.Index(
                fields=["processed_at"],
                condition=models.Q(processed_at__isnull=False),
                name="event_processed_at",
            ),
            # The dispatcher's scan: small, whatever the size of the table.
            models.Index(
                fields=["id"],
                condition=models.Q(status="pending", dispatched_at__isnull=True),
                name="event_to_dispatch",
            ),
        ]
        verbose_name = _("event")
        verbose_name_plural = _("events")

    def __str__(self) -> str:
        return self.pkey


# --- The trigger's shortcuts, next to the model they depend on (fastpath/__init__.py) -----------


@lru_cache(maxsize=16)
def event_insert_fields(also: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The fields the trigger's INSERT (and the batch's COPY) names: every concrete field but the
    primary key and those the database fills itself with their `db_default` (equal to the model
    default: a test checks it), plus `also`, those of them the row sets. Derived from the model,
    so a new field is sent unless it is given a `db_default`."""
    return tuple(
        field.name
        for field in Event._meta.concrete_fields
        if not field.primary_key and (field.db_default is models.NOT_PROVIDED or field.name in also)
    )


@lru_cache(maxsize=1)
def _event_defaults() -> tuple[dict, tuple]:
    """The model defaults of a new Event's columns in their order (None for the primary key), and
    the fields whose default is made anew for each row (a callable, such as `dict`)."""
    columns = Event._meta.concrete_fields
    made = tuple(column for column in columns if column.has_default() and callable(column.default))
    return {column.attname: column.get_default() for column in columns}, made


def event_new(**values) -> Event:
    """A new, unsaved Event of `values` (by attname) over the model defaults, built from positional
    arguments in the columns' order: a third of the time keyword arguments take through
    Model.__init__, on the hot path."""
    defaults, made = _event_defaults()
    row = dict(defaults)
    for column in made:
        row[column.attname] = column.get_default()  # an existing key: order kept
    row.update(values)
    if len(row) != len(defaults):
        raise TypeError(f"Unknown Event columns: {sorted(set(row) - set(defaults))}")
    return Event(*row.values())


class EventLog(models.Model):
    """What a log of an event's sending keeps of the event (delivery attempts, exclusions, provider
    feedback, status callbacks): its PKey and configuration, written with the row, so that the log
    stays meaningful once retention has deleted the event (RETENTION_EVENTS_DAYS) and left its logs
    (RETENTION_LOGS_DAYS). Each log declares its own nullable link to the event.

    No constraint nor index on the configuration: no check nor index entry per row written on the
    delivery path (the admin joins it to scope the log; deleting a draft takes its logs). The PKey's
    database default: a worker still running the code from before the migration writes rows
    without it."""

    event_pkey = models.CharField(_("PKey"), max_length=64, blank=True, default="", db_default="")
    configuration = models.ForeignKey(
        "events.EventConfiguration",
        verbose_name=_("configuration"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )

    class Meta:
        abstract = True
