"""API-5 error contract and API-4 statuses reachable at trigger time: HTTP status, body, and
what was (not) stored."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from campaign.celery import app as celery_app
from delivery.dispatcher import events_dispatch
from events.models import Event
from integrations.services import integration_create
from messages_app.models import TransactionalMessage
from tests.conftest import make_published_event, trigger_path
from tests.plugins.worker import transactional_queue_purge

pytestmark = pytest.mark.django_db

BODY = {"email": "jane@example.com", "ctx": {"firstName": "Jane", "cartAmount": "$ 5", "lastProduct": "Hat"}}
PATH = trigger_path("EVTcartAbandonment")


def client_for(issued) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {issued.token}", HTTP_X_API_KEY=issued.integration.client_id
    )
    return client


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "errors"}
    assert body["code"] == code
    assert body["message"]
    return body


class TestMethods:
    def test_other_methods_get_405_in_the_error_shape_and_nothing_is_stored(self, api, cart_event):
        for method in ("get", "put", "patch", "delete", "options"):
            assert_error(getattr(api, method)(PATH), 405, "method_not_allowed")
        assert not Event.objects.exists()

    def test_without_credentials_401_comes_first_with_its_challenge(self, cart_event):
        response = APIClient().get(PATH)
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'

    def test_status_answers_head_as_get_and_a_post_whatever_its_body(self, api, cart_event):
        pkey = api.post(PATH, BODY, format="json").json()["PKey"]
        status_path = f"{PATH}/{pkey}"
        assert api.head(status_path).status_code == 200
        # Adobe's SDK posts the status call; what it sends as a body is not read.
        for response in (api.post(status_path), api.post(status_path, "x", content_type="application/xml")):
            assert response.status_code == 200
            assert response.json()["PKey"] == pkey


class TestScope:
    def test_credentials_scoped_to_other_events_get_403_and_nothing_is_stored(self, cart_event):
        other = make_published_event(event_id="EVTorderShipped")
        issued = integration_create(name="Shipping only")
        issued.integration.all_events = False
        issued.integration.save(update_fields=["all_events"])
        issued.integration.allowed_events.add(other)
        client = client_for(issued)

        assert_error(client.post(PATH, BODY, format="json"), 403, "event_not_allowed")
        assert not Event.objects.exists()
        ok = client.post(trigger_path("EVTorderShipped"), BODY, format="json")
        assert ok.status_code == 202

    def test_status_lookup_is_scoped_too(self, api, cart_event):
        pkey = api.post(PATH, BODY, format="json").json()["PKey"]
        issued = integration_create(name="Nothing allowed")
        issued.integration.all_events = False
        issued.integration.save(update_fields=["all_events"])
        assert_error(client_for(issued).get(f"{PATH}/{pkey}"), 403, "event_not_allowed")

    def test_unknown_event_is_404_before_scope(self, cart_event):
        issued = integration_create(name="Nothing allowed")
        issued.integration.all_events = False
        issued.integration.save(update_fields=["all_events"])
        assert_error(
            client_for(issued).post(trigger_path("EVTnope"), BODY, format="json"), 404, "event_not_found"
        )


class TestLimits:
    def test_body_over_64_kib_gives_413_and_nothing_is_stored(self, api, cart_event):
        body = {**BODY, "ctx": {**BODY["ctx"], "firstName": "x" * (64 * 1024)}}
        assert_error(api.post(PATH, body, format="json"), 413, "body_too_large")
        assert not Event.objects.exists()

    def test_the_limit_is_configurable(self, api, cart_event, settings):
        settings.CAMPAIGN_API_MAX_BODY_BYTES = 50
        assert_error(api.post(PATH, BODY, format="json"), 413, "body_too_large")

    @pytest.mark.parametrize(
        "content_type",
        ["application/x-www-form-urlencoded", "application/xml", "multipart/form-data; boundary=x"],
    )
    def test_other_media_types_give_415(self, api, cart_event, content_type):
        response = api.post(PATH, json.dumps(BODY), content_type=content_type)
        assert_error(response, 415, "unsupported_media_type")
        assert not Event.objects.exists()

    def test_json_sent_as_text_plain_is_accepted_as_adobes_sdk_sends_it(self, api, cart_event):
        response = api.post(PATH, json.dumps(BODY), content_type="text/plain;charset=UTF-8")
        assert response.status_code == 202
        assert response.json()["ctx"] == BODY["ctx"]

    @pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*", ""])
    def test_the_answer_is_json_whatever_accept_asks_for(self, api, cart_event, accept):
        response = api.post(PATH, BODY, format="json", HTTP_ACCEPT=accept)
        assert response.status_code == 202
        assert response["Content-Type"] == "application/json"
        assert Event.objects.get(pkey=response.json()["PKey"]).ctx == BODY["ctx"]

    def test_text_plain_that_is_not_json_gives_400(self, api, cart_event):
        assert_error(api.post(PATH, "email=x", content_type="text/plain"), 400, "invalid_json")


class TestBadInputNeverCrashes:
    @pytest.mark.parametrize(
        ("raw", "code"),
        [
            ('{"email": "a@b.c", "ctx": {"firstName": NaN}}', "invalid_json"),
            ('{"email": "a@b.c", "ctx": {"firstName": 1e999}}', "invalid_json"),
            ("[" * 10_000 + "]" * 10_000, "invalid_json"),
            (b'{"email": "\xff"}', "invalid_json"),
            (b'\xef\xbb\xbf{"email": "a@b.c", "ctx": {}}', "invalid_json"),  # a UTF-8 BOM
            ('{"email": "a@b.c"} {"email": "d@e.f"}', "invalid_json"),
            (
                '{"email": "a@b.c", "ctx": {"firstName": "a\\u0000b", "lastProduct": "p"}}',
                "invalid_body",
            ),
            ('{"email": "a@b.c", "ctx": {"a\\u0000": "x"}}', "invalid_body"),
            ('{"email": "a@b.c", "ctx": {"firstName": "' + "9" * 5000 + '"}}', "validation_failed"),
            ('{"email": "a@b.c", "ctx": {"firstName": ' + "9" * 5000 + "}}", "invalid_json"),
            ("", "validation_failed"),
            ("null", "invalid_body"),
            ('"text"', "invalid_body"),
        ],
    )
    def test_bad_bodies_give_a_400_with_the_error_shape(self, api, cart_event, raw, code):
        response = api.post(PATH, raw, content_type="application/json")
        assert_error(response, 400, code)
        assert not Event.objects.exists()

    @pytest.mark.parametrize(
        ("extra", "path"),
        [
            ({"scheduled": "2026-13-45 10:00:00"}, "scheduled"),
            ({"expiration": "9999-12-31T23:59:59-23:59"}, "expiration"),
            ({"scheduled": 20261201}, "scheduled"),
            ({"scheduled": "2030-01-02T00:00:00Z", "expiration": "2030-01-01T00:00:00Z"}, "expiration"),
            ({"email": ["a@b.c"]}, "email"),
            ({"email": "a@" + "b" * 300 + ".com"}, "email"),
            ({"ctx": []}, "ctx"),
        ],
    )
    def test_bad_fields_are_named(self, api, cart_event, extra, path):
        response = api.post(PATH, {**BODY, **extra}, format="json")
        if path is None:
            assert response.status_code in (202, 400)
        else:
            body = assert_error(response, 400, "validation_failed")
            assert path in [e["path"] for e in body["errors"]]


class TestStatusesAtTrigger:
    def test_pending_with_scheduled_and_expiration_as_sent(self, api, cart_event):
        body = {**BODY, "scheduled": "2030-12-01 08:00:00+01:00", "expiration": "2030-12-02T08:00:00"}
        response = api.post(PATH, body, format="json")
        assert response.status_code == 202
        assert response.json()["status"] == "pending"
        assert response.json()["scheduled"] == "2030-12-01T08:00:00+01:00"
        assert response.json()["expiration"] == "2030-12-02T08:00:00Z"

    def test_an_already_expired_event_is_stored_too_old(self, api, cart_event):
        past = (timezone.now() - timedelta(minutes=1)).isoformat()
        response = api.post(PATH, {**BODY, "expiration": past}, format="json")
        assert response.status_code == 202
        assert response.json()["status"] == "tooOld"
        assert Event.objects.get().status == "tooOld"

    def test_default_validity_comes_from_settings(self, api, cart_event, settings):
        settings.CAMPAIGN_EVENT_DEFAULT_VALIDITY = 60
        scheduled = timezone.now() + timedelta(days=1)
        response = api.post(PATH, {**BODY, "scheduled": scheduled.isoformat()}, format="json")
        event = Event.objects.get()
        assert event.expiration == scheduled + timedelta(seconds=60)
        assert response.json()["status"] == "pending"

    def test_a_paused_message_keeps_its_events_paused(self, api, cart_event):
        TransactionalMessage.objects.filter(configuration=cart_event).update(status="paused")
        response = api.post(PATH, BODY, format="json")
        assert response.status_code == 202
        assert response.json()["status"] == "paused"
        pkey = response.json()["PKey"]
        assert api.get(f"{PATH}/{pkey}").json()["status"] == "paused"


class TestRateLimit:
    def test_over_the_credentials_limit_gives_429_with_retry_after(self, api, credentials, cart_event):
        credentials.integration.rate_limit = 2
        credentials.integration.save(update_fields=["rate_limit"])
        responses = [api.post(PATH, BODY, format="json") for _ in range(8)]
        limited = [r for r in responses if r.status_code == 429]
        assert limited, [r.status_code for r in responses]
        assert_error(limited[0], 429, "rate_limited")
        assert int(limited[0]["Retry-After"]) >= 1
        accepted = [r for r in responses if r.status_code == 202]
        assert Event.objects.count() == len(accepted) <= 4

    def test_an_unreachable_limiter_lets_requests_through(self, api, credentials, cart_event, settings):
        # The limiter protects the service; it must not take it down with it.
        settings.CAMPAIGN_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"
        credentials.integration.rate_limit = 1
        credentials.integration.save(update_fields=["rate_limit"])
        responses = [api.post(PATH, BODY, format="json") for _ in range(3)]
        assert [r.status_code for r in responses] == [202, 202, 202]
        assert Event.objects.count() == 3

    def test_each_credential_has_its_own_count(self, api, credentials, cart_event):
        credentials.integration.rate_limit = 1
        credentials.integration.save(update_fields=["rate_limit"])
        [api.post(PATH, BODY, format="json") for _ in range(3)]
        other = client_for(integration_create(name="Other site"))
        assert other.post(PATH, BODY, format="json").status_code == 202


@pytest.mark.django_db(transaction=True)
class TestDependenciesDown:
    def test_database_down_gives_503(self, api, cart_event, monkeypatch):
        connection.close()
        if connection.vendor == "sqlite":
            monkeypatch.setitem(connection.settings_dict, "NAME", "/nonexistent/dir/db.sqlite3")
        else:
            monkeypatch.setitem(connection.settings_dict, "PORT", "1")
            monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
        try:
            response = api.post(PATH, BODY, format="json")
        finally:
            connection.close()
            monkeypatch.undo()
        body = assert_error(response, 503, "service_unavailable")
        assert response["Retry-After"]
        assert body["errors"] == []
        assert not Event.objects.exists()

    def test_broker_down_the_event_is_accepted_and_dispatched_when_it_is_back(
        self, api, cart_event, monkeypatch
    ):
        # The API stores; the dispatcher publishes. Nothing listens on port 1: the broker is down.
        # Scheduled a day ahead, so that the dispatcher of a worker running for other tests
        # leaves it to this test, which dispatches as of then.
        later = timezone.now() + timedelta(days=1)
        monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
        celery_app._pool = celery_app.amqp._producer_pool = None
        try:
            response = api.post(PATH, {**BODY, "scheduled": later.isoformat()}, format="json")
            assert response.status_code == 202
            with pytest.raises(Exception):  # noqa: B017 - whatever the transport raises
                events_dispatch(now=later)
            event = Event.objects.get(pkey=response.json()["PKey"])
            assert (event.status, event.dispatched_at) == ("pending", None)
        finally:
            monkeypatch.undo()
            celery_app._pool = celery_app.amqp._producer_pool = None
        try:
            assert events_dispatch(now=later) == 1
            event.refresh_from_db()
            assert event.status == "pending"
            assert event.dispatched_at is not None
            assert events_dispatch(now=later) == 0
        finally:
            transactional_queue_purge()
