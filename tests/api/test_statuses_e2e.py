"""Statuses only the whole path can show, on real parts: HTTP trigger -> database -> broker ->
Celery worker process -> SMTP on loopback, and the signed status callback to a loopback receiver."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import EventEnrichment, Targeting
from integrations.services import integration_callback_secret_rotate
from messages_app.services import configuration_publish, message_publish, message_update
from tests.api.receivers import Receiver
from tests.conftest import CART_CONTENT, CART_FIELDS, make_published_event, trigger_path
from tests.e2e.test_delivery import http, wait_for_status
from tests.factories import EventConfigurationFactory, EventFieldFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FINAL = {"processed", "deliveryFailed", "routingFailed", "tooOld", "targetingFailed", "ignored"}
EVENT = {"email": "jane@example.com", "ctx": {"firstName": "Jane", "cartAmount": "$ 5", "lastProduct": "Hat"}}


def test_a_scheduled_event_is_not_processed_before_its_time(
    live_server, celery_worker, smtp_server, credentials
):
    make_published_event()
    url = live_server.url + trigger_path("EVTcartAbandonment")
    scheduled = timezone.now() + timedelta(seconds=3)
    status, body = http("POST", url, credentials, {**EVENT, "scheduled": scheduled.isoformat()})
    assert status == 202
    time.sleep(1.5)
    assert http("GET", f"{url}/{body['PKey']}", credentials)[1]["status"] == "pending"
    final = wait_for_status(f"{url}/{body['PKey']}", credentials, FINAL)
    assert final["status"] == "processed"
    assert timezone.now() >= scheduled


def test_an_event_without_a_published_message_ends_routing_failed(live_server, celery_worker, credentials):
    make_published_event(publish_message=False)
    url = live_server.url + trigger_path("EVTcartAbandonment")
    _, body = http("POST", url, credentials, EVENT)
    assert wait_for_status(f"{url}/{body['PKey']}", credentials, FINAL)["status"] == "routingFailed"


def test_a_profile_event_that_cannot_be_reconciled_ends_targeting_failed(
    live_server, celery_worker, credentials
):
    config = EventConfigurationFactory(event_id="EVTprofileCart", targeting=Targeting.PROFILE)
    for position, field_id in enumerate(CART_FIELDS):
        EventFieldFactory(configuration=config, field_id=field_id, position=position)
    # The targeting join finds no profile: no profile has this first name.
    EventEnrichment.objects.create(
        configuration=config,
        name="customer",
        event_field="firstName",
        profile_field="first_name",
        targeting=True,
    )
    configuration_publish(config=config)
    config.refresh_from_db()
    message_update(message=config.message, user=None, **CART_CONTENT)
    message_publish(message=config.message, user=None)
    url = live_server.url + trigger_path("EVTprofileCart")
    status, body = http("POST", url, credentials, {"ctx": EVENT["ctx"]})
    assert status == 202 and "email" not in body
    assert wait_for_status(f"{url}/{body['PKey']}", credentials, FINAL)["status"] == "targetingFailed"


def test_a_batch_is_processed_event_by_event(live_server, celery_worker, smtp_server, credentials):
    smtp_server.messages.clear()
    make_published_event()
    url = live_server.url + trigger_path("EVTcartAbandonment")
    events = [{**EVENT, "email": f"user{i}@example.com"} for i in range(3)]
    status, body = http("POST", f"{url}/batch", credentials, {"events": events})
    assert status == 200 and body["accepted"] == 3
    for result in body["results"]:
        assert (
            wait_for_status(f"{url}/{result['event']['PKey']}", credentials, FINAL)["status"] == "processed"
        )
    received = {mail["To"] for mail in smtp_server.wait_for(3)}
    assert received == {"user0@example.com", "user1@example.com", "user2@example.com"}


def test_the_final_status_is_called_back_signed(live_server, celery_worker, smtp_server, credentials):
    hook = Receiver()
    try:
        integration = credentials.integration
        integration.callback_url = hook.url
        integration.save(update_fields=["callback_url"])
        integration_callback_secret_rotate(integration=integration)
        make_published_event()
        url = live_server.url + trigger_path("EVTcartAbandonment")
        _, body = http("POST", url, credentials, EVENT)
        assert wait_for_status(f"{url}/{body['PKey']}", credentials, FINAL)["status"] == "processed"
        deadline = time.monotonic() + 30
        while not hook.requests and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        hook.close()
    [(_, headers, raw)] = hook.requests
    payload = json.loads(raw)
    assert (payload["PKey"], payload["status"]) == (body["PKey"], "processed")
    timestamp, signature = (part.split("=", 1)[1] for part in headers["X-MC-Signature"].split(","))
    expected = hmac.new(
        integration.callback_secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(signature, expected)
