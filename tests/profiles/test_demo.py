"""./run's demo data shows the whole profile path: the printed curl triggers a profile-based email
that reaches the demo profile with her name and her unsubscribe link (real SMTP on loopback); the
demo profile that left the service is not sent it."""

import io
import json
import re

import pytest
from django.core.management import call_command

from delivery.models import Exclusion
from delivery.services import event_deliver
from events.models import Event, EventStatus
from profiles.models import AppSubscription, Profile

pytestmark = pytest.mark.django_db


def profile_curl(text):
    """The path, headers and body of the profile-based curl that seed_demo prints."""
    block = text[text.index("profile-based email") :]
    path = re.search(r"curl -sS -X POST http://127.0.0.1:8000(\S+)", block).group(1)
    token = re.search(r"Authorization: Bearer (\S+)'", block).group(1)
    api_key = re.search(r"X-Api-Key: (\S+)'", block).group(1)
    body = json.loads(re.search(r"-d '(.+)'", block).group(1))
    return path, {"Authorization": f"Bearer {token}", "X-Api-Key": api_key}, body


def trigger(client, path, headers, body):
    response = client.post(path, json.dumps(body), content_type="application/json", headers=headers)
    assert response.status_code == 202, response.content
    event = Event.objects.get(pkey=response.json()["PKey"])
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    return event


def test_the_demo_profile_based_email_reaches_jane_with_her_name_and_unsubscribe_link(client, smtp):
    call_command("seed_demo", stdout=io.StringIO())
    out = io.StringIO()
    call_command("seed_demo", stdout=out)  # repeatable: nothing doubles
    assert Profile.objects.count() == 3
    assert AppSubscription.objects.filter(application="com.example.shop").count() == 3
    path, headers, body = profile_curl(out.getvalue())

    event = trigger(client, path, headers, body)

    assert event.status == EventStatus.PROCESSED
    [mail] = smtp.messages
    assert mail["To"] == "jane.doe@example.com"
    assert mail["Subject"] == "Jane, you earned 120 points"
    text = mail.get_body(("plain",)).get_content()
    assert "Your tier: gold." in text
    assert "Unsubscribe: http://127.0.0.1:8000/unsubscribe/" in text
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    ana = trigger(client, path, headers, {"ctx": {"customerId": "C-1003", "points": 5}})
    assert ana.status == EventStatus.IGNORED
    assert Exclusion.objects.get(event=ana).reason == "unsubscribed"
    assert len(smtp.messages) == 1
