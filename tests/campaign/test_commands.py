import io
import re

import pytest
from django.core.management import call_command

from events.models import Event, EventConfiguration
from messages_app.models import MessageStatus

pytestmark = pytest.mark.django_db


def test_create_integration_prints_credentials_that_work(client, cart_event):
    out = io.StringIO()
    call_command("create_integration", "Shop website", stdout=out, stderr=io.StringIO())
    values = dict(line.split("=", 1) for line in out.getvalue().split())
    response = client.post(
        "/acme/campaign/mcacme/EVTcartAbandonment",
        {"email": "a@example.com", "ctx": {"firstName": "A", "cartAmount": "1", "lastProduct": "B"}},
        content_type="application/json",
        headers={"Authorization": f"Bearer {values['token']}", "X-Api-Key": values["client_id"]},
    )
    assert response.status_code == 202


def test_seed_demo_is_repeatable_and_its_curl_is_accepted(client):
    call_command("seed_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    config = EventConfiguration.objects.get(event_id="EVTcartAbandonment")
    assert config.message.status == MessageStatus.PUBLISHED
    assert "login admin" in text and "login marketer" in text
    path = re.search(r"curl -sS -X POST http://127.0.0.1:8000(\S+)", text).group(1)
    token = re.search(r"Authorization: Bearer (\S+)'", text).group(1)
    api_key = re.search(r"X-Api-Key: (\S+)'", text).group(1)
    body = re.search(r"-d '(.+)'", text).group(1)
    response = client.post(
        path,
        body,
        content_type="application/json;charset=utf-8",
        headers={"Authorization": f"Bearer {token}", "X-Api-Key": api_key},
    )
    assert response.status_code == 202, response.content
    assert Event.objects.get().ctx["firstName"] == "Jane"
