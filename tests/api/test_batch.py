"""The batch endpoint: up to 1,000 events of one event type, each answered on its own, every
valid one stored in one transaction."""

import json

import pytest

from events.models import Event
from tests.conftest import trigger_path

pytestmark = pytest.mark.django_db

GOOD = {"email": "jane@example.com", "ctx": {"firstName": "Jane", "cartAmount": "$ 5", "lastProduct": "Hat"}}
BATCH = f"{trigger_path('EVTcartAbandonment')}/batch"


def post(client, body, path=BATCH):
    return client.post(path, json.dumps(body), content_type="application/json")


def test_each_item_is_answered_and_valid_ones_are_stored(api, cart_event):
    bad = {"email": "not-an-address", "ctx": {"firstName": 3}}
    response = post(api, {"events": [GOOD, bad, {**GOOD, "email": "john@example.com"}, "nope"]})
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (2, 2)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["httpStatus"] for r in results] == [202, 400, 202, 400]
    stored = {e.pkey: e for e in Event.objects.all()}
    assert set(stored) == {results[0]["event"]["PKey"], results[2]["event"]["PKey"]}
    assert results[2]["event"]["email"] == "john@example.com"
    assert results[0]["event"]["status"] == "pending"
    assert {e["path"] for e in results[1]["errors"]} == {
        "email",
        "ctx.firstName",
        "ctx.cartAmount",
        "ctx.lastProduct",
    }
    assert results[3]["errors"] == [{"path": "", "message": "Expected a JSON object (the event)."}]


def test_the_server_url_is_the_configured_one_else_the_requests(api, cart_event, settings):
    settings.CAMPAIGN_SERVER_URL = ""
    assert post(api, {"events": [GOOD]}).json()["results"][0]["event"]["serverUrl"] == "http://testserver"
    settings.CAMPAIGN_SERVER_URL = "https://mc.example.com"
    body = post(api, {"events": [GOOD, GOOD]}).json()
    assert {r["event"]["serverUrl"] for r in body["results"]} == {"https://mc.example.com"}
    single = api.post(trigger_path("EVTcartAbandonment"), GOOD, format="json").json()
    assert single["serverUrl"] == "https://mc.example.com"


def test_a_full_batch_of_1000_is_accepted(api, cart_event):
    response = post(api, {"events": [GOOD] * 1000})
    assert response.json()["accepted"] == 1000
    assert Event.objects.count() == 1000
    assert len({r["event"]["PKey"] for r in response.json()["results"]}) == 1000


def test_more_than_1000_gives_400_and_stores_nothing(api, cart_event):
    response = post(api, {"events": [GOOD] * 1001})
    assert response.status_code == 400
    assert response.json()["code"] == "batch_too_large"
    assert not Event.objects.exists()


@pytest.mark.parametrize("body", [{}, {"events": []}, {"events": {}}, [GOOD]])
def test_a_malformed_batch_gives_400(api, cart_event, body):
    response = post(api, body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_body"


def test_an_unknown_event_gives_404_for_the_whole_batch(api, cart_event):
    response = post(api, {"events": [GOOD]}, path=f"{trigger_path('EVTnope')}/batch")
    assert response.status_code == 404
    assert not Event.objects.exists()


def test_batch_needs_credentials(client, cart_event):
    assert post(client, {"events": [GOOD]}).status_code == 401


def test_stored_items_keep_every_value_and_an_expired_one_is_too_old_at_once(api, cart_event):
    ctx = {"firstName": 'Zoë "Z" \\ O\'Brien\t', "cartAmount": "€ 5", "lastProduct": "Hat 🎩"}
    items = [
        {"email": "zoe@example.com", "ctx": ctx, "scheduled": "2030-01-02 03:04:05Z"},
        {**GOOD, "expiration": "2020-01-01T00:00:00Z"},
    ]
    results = post(api, {"events": items}).json()["results"]

    later, expired = (Event.objects.get(pkey=r["event"]["PKey"]) for r in results)
    assert (later.email, later.ctx, later.status) == ("zoe@example.com", ctx, "pending")
    assert later.scheduled.isoformat() == "2030-01-02T03:04:05+00:00"
    assert later.expiration.isoformat() == "2030-01-05T15:04:05+00:00"  # + the default 3.5 days
    assert later.configuration_version_id == cart_event.published_version_id
    assert later.created_at is not None and later.dispatched_at is None
    assert (later.processed_at, later.error, later.attempts) == (None, "", 0)
    assert (expired.status, expired.error) == ("tooOld", "Expired before it could be processed.")
    assert expired.processed_at is not None
    assert results[1]["event"]["status"] == "tooOld"
