"""Open pixel and click redirects on real rendered emails sent through the loopback SMTP server,
their signatures, machine flagging, and provider webhooks feeding the same records."""

import base64
import re
from datetime import timedelta
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.test import Client

from delivery.models import Interaction, TrackedLink
from delivery.services import event_deliver
from delivery.tracking import Tracked, click_token
from events.models import Event, EventStatus
from events.services import event_trigger
from messages_app.services import message_publish, message_tracking_set, message_update
from tests.conftest import make_published_event

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "125", "lastProduct": "Jacket"}
HTML = (
    "<html><body><p>Hello {{ ctx.firstName }},</p>"
    '<p><a href="https://shop.example.com/cart?from=mail&amp;x=1">Your cart</a></p>'
    '<p><a class="cta" href="https://shop.example.com/p/{{ ctx.lastProduct }}">{{ ctx.lastProduct }}</a></p>'
    '<p><a href="mailto:help@example.com">Help</a></p></body></html>'
)
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


@pytest.fixture
def tracked_event(cart_event, settings):
    settings.CAMPAIGN_TRACKING_URL = "https://mc.example.com"
    message_update(message=cart_event.message, html=HTML)
    message_publish(message=cart_event.message)
    return cart_event


def send(config, smtp, email="jane@example.com", ctx=CART):
    event = event_trigger(event_id=config.event_id, payload={"email": email, "ctx": ctx})
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    # As if sent a minute ago: hits sooner than TRACKING_MIN_HUMAN_SECONDS are a machine's.
    Event.objects.filter(pk=event.pk).update(processed_at=event.processed_at - timedelta(minutes=1))
    html = smtp.messages[-1].get_body(("html",)).get_content()
    return event, html


def hrefs(html):
    return [unescape(href) for href in re.findall(r'<a\b[^>]*href="([^"]+)"', html)]


def pixel_of(html):
    [src] = re.findall(r'<img src="([^"]+)" width="1" height="1"', html)
    return unescape(src)


def path(url):
    parts = urlsplit(url)
    assert parts.scheme == "https" and parts.netloc == "mc.example.com"
    return parts.path


def get(url, user_agent=BROWSER, ip="203.0.113.7"):
    return Client().get(path(url), HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)


def test_links_go_through_signed_redirects_to_the_versions_links(tracked_event, smtp):
    event, html = send(tracked_event, smtp)
    cart, product, mailto = hrefs(html)
    assert mailto == "mailto:help@example.com"
    assert "data-mc-link" not in html

    answer = get(cart)
    assert answer.status_code == 302
    assert answer["Location"] == "https://shop.example.com/cart?from=mail&x=1"
    answer = get(product)
    assert answer.status_code == 302
    assert answer["Location"] == "https://shop.example.com/p/Jacket"
    assert get(cart).status_code == 302

    rows = {row.url: row for row in Interaction.objects.filter(kind="click").exclude(link_key=0)}
    assert rows["https://shop.example.com/cart?from=mail&x=1"].count == 2
    assert rows["https://shop.example.com/p/Jacket"].count == 1
    assert all(row.event_id == event.pk and row.ip_network == "203.0.113.0/24" for row in rows.values())
    assert all(row.user_agent == BROWSER for row in rows.values())
    # The recipient's row of all its clicks.
    assert Interaction.objects.get(kind="click", link_key=0).count == 3


def test_an_altered_signature_is_refused(tracked_event, smtp):
    _, html = send(tracked_event, smtp)
    cart = path(hrefs(html)[0])
    token = cart.split("/")[3]
    altered = cart.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    answer = Client().get(altered)
    assert answer.status_code == 400
    assert "Location" not in answer
    pixel = path(pixel_of(html))
    assert Client().get(pixel.replace(":", ":x", 1)).status_code == 400
    assert not Interaction.objects.exists()


def test_a_click_redirects_only_to_a_link_its_version_holds(tracked_event, smtp):
    event, _ = send(tracked_event, smtp)
    product = TrackedLink.objects.get(url="https://shop.example.com/p/{{ ctx.lastProduct }}")
    cart = TrackedLink.objects.get(url="https://shop.example.com/cart?from=mail&x=1")
    # Even signed with our key: a URL the link's template cannot render is refused.
    forged = click_token(
        whom=Tracked(event_pk=event.pk), link_pk=product.pk, url="https://evil.example.net/p/Jacket"
    )
    assert Client().get(f"/t/c/{forged}/").status_code == 400
    # A link of another message's version is refused for this event.
    other = make_published_event(
        event_id="EVTother", content={"subject": "x", "html": '<a href="https://b.example">b</a>'}
    )
    send(other, smtp)
    foreign = TrackedLink.objects.get(version__message=other.message)
    assert (
        Client()
        .get(f"/t/c/{click_token(whom=Tracked(event_pk=event.pk), link_pk=foreign.pk, url=None)}/")
        .status_code
        == 400
    )
    good = click_token(whom=Tracked(event_pk=event.pk), link_pk=cart.pk, url=None)
    assert Client().get(f"/t/c/{good}/")["Location"] == "https://shop.example.com/cart?from=mail&x=1"


def test_the_open_pixel_counts_once_per_recipient(tracked_event, smtp):
    event, html = send(tracked_event, smtp)
    pixel = pixel_of(html)
    assert html.index(pixel.replace("&", "&amp;")) < html.index("</body>")
    first = get(pixel)
    assert first.status_code == 200 and first["Content-Type"] == "image/gif"
    assert "no-cache" in first["Cache-Control"] or "max-age=0" in first["Cache-Control"]
    get(pixel)
    [row] = Interaction.objects.filter(kind="open")
    assert (row.event_id, row.count, row.machine_reason, row.domain) == (event.pk, 2, "", "example.com")


def test_tracking_off_sends_the_links_as_written(tracked_event, smtp):
    message_tracking_set(message=tracked_event.message, enabled=False)
    _, html = send(tracked_event, smtp)
    assert hrefs(html) == [
        "https://shop.example.com/cart?from=mail&x=1",
        "https://shop.example.com/p/Jacket",
        "mailto:help@example.com",
    ]
    assert "/t/o/" not in html and "data-mc-link" not in html


class TestMachines:
    def test_apple_privacy_proxy_opens_are_flagged(self, tracked_event, smtp):
        _, html = send(tracked_event, smtp)
        get(pixel_of(html), user_agent="Mozilla/5.0", ip="17.58.101.20")
        assert Interaction.objects.get(kind="open").machine_reason == "privacy_proxy"
        _, html = send(tracked_event, smtp, email="bob@example.org")
        get(pixel_of(html), ip="17.1.2.3")
        assert Interaction.objects.get(domain="example.org").machine_reason == "privacy_proxy"

    def test_a_human_open_after_a_proxy_fetch_is_a_human_open(self, tracked_event, smtp):
        _, html = send(tracked_event, smtp)
        get(pixel_of(html), user_agent="Mozilla/5.0", ip="17.58.101.20")
        get(pixel_of(html))
        row = Interaction.objects.get(kind="open")
        assert (row.count, row.machine_reason) == (2, "")

    def test_named_scanners_and_instant_hits_are_flagged(self, tracked_event, smtp, settings):
        _, html = send(tracked_event, smtp)
        get(hrefs(html)[0], user_agent="Mozilla/5.0 (compatible; Barracuda Sentinel)")
        assert set(Interaction.objects.filter(kind="click").values_list("machine_reason", flat=True)) == {
            "known_agent"
        }
        event = event_trigger(
            event_id=tracked_event.event_id, payload={"email": "x@example.net", "ctx": CART}
        )
        event_deliver(event_pk=event.pk)
        get(pixel_of(smtp.messages[-1].get_body(("html",)).get_content()))
        assert Interaction.objects.get(event_id=event.pk).machine_reason == "too_fast"

    def test_every_link_clicked_within_seconds_is_a_scanner(self, tracked_event, smtp):
        _, html = send(tracked_event, smtp)
        cart, product, _ = hrefs(html)
        get(cart)
        assert set(Interaction.objects.values_list("machine_reason", flat=True)) == {""}
        get(product)
        assert set(Interaction.objects.values_list("machine_reason", flat=True)) == {"scanner"}


def test_provider_webhooks_feed_the_same_records(tracked_event, smtp, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "postmark:hook-secret"}
    auth = "Basic " + base64.b64encode(b"postmark:hook-secret").decode()
    event, _ = send(tracked_event, smtp)
    for payload in (
        {
            "RecordType": "Open",
            "MessageID": event.provider_message_id,
            "Recipient": "jane@example.com",
            "ReceivedAt": "2026-11-27T04:05:00Z",
            "UserAgent": BROWSER,
        },
        {
            "RecordType": "Click",
            "MessageID": event.provider_message_id,
            "Recipient": "jane@example.com",
            "ReceivedAt": "2026-11-27T04:06:00Z",
            "OriginalLink": "https://shop.example.com/cart?from=mail&x=1",
        },
    ):
        answer = Client().post(
            "/webhooks/anymail/postmark/tracking/",
            payload,
            content_type="application/json",
            HTTP_AUTHORIZATION=auth,
        )
        assert answer.status_code == 200
    opened = Interaction.objects.get(kind="open")
    clicked = Interaction.objects.exclude(link_key=0).get(kind="click")
    assert (opened.source, opened.event_id, opened.machine_reason) == ("provider", event.pk, "")
    assert clicked.link.url == "https://shop.example.com/cart?from=mail&x=1"
