"""A profile-based email sent for real (loopback SMTP) to some profiles, who then open it or click
in it through the tracking pixel and redirects, as a person or as a machine."""

from datetime import timedelta

from delivery.services import event_deliver
from events.models import Event, EventStatus
from events.services import event_trigger
from tests.delivery.test_tracking import BROWSER, get, hrefs, pixel_of
from tests.profiles.helpers import profile_based_event

APPLE_PROXY = "Mozilla/5.0"  # what Mail Privacy Protection sends when it fetches every image
HTML = (
    "<html><body><p>Hi {{ customer.first_name }}</p>"
    '<p><a href="https://shop.example.com/sale">The sale</a></p></body></html>'
)


def engagement_message(*, event_id: str, settings):
    settings.CAMPAIGN_TRACKING_URL = "https://mc.example.com"
    return profile_based_event(
        event_id=event_id,
        channel="email",
        content={"sender_email": "shop@example.com", "subject": "Sale", "html": HTML, "text": "Sale"},
    )


def send_and_engage(*, config, smtp, profile, does: tuple[str, ...] = ()) -> Event:
    """Send the message to `profile`, then do each of `does`: "open" (a person), "machineOpen"
    (a privacy proxy fetching the pixel), "click" (a person)."""
    event = event_trigger(event_id=config.event_id, payload={"ctx": {"customerId": profile.external_id}})
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    # As if sent a minute ago: hits sooner than TRACKING_MIN_HUMAN_SECONDS are a machine's.
    Event.objects.filter(pk=event.pk).update(processed_at=event.processed_at - timedelta(minutes=1))
    [sent] = [m for m in smtp.messages if m["To"] == profile.email]
    html = sent.get_body(("html",)).get_content()
    for action in does:
        if action == "open":
            assert get(pixel_of(html)).status_code == 200
        elif action == "machineOpen":
            assert get(pixel_of(html), user_agent=APPLE_PROXY, ip="17.58.1.2").status_code == 200
        else:
            assert get(hrefs(html)[0], user_agent=BROWSER).status_code == 302
    return event
