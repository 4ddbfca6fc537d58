"""An administrator models an order-confirmation event in real Chromium, publishes it, and the API
preview's curl command is accepted by the live endpoint while a malformed body is refused."""

import json
import re
import subprocess
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from campaign.roles import ADMINISTRATORS
from events.models import Event, EventConfiguration
from integrations.services import integration_create
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def with_credentials(text: str, credentials) -> str:
    return text.replace("<ACCESS_TOKEN>", credentials.token).replace(
        "<CLIENT_ID>", credentials.integration.client_id
    )


def test_an_administrator_models_publishes_and_previews_an_event(login_page):
    page = login_page(UserFactory(role=ADMINISTRATORS))
    page.goto("/admin/events/eventconfiguration/add/")
    page.fill("#id_label", "Order confirmation")
    page.fill("#id_event_id", "orderConfirmation")
    page.get_by_text("Add another field").click()
    page.fill("#id_fields-0-field_id", "firstName")
    page.fill("#id_fields-0-label", "First name")
    page.fill("#id_fields-0-max_length", "30")
    page.check("#id_fields-0-required")
    page.get_by_text("Add another field").click()
    page.fill("#id_fields-1-field_id", "customerId")
    page.fill("#id_fields-1-label", "Customer ID")
    page.get_by_text("Add another collection").click()
    page.fill("#id_collections-0-collection_id", "items")
    page.fill("#id_collections-0-label", "Items")
    page.fill("#id_collections-0-min_items", "1")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    # The collection exists now: give its items a price; join the customer's profile.
    page.get_by_text("Add another field").click()
    page.fill("#id_fields-2-field_id", "price")
    page.fill("#id_fields-2-label", "Price")
    page.select_option("#id_fields-2-type", "decimal")
    page.select_option("#id_fields-2-collection_ref", label="items")
    page.check("#id_fields-2-required")
    page.get_by_text("Add another enrichment").click()
    page.fill("#id_enrichments-0-name", "customer")
    page.fill("#id_enrichments-0-event_field", "customerId")
    page.select_option("#id_enrichments-0-profile_field", "external_id")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    page.get_by_role("link", name="API preview").click()
    expect(page.locator(".simulated")).to_contain_text("Simulated: EVTorderConfirmation is not published")
    page.go_back()
    page.get_by_role("link", name="Publish", exact=True).click()
    page.get_by_role("button", name="Yes, publish").click()
    expect(page.locator(".messagelist")).to_contain_text("EVTorderConfirmation is published (version 1)")
    expect(page.get_by_text("Published (version 1), up to date.")).to_be_visible()

    page.get_by_role("link", name="API preview").click()
    expect(page.locator(".simulated")).to_have_count(0)
    expect(page.locator("pre.endpoint")).to_contain_text("/acme/campaign/mcacme/EVTorderConfirmation")
    expect(page.locator("pre.no-events, p.no-events")).to_have_text("No event received yet.")
    curl = page.locator("pre.curl").inner_text()
    body = json.loads(page.locator("pre.sample-body").inner_text())
    assert body["ctx"]["items"][0] == {"price": 19.99}
    assert body["ctx"]["customerId"] == "Customer ID"

    # The developer pastes the curl with the integration's credentials: the endpoint accepts it.
    credentials = integration_create(name="Shop website")
    result = subprocess.run(
        ["bash", "-c", with_credentials(curl, credentials) + " --silent --show-error --max-time 20"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == "pending" and answer["ctx"] == body["ctx"]

    # A malformed variant is refused, naming the exact field.
    endpoint = page.locator("pre.endpoint").inner_text().removeprefix("POST ").strip()
    headers = {
        name: with_credentials(value, credentials)
        for name, value in (
            line.split(": ", 1) for line in page.locator("pre.headers").inner_text().strip().splitlines()
        )
    }
    bad = {**body, "ctx": {**body["ctx"], "items": [{"price": "19,99 €"}]}}
    request = urllib.request.Request(endpoint, json.dumps(bad).encode(), headers=headers, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=20)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["errors"] == [
        {"path": "ctx.items[0].price", "message": "Expected a decimal number; got the text '19,99 €'."}
    ]

    # The accepted event shows in the preview, with its payload and status.
    page.reload()
    expect(page.locator("table.latest-events")).to_contain_text(answer["PKey"])
    # Its status: still pending, or being (or already) handled by a worker of the suite (no
    # message published).
    expect(page.locator("table.latest-events")).to_contain_text(
        re.compile("Pending|Processing|Routing failed")
    )
    config = EventConfiguration.objects.get(event_id="EVTorderConfirmation")
    assert Event.objects.filter(configuration=config).count() == 1
    assert config.published_version.structure["enrichments"] == [
        {
            "name": "customer",
            "target": "event",
            "resource": "profile",
            "join": [{"event_field": "customerId", "profile_field": "external_id"}],
            "targeting": False,
        }
    ]
