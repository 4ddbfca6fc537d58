import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _lazy

from campaign.exceptions import FieldError
from fastpath.rowcache import rowcache_get

from .contract import structure_check
from .models import (
    ADDRESS_KEYS,
    Channel,
    Event,
    EventCollection,
    EventConfiguration,
    EventConfigurationVersion,
    EventEnrichment,
    EventField,
    FieldType,
    PublicationLog,
    PublicationStatus,
    Targeting,
)

# The configuration columns the trigger path reads, in the order of the query below.
_TRIGGER_FIELDS = ("id", "event_id", "channel", "targeting", "status", "published_version")
# The message status that holds new events (messages_app.models.MessageStatus.PAUSED; a test
# checks they are equal): the trigger reads it in its one query, without importing the app above.
MESSAGE_PAUSED = "paused"


@lru_cache(maxsize=1)
def _trigger_sql() -> tuple[str, list[str]]:
    quote = connection.ops.quote_name
    config, version = EventConfiguration._meta, EventConfigurationVersion._meta
    # The message of a configuration, reached through the reverse one-to-one relation.
    message = config.get_field("message").related_model._meta
    # Its unit's path: who may trigger it (a unit's path never changes, so it may be cached).
    unit = config.get_field("unit").related_model._meta

    def column(meta, name: str) -> str:
        return quote(meta.get_field(name).column)

    columns = ", ".join(f"c.{column(config, name)}" for name in _TRIGGER_FIELDS)
    sql = (
        f"SELECT {columns}, v.{column(version, 'published_at')}, m.{column(message, 'status')} = %s,"  # noqa: S608
        f" u.{column(unit, 'path')}"
        f" FROM {quote(config.db_table)} c"
        f" JOIN {quote(version.db_table)} v"
        f" ON v.{column(version, 'id')} = c.{column(config, 'published_version')}"
        f" LEFT JOIN {quote(message.db_table)} m"
        f" ON m.{column(message, 'configuration')} = c.{column(config, 'id')}"
        f" JOIN {quote(unit.db_table)} u ON u.{column(unit, 'id')} = c.{column(config, 'unit')}"
        f" WHERE c.{column(config, 'event_id')} = %s AND c.{column(config, 'status')} = %s"
    )
    return sql, [config.get_field(name).attname for name in _TRIGGER_FIELDS]


def _trigger_row(event_id: str) -> tuple | None:
    sql, _ = _trigger_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [MESSAGE_PAUSED, event_id, PublicationStatus.PUBLISHED])
        return cursor.fetchone()


def configuration_for_trigger_get(*, event_id: str) -> EventConfiguration | None:
    """The published configuration of `event_id` with what the trigger path reads (other fields
    load on access), `published_version_published_at` (the key of its per-version caches) and
    `message_paused` (whether its message holds new events) and `unit_path` (the path of its
    organisational unit): one query with SQL built once, read
    from the process's row cache (fastpath/rowcache.py) when it holds it."""
    row = rowcache_get(("trigger_configuration", event_id), lambda: _trigger_row(event_id))
    if row is None:
        return None
    config = EventConfiguration.from_db(connection.alias, _trigger_sql()[1], row[:-3])
    config.published_version_published_at = row[-3]
    config.message_paused = bool(row[-2])
    config.unit_path = row[-1]
    return config


def event_get(*, event_id: str, pkey: str) -> Event | None:
    return (
        Event.objects.select_related("configuration")
        .filter(pkey=pkey, configuration__event_id=event_id)
        .first()
    )


def _field_structure(field: EventField) -> dict:
    data = {"field_id": field.field_id, "label": field.label, "type": field.type, "required": field.required}
    if field.type == FieldType.TEXT:
        data["max_length"] = field.max_length
    if field.type == FieldType.ENUMERATION:
        data["allowed_values"] = field.allowed_values_list
    return data


def configuration_structure(*, config: EventConfiguration) -> dict:
    """The draft data structure, in the shape frozen into `EventConfigurationVersion.structure`;
    a profile-based push configuration's also names its application (`push_application`), which
    its events keep as they keep the rest of the structure."""
    structure = structure_from_rows(
        fields=EventField.objects.filter(configuration=config),
        collections=EventCollection.objects.filter(configuration=config),
        enrichments=EventEnrichment.objects.filter(configuration=config),
    )
    if is_profile_push(config=config):
        structure[PUSH_APPLICATION_KEY] = config.push_application
    return structure


# The structure's key naming a profile-based push configuration's application.
PUSH_APPLICATION_KEY = "push_application"


def is_profile_push(*, config: EventConfiguration) -> bool:
    return config.targeting == Targeting.PROFILE and config.channel == Channel.PUSH


def _in_order(rows: Iterable) -> list:
    # New rows (no primary key yet) after the saved ones of the same position.
    return sorted(rows, key=lambda row: (row.position, row.pk is None, row.pk or 0))


def _collection_key(collection: EventCollection) -> object:
    return collection.pk if collection.pk is not None else id(collection)


def _collection_of(row: EventField | EventEnrichment) -> object:
    """The key of a row's collection: its primary key, or, for a row of the admin's inlines placed
    in a collection added in the same change (not saved yet), that collection's own key."""
    if row.collection_id is not None:
        return row.collection_id
    if type(row).collection.is_cached(row) and row.collection is not None:
        return _collection_key(row.collection)
    return None


def structure_from_rows(
    *,
    fields: Iterable[EventField],
    collections: Iterable[EventCollection],
    enrichments: Iterable[EventEnrichment],
) -> dict:
    """The data structure these rows make, each list in its rows' position order: the saved rows of
    a configuration, or the rows the admin's inlines hold before they are saved (a field or an
    enrichment names its collection by the collection's primary key, or by the collection itself
    when that is added in the same change)."""
    collections = _in_order(collections)
    members: dict[object, list[EventField]] = {}
    for field in _in_order(fields):
        members.setdefault(_collection_of(field), []).append(field)
    by_key = {_collection_key(collection): collection for collection in collections}
    return {
        "fields": [_field_structure(field) for field in members.get(None, [])],
        "collections": [
            {
                "collection_id": collection.collection_id,
                "label": collection.label,
                "min_items": collection.min_items,
                "max_items": collection.max_items,
                "fields": [_field_structure(f) for f in members.get(_collection_key(collection), [])],
            }
            for collection in collections
        ],
        "enrichments": [
            {
                "name": enrichment.name,
                "target": by_key[_collection_of(enrichment)].collection_id
                if _collection_of(enrichment) is not None
                else "event",
                "resource": enrichment.resource,
                "join": [{"event_field": enrichment.event_field, "profile_field": enrichment.profile_field}],
                "targeting": enrichment.targeting,
            }
            for enrichment in _in_order(enrichments)
        ],
    }


# The parts of a data structure's paths (`collections[0].fields[1].max_length`), in people's words.
_PATH_PARTS = {
    "field_id": _lazy("ID"),
    "collection_id": _lazy("ID"),
    "label": _lazy("label"),
    "type": _lazy("type"),
    "max_length": _lazy("maximum length"),
    "allowed_values": _lazy("allowed values"),
    "min_items": _lazy("minimum items"),
    "max_items": _lazy("maximum items"),
    "name": _lazy("name"),
    "target": _lazy("collection"),
    "resource": _lazy("resource"),
    "join": _lazy("join"),
    "event_field": _lazy("event field"),
    "profile_field": _lazy("profile field"),
    "targeting": _lazy("targeting enrichment"),
}
_PATH_STEP = re.compile(r"(\w+)(?:\[(\d+)\])?")


def structure_error_place(*, path: str, structure: dict | None = None) -> str:
    """Where in the data structure an error is, as people say it: `collections[0].fields[1].type`
    is 'Field “price” of the collection “items”, type'. Without the structure (or past its end),
    rows are named by their number."""
    structure = structure if isinstance(structure, dict) else {}
    steps = [(m.group(1), m.group(2)) for m in _PATH_STEP.finditer(path)]
    if not steps:
        return gettext("Data structure")
    whole = {
        "fields": gettext("Fields and collections"),
        "enrichments": gettext("Enrichments"),
        "structure": gettext("Data structure"),
        PUSH_APPLICATION_KEY: gettext("Push application"),
    }
    name, index = steps[0]
    if index is None or name not in ("fields", "collections", "enrichments"):
        return whole.get(name, name)
    row = _row(structure.get(name), int(index))
    number = int(index) + 1
    rest = steps[1:]
    if name == "fields":
        place = _named(row.get("field_id"), gettext("Field “%s”"), gettext("Field %d"), number)
    elif name == "enrichments":
        place = _named(row.get("name"), gettext("Enrichment “%s”"), gettext("Enrichment %d"), number)
    else:
        collection = _named(
            row.get("collection_id"), gettext("collection “%s”"), gettext("collection %d"), number
        )
        place = collection[:1].upper() + collection[1:]
        if rest and rest[0][0] == "fields" and rest[0][1] is not None:
            items = row.get("fields") if isinstance(row.get("fields"), list) else []
            item_index = int(rest[0][1])
            item = (
                items[item_index] if item_index < len(items) and isinstance(items[item_index], dict) else {}
            )
            field = _named(item.get("field_id"), gettext("Field “%s”"), gettext("Field %d"), item_index + 1)
            place = gettext("%(field)s of the %(collection)s") % {"field": field, "collection": collection}
            rest = rest[1:]
        elif rest and rest[0][0] == "fields":
            rest = rest[1:]
    words = [str(_PATH_PARTS[part]) for part, _index in rest if part in _PATH_PARTS]
    return ", ".join([place, words[-1]]) if words else place


def _row(rows: object, index: int) -> dict:
    if isinstance(rows, list) and index < len(rows) and isinstance(rows[index], dict):
        return rows[index]
    return {}


def _named(value: object, with_name: str, with_number: str, number: int) -> str:
    return with_name % value if isinstance(value, str) and value else with_number % number


def structure_errors_worded(*, errors: Iterable[FieldError], structure: dict | None = None) -> list[str]:
    """Each error as a sentence that names its place in people's words."""
    return [f"{structure_error_place(path=e.path, structure=structure)}: {e.message}" for e in errors]


def configuration_publish_problems(*, config: EventConfiguration, structure: dict) -> list[FieldError]:
    """Every reason publishing this data structure would be refused (empty: ready to publish)."""
    errors = structure_check(structure=structure, targeting=config.targeting)
    if is_profile_push(config=config) and not (structure.get(PUSH_APPLICATION_KEY) or "").strip():
        errors.append(
            FieldError(
                PUSH_APPLICATION_KEY,
                gettext(
                    "Profile-based push needs the application whose registered devices receive it "
                    "(e.g. com.example.shop)."
                ),
            )
        )
    return errors


def configuration_has_unpublished_changes(*, config: EventConfiguration) -> bool:
    """True when the draft data structure differs from the published one (a new publish is needed)."""
    version = config.published_version
    if version is None:
        return False
    return configuration_structure(config=config) != version.structure


def configuration_latest_events(*, config: EventConfiguration, limit: int = 20) -> list[Event]:
    return list(Event.objects.filter(configuration=config).order_by("-created_at", "-pk")[:limit])


def configuration_publication_logs(*, config: EventConfiguration, limit: int = 50) -> list[PublicationLog]:
    return list(
        PublicationLog.objects.filter(configuration=config)
        .select_related("version", "actor")
        .order_by("-created_at", "-pk")[:limit]
    )


def configurations_without_recent_events(*, queryset: QuerySet, days: int) -> QuerySet:
    """Configurations that received no event in the last `days` days (including never)."""
    since = timezone.now() - timedelta(days=days)
    recent = Event.objects.filter(configuration=OuterRef("pk"), created_at__gte=since)
    return queryset.filter(~Exists(recent))


def event_for_callback_get(*, event_pk: int) -> Event | None:
    return Event.objects.select_related("configuration", "integration").filter(pk=event_pk).first()


def _when(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def event_status_payload(event: Event, server_url: str | None = None) -> dict:
    """The stored event as ACS answers it (API-2)."""
    org = settings.CAMPAIGN_ORGANIZATION
    config = event.configuration
    body = {"PKey": event.pkey, "ctx": event.ctx}
    if config.targeting == Targeting.EVENT:
        body.update({key: getattr(event, attribute) for key, attribute in ADDRESS_KEYS[config.channel]})
    body.update(
        {
            "scheduled": _when(event.scheduled),
            "expiration": _when(event.expiration),
            "href": f"mc{org}/{config.event_id}/{event.pkey}",
            "serverUrl": settings.CAMPAIGN_SERVER_URL or server_url or "",
            "status": event.status,
            "type": config.channel,
        }
    )
    return body


def configuration_deletion_summary(*, config: EventConfiguration) -> list[str]:
    """What deleting this configuration removes, in the user's words (for the confirmation)."""
    message = getattr(config, "message", None)
    summary = [
        gettext("The event configuration {event_id} and its data structure").format(event_id=config.event_id)
    ]
    if message is not None:
        count = message.versions.count()
        text = ngettext(
            "Its message {message_id} and its {count} published version",
            "Its message {message_id} and its {count} published versions",
            count,
        )
        summary.append(text.format(message_id=message.message_id, count=count))
    count = config.events.count()
    text = ngettext(
        "{count} event received, with delivery status", "{count} events received, with delivery status", count
    )
    summary.append(text.format(count=count))
    count = config.versions.count()
    text = ngettext(
        "{count} published version of the data structure",
        "{count} published versions of the data structure",
        count,
    )
    summary.append(text.format(count=count))
    count = config.publication_logs.count()
    text = ngettext("{count} publication log entry", "{count} publication log entries", count)
    summary.append(text.format(count=count))
    return summary
