"""Opens and clicks of a marketing delivery: sent for real through the loopback SMTP server, its
pixel and redirects fetched over HTTP from the live server, as people and as machines; what the
delivery's page and its recipients CSV then show; the redirects that are refused; the switch that
sends the links as written; the report rollups, which keep counting transactional messages only."""

import http.client
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.urls import reverse

from delivery.models import Interaction, TrackedLink
from delivery.tracking import SALT, Tracked, click_token
from marketing.models import MarketingDelivery
from marketing.services import delivery_confirm, delivery_prepare, delivery_prepare_start, delivery_save
from profiles.models import Profile
from reports.models import HourlyRollup
from reports.rollup import rollup_run
from tests.delivery.engagement import engagement_message, send_and_engage
from tests.marketing.test_marketing_delivery import send_all
from typologies.models import Typology

pytestmark = pytest.mark.django_db(transaction=True)

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5"
APPLE_PROXY = "Mozilla/5.0"  # what Mail Privacy Protection sends when it fetches every image
HTML = (
    "<html><body><p>Hi {{ profile.first_name }}</p>"
    '<p><a href="https://shop.example.com/sale?from=mail&amp;x=1">The sale</a></p>'
    '<p><a href="https://shop.example.com/for/{{ profile.first_name }}">Chosen for you</a></p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>'
)


@pytest.fixture
def tracking(settings, live_server):
    settings.CAMPAIGN_TRACKING_URL = live_server.url
    settings.CAMPAIGN_PUBLIC_URL = "https://public.example.com"
    # The emails are fetched right after sending: no hit is a machine's for being too quick.
    settings.TRACKING_MIN_HUMAN_SECONDS = 0
    return live_server


@pytest.fixture
def people(db):
    return {
        name: Profile.objects.create(
            first_name=name, external_id=name.lower(), email=f"{name.lower()}@example.com", language="en"
        )
        for name in ("Ann", "Bob", "Cid")
    }


def sent(smtp, people, **fields) -> tuple[MarketingDelivery, dict[str, str]]:
    """A delivery to every profile, prepared, confirmed and sent; each person's HTML by name."""
    values = {
        "label": "Spring sale",
        "channel": "email",
        "sender_email": "news@example.com",
        "subject": "Spring is here",
        "html": HTML,
        "typology": Typology.objects.get_or_create(name="none", defaults={"label": "No rules"})[0],
        **fields,
    }
    delivery = delivery_save(delivery=MarketingDelivery(**values))
    delivery_prepare_start(delivery=delivery)
    delivery_prepare(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    delivery_confirm(delivery=delivery)
    send_all(delivery)
    assert delivery.sent_count == len(people)
    bodies = {message["To"]: message.get_body(("html",)).get_content() for message in smtp.messages}
    return delivery, {name: bodies[profile.email] for name, profile in people.items()}


def hrefs(html):
    return [unescape(href) for href in re.findall(r'<a\b[^>]*href="([^"]+)"', html)]


def pixel_of(html):
    [src] = re.findall(r'<img src="([^"]+)" width="1" height="1"', html)
    return unescape(src)


def fetch(server, url, user_agent=BROWSER) -> http.client.HTTPResponse:
    """A real HTTP GET to the live server, redirects not followed."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == server.url
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    connection.request("GET", parts.path, headers={"User-Agent": user_agent})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def page_figures(client, delivery) -> dict[str, str]:
    page = client.get(
        reverse("admin:marketing_marketingdelivery_change", args=[delivery.pk])
    ).content.decode()
    return dict(re.findall(r'<dd data-figure="([a-z_]+)">([^<]*)</dd>', page))


def test_opens_and_clicks_of_a_delivery(tracking, smtp, people, client, marketer):
    delivery, html = sent(smtp, people)
    sale, chosen, unsubscribe = hrefs(html["Bob"])
    assert sale.startswith(f"{tracking.url}/t/c/") and chosen.startswith(f"{tracking.url}/t/c/")
    assert unsubscribe.startswith("https://public.example.com/") and "/t/c/" not in unsubscribe
    assert "data-mc-link" not in html["Bob"]

    assert fetch(tracking, pixel_of(html["Ann"])).status == 200  # Ann reads it
    answer = fetch(tracking, chosen)  # Bob clicks his own link, without showing the images
    assert answer.status == 302 and answer.getheader("Location") == "https://shop.example.com/for/Bob"
    answer = fetch(tracking, chosen)
    assert answer.status == 302
    answer = fetch(tracking, pixel_of(html["Cid"]), user_agent=APPLE_PROXY)  # Cid's mail app, not Cid
    assert answer.status == 200 and answer.getheader("Content-Type") == "image/gif"

    client.force_login(marketer)
    assert (
        page_figures(client, delivery).items()
        >= {
            "opens": "1",
            "open_rate": "33.3%",
            "clicks": "1",
            "click_rate": "33.3%",
            "opens_machine": "1",
            "clicks_machine": "0",
        }.items()
    )
    csv = client.get(reverse("admin:marketing_marketingdelivery_recipients", args=[delivery.pk]))
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0].endswith(",Opened,Clicked")
    assert sorted((line.split(",")[1], *line.split(",")[-2:]) for line in lines[1:]) == [
        ("ann@example.com", "yes", "no"),
        ("bob@example.com", "no", "yes"),
        ("cid@example.com", "no", "no"),
    ]
    # The rows name the profile, as a profile-based message's do.
    assert set(Interaction.objects.values_list("profile__first_name", flat=True)) == {"Ann", "Bob", "Cid"}


def test_a_redirect_only_leads_to_the_deliverys_links(tracking, smtp, people):
    _, html = sent(smtp, people)
    sale, chosen, _ = hrefs(html["Bob"])
    key, link_pk, *_ = signing.loads(urlsplit(chosen).path.split("/")[3], salt=SALT)
    bob = Tracked.from_key(key)
    templated = TrackedLink.objects.get(pk=link_pk)

    # A URL the link's template cannot render.
    forged = click_token(whom=bob, link_pk=templated.pk, url="https://evil.example.net/for/Bob")
    assert fetch(tracking, f"{tracking.url}/t/c/{forged}/").status == 400
    # A link of another delivery, or of a transactional message.
    other, _ = sent(smtp, people, label="Summer sale")
    foreign = TrackedLink.objects.filter(marketing_delivery_id=other.pk).first()
    assert (
        fetch(tracking, f"{tracking.url}/t/c/{click_token(whom=bob, link_pk=foreign.pk, url=None)}/").status
        == 400
    )
    # An altered token.
    assert fetch(tracking, sale[:-8] + "AAAAAAA/").status == 400
    assert fetch(tracking, pixel_of(html["Ann"])[:-8] + "AAAAAAA/").status == 400
    assert fetch(tracking, sale).getheader("Location") == "https://shop.example.com/sale?from=mail&x=1"
    assert not Interaction.objects.filter(marketing_delivery_id=other.pk).exists()


def test_a_delivery_that_does_not_track_sends_its_links_as_written(tracking, smtp, people):
    delivery, html = sent(smtp, people, tracking_enabled=False)
    assert hrefs(html["Ann"])[:2] == [
        "https://shop.example.com/sale?from=mail&x=1",
        "https://shop.example.com/for/Ann",
    ]
    assert "/t/" not in html["Ann"] and "data-mc-link" not in html["Ann"]
    assert not TrackedLink.objects.filter(marketing_delivery_id=delivery.pk).exists()


def test_report_rollups_count_transactional_messages_only(tracking, smtp, people, settings):
    _, html = sent(smtp, people)
    assert fetch(tracking, pixel_of(html["Ann"])).status == 200
    assert fetch(tracking, hrefs(html["Bob"])[0]).status == 302

    config = engagement_message(event_id="EVTsale", settings=settings)
    smtp.messages.clear()
    send_and_engage(config=config, smtp=smtp, profile=people["Cid"], does=("open",))
    rollup_run()
    figures = dict(
        HourlyRollup.objects.filter(metric__in=["open", "open_unique", "click", "click_unique"]).values_list(
            "metric", "value"
        )
    )
    assert figures == {"open": 1, "open_unique": 1}
    assert set(HourlyRollup.objects.values_list("configuration_id", flat=True)) == {config.pk}
    assert not Interaction.objects.filter(rolled=False).exists()


def test_an_open_after_the_profile_was_erased_is_kept_without_it(tracking, smtp, people):
    """The pixel's token names the profile; once a privacy request erased it, the image is still
    served and the open counted for the delivery, attributed to no profile."""
    from privacy.services import profile_erase

    delivery, html = sent(smtp, people)
    profile_erase(profile=people["Ann"], operator="test")
    assert fetch(tracking, pixel_of(html["Ann"])).status == 200
    [opened] = Interaction.objects.filter(marketing_delivery_id=delivery.pk, kind="open")
    assert opened.profile_id is None and opened.machine_reason == ""
