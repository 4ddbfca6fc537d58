from .models import Event, EventConfiguration, PublicationStatus


def configuration_published_get(*, event_id: str) -> EventConfiguration | None:
    return (
        EventConfiguration.objects.select_related("published_version")
        .filter(event_id=event_id, status=PublicationStatus.PUBLISHED)
        .first()
    )


def event_get(*, event_id: str, pkey: str) -> Event | None:
    return (
        Event.objects.select_related("configuration")
        .filter(pkey=pkey, configuration__event_id=event_id)
        .first()
    )
