import time
from collections.abc import Callable

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from audit.models import AuditAction
from audit.services import audit_changes, audit_record
from campaign.exceptions import ApplicationError, ValidationFailed
from organisations.models import Unit

from ..contract import ctx_schema_build, structure_check
from ..models import (
    EVENT_ID_MAX_LENGTH,
    EVENT_ID_PREFIX,
    EVENT_ID_RE,
    Channel,
    Event,
    EventCollection,
    EventConfiguration,
    EventConfigurationVersion,
    EventEnrichment,
    EventField,
    FieldType,
    PublicationLog,
    PublicationLogType,
    PublicationStatus,
    Targeting,
)
from ..selectors import PUSH_APPLICATION_KEY, configuration_publish_problems, configuration_structure

# A step of another app run inside a publication's transaction: returns what the log says of it.
Then = Callable[[EventConfiguration], str | None]


def event_id_normalize(raw: str) -> str:
    event_id = (raw or "").strip()
    if not event_id.startswith(EVENT_ID_PREFIX):
        event_id = EVENT_ID_PREFIX + event_id
    if event_id == EVENT_ID_PREFIX:
        raise ApplicationError(gettext("The ID is required."), code="event_id_required")
    if not EVENT_ID_RE.match(event_id):
        raise ApplicationError(
            gettext("The ID may hold letters, digits and '_' only (it becomes part of the API's URL)."),
            code="event_id_invalid",
        )
    if len(event_id) > EVENT_ID_MAX_LENGTH:
        raise ApplicationError(
            gettext(
                "The ID has {length} characters with the '{prefix}' prefix; at most {maximum} are allowed."
            ).format(length=len(event_id), prefix=EVENT_ID_PREFIX, maximum=EVENT_ID_MAX_LENGTH),
            code="event_id_too_long",
        )
    return event_id


@transaction.atomic
def event_config_create(
    *,
    event_id: str,
    label: str,
    channel: str,
    targeting: str,
    push_application: str = "",
    create_follow_up: bool = False,
    user: AbstractBaseUser | None = None,
    unit: Unit | None = None,
) -> EventConfiguration:
    """A new Draft configuration in `unit` (by default the root, "All")."""
    event_id = event_id_normalize(event_id)
    if channel not in Channel.values:
        raise ApplicationError(
            gettext("Unknown channel {channel!r}.").format(channel=channel), code="channel_invalid"
        )
    if targeting not in Targeting.values:
        raise ApplicationError(
            gettext("Unknown targeting dimension {targeting!r}.").format(targeting=targeting),
            code="targeting_invalid",
        )
    if not label.strip():
        raise ApplicationError(gettext("The label is required."), code="label_required")
    if EventConfiguration.objects.filter(event_id=event_id).exists():
        raise ApplicationError(
            gettext("An event configuration with ID {event_id} already exists.").format(event_id=event_id),
            code="event_id_taken",
        )
    config = EventConfiguration.objects.create(
        event_id=event_id,
        label=label.strip(),
        channel=channel,
        targeting=targeting,
        push_application=push_application.strip(),
        create_follow_up=create_follow_up,
        modified_by=user,
        **({"unit": unit} if unit is not None else {}),
    )
    audit_record(action=AuditAction.EVENT_CONFIG_CREATED, obj=config, after=_audited(config), user=user)
    return config


AUDITED_FIELDS = ("event_id", "label", "channel", "targeting", "push_application", "create_follow_up")


def _audited(config: EventConfiguration) -> dict:
    return {name: getattr(config, name) for name in AUDITED_FIELDS}


IMMUTABLE_FIELDS = {"event_id": "ID", "channel": "channel", "targeting": "targeting dimension"}


@transaction.atomic
def event_config_update(
    *, config: EventConfiguration, user: AbstractBaseUser | None = None, **changes
) -> EventConfiguration:
    """Change the editable attributes (label, organisational unit, the push application of a
    profile-based push configuration: a change of it waits for the next publish); the ID, channel
    and targeting never change."""
    for name, value in changes.items():
        if name in IMMUTABLE_FIELDS:
            if getattr(config, name) != value:
                raise ApplicationError(
                    gettext("The {field} cannot be changed after creation.").format(
                        field=IMMUTABLE_FIELDS[name]
                    ),
                    code="immutable",
                )
        elif name not in {"label", "push_application", "unit", "create_follow_up"}:
            raise ApplicationError(
                gettext("{name} cannot be changed here.").format(name=name), code="not_editable"
            )
    label = changes.get("label", config.label).strip()
    if not label:
        raise ApplicationError(gettext("The label is required."), code="label_required")
    # What the row holds, not the instance: an admin form has already set the new values on it.
    stored = EventConfiguration.objects.select_for_update().get(pk=config.pk)
    config.label = label
    config.push_application = changes.get("push_application", config.push_application).strip()
    # Its message and its events follow it (a message belongs to its configuration's unit).
    config.unit = changes.get("unit", config.unit)
    config.create_follow_up = changes.get("create_follow_up", config.create_follow_up)
    config.modified_by = user
    config.save(
        update_fields=["label", "push_application", "unit", "create_follow_up", "modified_by", "modified_at"]
    )
    before, after = audit_changes(before=_audited(stored), after=_audited(config))
    if after:
        audit_record(
            action=AuditAction.EVENT_CONFIG_CHANGED, obj=config, before=before, after=after, user=user
        )
    return config


class _Steps:
    """The publication log's step list, each with the milliseconds since the start."""

    def __init__(self):
        self.started = time.monotonic()
        self.items: list[dict] = []

    def elapsed_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)

    def add(self, step: str) -> None:
        self.items.append({"step": step, "ms": self.elapsed_ms()})


def event_config_publish(
    *, config: EventConfiguration, user: AbstractBaseUser | None = None, then: Then | None = None
) -> EventConfigurationVersion:
    """Check the draft data structure, compile it into the contract, freeze both into a new version
    and open the endpoint on it. `then(config)` runs in the same transaction (the publication
    service creates the message there) and returns the step it logs. A refused publish changes
    nothing: the previous publication keeps serving. Either way the attempt is logged."""
    steps = _Steps()
    try:
        with transaction.atomic():
            version = _publish(config=config, user=user, steps=steps, then=then)
    except ApplicationError as exc:
        # Logged after the rollback, so the failure is recorded while nothing else changed.
        steps.add(f"Refused: {exc.message}")
        PublicationLog.objects.create(
            configuration=config,
            type=PublicationLogType.PUBLISH_FAILED,
            steps=steps.items,
            errors=[e.as_dict() for e in exc.errors] or [{"path": "", "message": exc.message}],
            duration_ms=steps.elapsed_ms(),
            actor=user,
        )
        raise
    return version


def _publish(
    *, config: EventConfiguration, user: AbstractBaseUser | None, steps: _Steps, then: Then | None
) -> EventConfigurationVersion:
    config = EventConfiguration.objects.select_for_update().get(pk=config.pk)
    structure = configuration_structure(config=config)
    errors = configuration_publish_problems(config=config, structure=structure)
    fields, collections = len(structure["fields"]), len(structure["collections"])
    enrichments = len(structure["enrichments"])
    steps.add(
        gettext("Data structure checked: %(fields)s, %(collections)s, %(enrichments)s")
        % {
            "fields": ngettext("%d field", "%d fields", fields) % fields,
            "collections": ngettext("%d collection", "%d collections", collections) % collections,
            "enrichments": ngettext("%d enrichment", "%d enrichments", enrichments) % enrichments,
        }
    )
    if errors:
        raise ValidationFailed(
            gettext("{event_id} cannot be published: ").format(event_id=config.event_id)
            + "; ".join(f"{e.path}: {e.message}" for e in errors),
            code="structure_invalid",
            errors=errors,
        )
    schema = ctx_schema_build(fields=structure["fields"], collections=structure["collections"])
    steps.add("Contract compiled into the JSON Schema of ctx")
    number = (config.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = EventConfigurationVersion.objects.create(
        configuration=config, number=number, structure=structure, ctx_schema=schema, published_by=user
    )
    steps.add(f"Version {number} frozen")
    config.published_version = version
    config.status = PublicationStatus.PUBLISHED
    config.modified_by = user
    config.save(update_fields=["published_version", "status", "modified_by", "modified_at"])
    steps.add("Trigger endpoint serves the new version")
    step = then(config) if then is not None else None
    if step:
        steps.add(step)
    PublicationLog.objects.create(
        configuration=config,
        type=PublicationLogType.PUBLISHED,
        version=version,
        steps=steps.items,
        duration_ms=steps.elapsed_ms(),
        actor=user,
    )
    previous = config.versions.filter(number__lt=number).order_by("-number").first()
    audit_record(
        action=AuditAction.EVENT_CONFIG_PUBLISHED,
        obj=config,
        before={"version": previous.number if previous else None, "structure": previous.structure}
        if previous
        else {"version": None},
        after={"version": number, "structure": structure, "steps": [item["step"] for item in steps.items]},
        user=user,
    )
    return version


@transaction.atomic
def event_config_unpublish(
    *, config: EventConfiguration, user: AbstractBaseUser | None = None, then: Then | None = None
) -> EventConfiguration:
    """Close the endpoint (later events are refused, not stored). `then(config)` runs in the same
    transaction (the publication service unpublishes the message there) and returns the step it
    logs."""
    steps = _Steps()
    updated = EventConfiguration.objects.filter(pk=config.pk, status=PublicationStatus.PUBLISHED).update(
        status=PublicationStatus.DRAFT, modified_by=user, modified_at=timezone.now()
    )
    if not updated:
        raise ApplicationError(
            gettext("{event_id} is not published.").format(event_id=config.event_id), code="not_published"
        )
    steps.add("Trigger endpoint closed")
    config.refresh_from_db()
    step = then(config) if then is not None else None
    if step:
        steps.add(step)
    PublicationLog.objects.create(
        configuration=config,
        type=PublicationLogType.UNPUBLISHED,
        version=config.published_version,
        steps=steps.items,
        duration_ms=steps.elapsed_ms(),
        actor=user,
    )
    audit_record(
        action=AuditAction.EVENT_CONFIG_UNPUBLISHED,
        obj=config,
        before={"status": PublicationStatus.PUBLISHED},
        after={"status": PublicationStatus.DRAFT, "steps": [item["step"] for item in steps.items]},
        user=user,
    )
    return config


@transaction.atomic
def event_config_delete(*, config: EventConfiguration, user: AbstractBaseUser | None = None) -> None:
    """Delete a Draft configuration with its message(s), events and logs; a published one is refused."""
    locked = EventConfiguration.objects.select_for_update().filter(pk=config.pk).first()
    if locked is None:
        raise ApplicationError(
            gettext("{event_id} no longer exists.").format(event_id=config.event_id), code="not_found"
        )
    if locked.status != PublicationStatus.DRAFT:
        raise ApplicationError(
            gettext("{event_id} is published: unpublish it before deleting it.").format(
                event_id=config.event_id
            ),
            code="not_draft",
        )
    audit_record(
        action=AuditAction.EVENT_CONFIG_DELETED,
        obj=locked,
        before={**_audited(locked), "structure": configuration_structure(config=locked)},
        user=user,
    )
    # Events protect the versions they were accepted against: remove them first.
    Event.objects.filter(configuration=locked).delete()
    locked.delete()


def _field_columns(field: dict) -> dict:
    return {
        "field_id": field["field_id"],
        "label": field.get("label") or field["field_id"],
        "type": field["type"],
        "required": bool(field.get("required")),
        "max_length": field.get("max_length") if field["type"] == FieldType.TEXT else None,
        "allowed_values": "\n".join(field.get("allowed_values") or []),
    }


@transaction.atomic
def event_config_structure_set(
    *, config: EventConfiguration, structure: dict, user: AbstractBaseUser | None = None
) -> EventConfiguration:
    """Replace the draft data structure (fields, collections, enrichments) by `structure`.
    The published version is untouched until the next publish."""
    errors = structure_check(structure=structure, targeting=config.targeting, for_publish=False)
    if errors:
        raise ValidationFailed(
            gettext("The data structure of {event_id} is invalid: ").format(event_id=config.event_id)
            + "; ".join(f"{e.path}: {e.message}" for e in errors),
            code="structure_invalid",
            errors=errors,
        )
    # Serialised with publish, which reads the structure under the same lock.
    EventConfiguration.objects.select_for_update().filter(pk=config.pk).first()
    structure_before = configuration_structure(config=config)
    config.enrichments.all().delete()
    config.fields.all().delete()
    config.collections.all().delete()
    rows = [
        EventField(configuration=config, position=position, **_field_columns(field))
        for position, field in enumerate(structure.get("fields") or [])
    ]
    collections = {}
    for position, data in enumerate(structure.get("collections") or []):
        collection = EventCollection.objects.create(
            configuration=config,
            collection_id=data["collection_id"],
            label=data.get("label") or data["collection_id"],
            min_items=data.get("min_items"),
            max_items=data.get("max_items"),
            position=position,
        )
        collections[collection.collection_id] = collection
        rows.extend(
            EventField(configuration=config, collection=collection, position=index, **_field_columns(field))
            for index, field in enumerate(data["fields"])
        )
    EventField.objects.bulk_create(rows)
    EventEnrichment.objects.bulk_create(
        EventEnrichment(
            configuration=config,
            name=data["name"],
            collection=collections.get(data["target"]),
            resource=data["resource"],
            event_field=data["join"][0]["event_field"],
            profile_field=data["join"][0]["profile_field"],
            targeting=bool(data.get("targeting")),
            position=position,
        )
        for position, data in enumerate(structure.get("enrichments") or [])
    )
    # A package names the application of a profile-based push configuration in its structure.
    update_fields = ["modified_by", "modified_at"]
    if isinstance(structure.get(PUSH_APPLICATION_KEY), str):
        config.push_application = structure[PUSH_APPLICATION_KEY].strip()
        update_fields.append("push_application")
    config.modified_by = user
    config.save(update_fields=update_fields)
    before, after = audit_changes(before=structure_before, after=configuration_structure(config=config))
    if after:
        audit_record(
            action=AuditAction.EVENT_CONFIG_STRUCTURE_CHANGED,
            obj=config,
            before=before,
            after=after,
            user=user,
        )
    return config


def _free_event_id(base: str) -> str:
    base = base[: EVENT_ID_MAX_LENGTH - 6]
    candidate, number = f"{base}Copy", 1
    while EventConfiguration.objects.filter(event_id=candidate).exists():
        number += 1
        candidate = f"{base}Copy{number}"
    return candidate


@transaction.atomic
def event_config_duplicate(
    *,
    config: EventConfiguration,
    user: AbstractBaseUser | None = None,
    event_id: str | None = None,
    label: str | None = None,
) -> EventConfiguration:
    """A new Draft configuration with the same channel, targeting and data structure (the
    publication service copies its message)."""
    copy = event_config_create(
        event_id=event_id or _free_event_id(config.event_id),
        label=label or f"Copy of {config.label}",
        channel=config.channel,
        targeting=config.targeting,
        push_application=config.push_application,
        user=user,
        unit=config.unit,
    )
    _copy_rows(source=config, target=copy)
    return copy


def _copy_rows(*, source: EventConfiguration, target: EventConfiguration) -> None:
    collections = {}
    for collection in source.collections.all():
        old_pk = collection.pk
        collection.pk = None
        collection.configuration = target
        collection.save()
        collections[old_pk] = collection
    fields = list(source.fields.all())
    for field in fields:
        field.pk = None
        field.configuration = target
        field.collection = collections.get(field.collection_id)
    EventField.objects.bulk_create(fields)
    enrichments = list(source.enrichments.all())
    for enrichment in enrichments:
        enrichment.pk = None
        enrichment.configuration = target
        enrichment.collection = collections.get(enrichment.collection_id)
    EventEnrichment.objects.bulk_create(enrichments)
