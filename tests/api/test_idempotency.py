"""Idempotency-Key (API-6): replay byte for byte, 422 for another body, 409 in flight, per
credential, purge after the retention, and exactly one event under concurrent identical requests."""

import json
import threading
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from events.models import Event
from integrations.idempotency import idempotency_keys_purge
from integrations.models import IdempotencyKey
from integrations.services import integration_create
from tests.conftest import trigger_path

BODY = {"email": "jane@example.com", "ctx": {"firstName": "Jane", "cartAmount": "$ 5", "lastProduct": "Hat"}}
PATH = trigger_path("EVTcartAbandonment")


def send(client, body=BODY, key="order-42", path=PATH):
    return client.post(path, json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
class TestIdempotencyKey:
    def test_same_key_and_body_replays_the_first_answer_byte_for_byte(self, api, cart_event):
        first = send(api)
        second = send(api)
        assert first.status_code == second.status_code == 202
        assert second.content == first.content
        assert second["Content-Type"] == first["Content-Type"]
        assert second["Idempotent-Replayed"] == "true"
        assert Event.objects.count() == 1

    def test_same_key_with_another_body_gives_422(self, api, cart_event):
        send(api)
        response = send(api, {**BODY, "email": "john@example.com"})
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_reused"
        assert Event.objects.count() == 1

    def test_the_same_body_on_another_path_is_another_request(self, api, cart_event):
        send(api)
        assert send(api, path=PATH + "/").status_code == 422

    def test_a_retry_while_the_first_is_in_flight_gives_409(self, api, credentials, cart_event):
        first = send(api, key="in-flight")
        IdempotencyKey.objects.filter(key="in-flight").update(response_status=None, response_body=None)
        response = send(api, key="in-flight")
        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_in_flight"
        assert first.status_code == 202 and Event.objects.count() == 1

    def test_an_abandoned_in_flight_key_is_taken_over(self, api, cart_event):
        send(api, key="crashed")
        IdempotencyKey.objects.filter(key="crashed").update(
            response_status=None, created_at=timezone.now() - timedelta(minutes=10)
        )
        assert send(api, key="crashed").status_code == 202
        assert Event.objects.count() == 2

    def test_keys_are_scoped_per_credential(self, api, cart_event):
        send(api)
        other = integration_create(name="Other site")
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {other.token}", HTTP_X_API_KEY=other.integration.client_id
        )
        response = send(client)
        assert response.status_code == 202
        assert "Idempotent-Replayed" not in response
        assert Event.objects.count() == 2

    def test_an_error_answer_releases_the_key(self, api, cart_event):
        bad = send(api, {"email": "nope", "ctx": {}})
        assert bad.status_code == 400
        assert not IdempotencyKey.objects.exists()
        assert send(api).status_code == 202

    def test_an_invalid_key_gives_400(self, api, cart_event):
        response = send(api, key="x" * 300)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_idempotency_key"

    def test_keys_are_kept_24_hours_then_purged(self, api, cart_event, settings):
        send(api, key="old")
        send(api, key="recent")
        IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
        IdempotencyKey.objects.filter(key="recent").update(created_at=timezone.now() - timedelta(hours=23))
        settings.CAMPAIGN_IDEMPOTENCY_KEY_HOURS = 1  # never below 24 h
        assert idempotency_keys_purge() == 1
        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]

    def test_batch_calls_are_idempotent_too(self, api, cart_event):
        body = {"events": [BODY, BODY]}
        first = send(api, body, path=f"{PATH}/batch")
        second = send(api, body, path=f"{PATH}/batch")
        assert first.content == second.content
        assert Event.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_requests_store_exactly_one_event(live_server, credentials, cart_event):
    """Eight threads send the same request with the same key at the same moment, over HTTP."""
    barrier = threading.Barrier(8)
    answers = []

    def call():
        request = urllib.request.Request(
            live_server.url + PATH,
            method="POST",
            data=json.dumps(BODY).encode(),
            headers={
                "Authorization": f"Bearer {credentials.token}",
                "X-Api-Key": credentials.integration.client_id,
                "Content-Type": "application/json",
                "Idempotency-Key": "concurrent-1",
            },
        )
        barrier.wait(timeout=10)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                answers.append((response.status, response.read()))
        except urllib.error.HTTPError as exc:
            answers.append((exc.code, exc.read()))

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(answers) == 8
    assert Event.objects.count() == 1
    assert {status for status, _ in answers} <= {202, 409}
    accepted = {body for status, body in answers if status == 202}
    assert len(accepted) == 1  # every 202 is the same answer, byte for byte
    assert json.loads(accepted.pop())["PKey"] == Event.objects.get().pkey
