"""The whole path on real parts: HTTP trigger -> PostgreSQL/SQLite -> broker -> Celery worker
process -> SMTP server on loopback."""

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import make_published_event, trigger_path

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def http(method, url, credentials, body=None):
    request = urllib.request.Request(
        url,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {credentials.token}",
            "X-Api-Key": credentials.integration.client_id,
            "Content-Type": "application/json;charset=utf-8",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for_status(url, credentials, final, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, body = http("GET", url, credentials)
        if body["status"] in final:
            return body
        time.sleep(0.1)
    return body


FINAL = {"processed", "deliveryFailed", "routingFailed", "tooOld"}


def test_a_triggered_event_is_delivered_by_the_worker(live_server, celery_worker, smtp_server, credentials):
    smtp_server.messages.clear()
    make_published_event(
        content={
            "sender_name": "Demo Shop",
            "sender_email": "shop@example.com",
            "subject": "{{ ctx.firstName }}, your cart is waiting",
            "html": "<p>Hello {{ ctx.firstName }}, you left <b>{{ ctx.lastProduct }}</b>"
            " ({{ ctx.cartAmount }})</p>",
            "text": "Hello {{ ctx.firstName }}, you left {{ ctx.lastProduct }} ({{ ctx.cartAmount }})",
        }
    )
    url = live_server.url + trigger_path("EVTcartAbandonment")
    status, body = http(
        "POST",
        url,
        credentials,
        {
            "email": "jane@example.com",
            "ctx": {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket <size L>"},
        },
    )
    assert status == 202
    assert body["status"] == "pending"

    final = wait_for_status(f"{url}/{body['PKey']}", credentials, FINAL)
    assert final["status"] == "processed"
    [mail] = smtp_server.wait_for(1)
    assert mail["Subject"] == "Jane, your cart is waiting"
    assert mail["From"] == "Demo Shop <shop@example.com>"
    assert mail["To"] == "jane@example.com"
    html = mail.get_body(("html",)).get_content()
    assert "Hello Jane, you left <b>Jacket &lt;size L&gt;</b> ($ 125)" in html
    assert "Hello Jane, you left Jacket <size L> ($ 125)" in mail.get_body(("plain",)).get_content()


def test_a_refused_recipient_ends_delivery_failed(live_server, celery_worker, smtp_server, credentials):
    smtp_server.messages.clear()
    smtp_server.refuse.add("gone@example.com")
    try:
        make_published_event()
        url = live_server.url + trigger_path("EVTcartAbandonment")
        status, body = http(
            "POST",
            url,
            credentials,
            {
                "email": "gone@example.com",
                "ctx": {"firstName": "A", "cartAmount": "1", "lastProduct": "B"},
            },
        )
        assert status == 202
        final = wait_for_status(f"{url}/{body['PKey']}", credentials, FINAL)
    finally:
        smtp_server.refuse.clear()
    assert final["status"] == "deliveryFailed"
    assert smtp_server.messages == []


def test_a_batch_of_events_is_delivered_in_chunks_by_the_worker(celery_worker, smtp_server):
    from events.models import Event
    from events.services import events_trigger_batch

    smtp_server.messages.clear()
    config = make_published_event()
    names = ["Jane", "Omar", "Ada", "Li"]
    # Stored together, the dispatcher of the worker publishes them as chunks (events_process).
    events_trigger_batch(
        event_id=config.event_id,
        body={
            "events": [
                {
                    "email": f"{name.lower()}@example.com",
                    "ctx": {"firstName": name, "cartAmount": "$ 125", "lastProduct": "Jacket"},
                }
                for name in names
            ]
        },
    )

    mails = smtp_server.wait_for(len(names))
    assert sorted(mail["Subject"] for mail in mails) == sorted(
        f"{name}, your cart is waiting" for name in names
    )
    events = Event.objects.filter(configuration=config)
    deadline = time.monotonic() + 10
    while events.exclude(status="processed").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(events.values_list("status", flat=True)) == ["processed"] * len(names)
