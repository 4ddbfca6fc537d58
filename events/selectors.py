from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, ngettext

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

    def column(meta, name: str) -> str:
        return quote(meta.get_field(name).column)

    columns = ", ".join(f"c.{column(config, name)}" for name in _TRIGGER_FIELDS)
    sql = (
        f"SELECT {columns}, v.{column(version, 'published_at')}, m.{column(message, 'status')} = %s"  # noqa: S608
        f" FROM {quote(config.db_table)} c"
        f" JOIN {quote(version.db_table)} v"
        f" ON v.{column(version, 'id')} = c.{column(config, 'published_version')}"
        f" LEFT JOIN {quote(message.db_table)} m"
        f" ON m.{column(message, 'configuration')} = c.{column(config, 'id')}"
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
    `message_paused` (whether its message holds new events): one query with SQL built once, read
    from the process's row cache (fastpath/rowcache.py) when it holds it."""
    row = rowcache_get(("trigger_configuration", event_id), lambda: _trigger_row(event_id))
    if row is None:
        return None
    config = EventConfiguration.from_db(connection.alias, _trigger_sql()[1], row[:-2])
    config.published_version_published_at = row[-2]
    config.message_paused = bool(row[-1])
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


def structure_from_rows(
    *,
    fields: Iterable[EventField],
    collections: Iterable[EventCollection],
    enrichments: Iterable[EventEnrichment],
) -> dict:
    """The data structure these rows make, each list in its rows' position order: the saved rows of
    a configuration, or the rows the admin's inlines hold before they are saved (a field or an
    enrichment names its collection by the collection's primary key)."""
    collections = _in_order(collections)
    members: dict[int | None, list[EventField]] = {}
    for field in _in_order(fields):
        members.setdefault(field.collection_id, []).append(field)
    by_pk = {collection.pk: collection for collection in collections}
    return {
        "fields": [_field_structure(field) for field in members.get(None, [])],
        "collections": [
            {
                "collection_id": collection.collection_id,
                "label": collection.label,
                "min_items": collection.min_items,
                "max_items": collection.max_items,
                # A collection added in the same change (no primary key yet) has no fields yet.
                "fields": [_field_structure(f) for f in members.get(collection.pk, [])]
                if collection.pk
                else [],
            }
            for collection in collections
        ],
        "enrichments": [
            {
                "name": enrichment.name,
                "target": by_pk[enrichment.collection_id].collection_id
                if enrichment.collection_id
                else "event",
                "resource": enrichment.resource,
                "join": [{"event_field": enrichment.event_field, "profile_field": enrichment.profile_field}],
                "targeting": enrichment.targeting,
            }
            for enrichment in _in_order(enrichments)
        ],
    }


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
