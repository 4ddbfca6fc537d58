from datetime import datetime, timedelta

import pytest
from rest_framework.test import APIClient

from events.models import Event
from integrations.services import integration_revoke
from messages_app.services import configuration_unpublish
from tests.conftest import trigger_path
from tests.factories import EventConfigurationFactory

pytestmark = pytest.mark.django_db

BODY = {
    "email": "jane@example.com",
    "ctx": {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Leather motorbike jacket"},
}


def post(client, path, body=BODY, **kwargs):
    return client.post(path, body, format="json", **kwargs)


class TestTrigger:
    def test_accepted_event_is_stored_pending_and_answered_like_acs(self, api, cart_event, settings):
        response = post(api, trigger_path("EVTcartAbandonment"))
        assert response.status_code == 202
        body = response.json()
        event = Event.objects.get()
        assert body["PKey"] == event.pkey
        assert body["status"] == "pending" == event.status
        assert body["ctx"] == BODY["ctx"]
        assert body["email"] == "jane@example.com"
        assert body["href"] == f"mcacme/EVTcartAbandonment/{event.pkey}"
        assert body["serverUrl"] == "http://testserver"
        assert body["type"] == "email"
        assert body["scheduled"] is None
        # Without `expiration`, the default validity from settings applies.
        expiration = datetime.fromisoformat(body["expiration"])
        validity = timedelta(seconds=settings.CAMPAIGN_EVENT_DEFAULT_VALIDITY)
        assert abs(expiration - (event.created_at + validity)) < timedelta(minutes=1)

    def test_pkeys_are_unguessable_and_unique(self, api, cart_event):
        keys = {post(api, trigger_path("EVTcartAbandonment")).json()["PKey"] for _ in range(5)}
        assert len(keys) == 5
        assert all(len(key) >= 24 for key in keys)

    def test_scheduled_and_expiration_accept_a_space_or_a_t(self, api, cart_event):
        body = {**BODY, "scheduled": "2030-12-01 08:00:00.768Z", "expiration": "2030-12-31T08:00:00Z"}
        response = post(api, trigger_path("EVTcartAbandonment"), body)
        assert response.status_code == 202
        assert response.json()["scheduled"] == "2030-12-01T08:00:00.768000Z"
        assert response.json()["expiration"] == "2030-12-31T08:00:00Z"

    def test_charset_in_content_type_is_accepted(self, api, cart_event):
        import json

        response = api.post(
            trigger_path("EVTcartAbandonment"),
            json.dumps(BODY),
            content_type="application/json;charset=utf-8",
        )
        assert response.status_code == 202


class TestAuthentication:
    def test_missing_credentials_give_401(self, cart_event):
        response = post(APIClient(), trigger_path("EVTcartAbandonment"))
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert not Event.objects.exists()

    def test_bad_token_gives_401(self, credentials, cart_event):
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION="Bearer wrong", HTTP_X_API_KEY=credentials.integration.client_id
        )
        response = post(client, trigger_path("EVTcartAbandonment"))
        assert response.status_code == 401
        assert response.json()["code"] == "authentication_failed"

    def test_token_without_api_key_gives_401(self, credentials, cart_event):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {credentials.token}")
        assert post(client, trigger_path("EVTcartAbandonment")).status_code == 401

    def test_revoked_credentials_give_401(self, api, credentials, cart_event):
        integration_revoke(integration=credentials.integration)
        assert post(api, trigger_path("EVTcartAbandonment")).status_code == 401
        assert not Event.objects.exists()

    def test_the_token_is_not_stored(self, credentials):
        credentials.integration.refresh_from_db()
        assert credentials.token not in credentials.integration.token_hash


class TestNotFound:
    def test_unknown_event_gives_404_and_stores_nothing(self, api, cart_event):
        response = post(api, trigger_path("EVTnoSuchEvent"))
        assert response.status_code == 404
        assert response.json()["code"] == "event_not_found"
        assert not Event.objects.exists()

    def test_draft_event_gives_404(self, api):
        EventConfigurationFactory(event_id="EVTdraft")
        assert post(api, trigger_path("EVTdraft")).status_code == 404

    def test_unpublished_event_gives_404_and_stores_nothing(self, api, cart_event):
        configuration_unpublish(config=cart_event)
        assert post(api, trigger_path("EVTcartAbandonment")).status_code == 404
        assert not Event.objects.exists()

    def test_other_organization_gives_404(self, api, cart_event):
        assert post(api, "/other/campaign/mcother/EVTcartAbandonment").status_code == 404


class TestBadBody:
    def test_body_that_is_not_json_gives_400(self, api, cart_event):
        response = api.post(trigger_path("EVTcartAbandonment"), "{not json", content_type="application/json")
        assert response.status_code == 400
        assert response.json() == {
            "code": "invalid_json",
            "message": "The body is not valid JSON.",
            "errors": [],
        }
        assert not Event.objects.exists()

    def test_json_that_is_not_an_object_gives_400(self, api, cart_event):
        response = post(api, trigger_path("EVTcartAbandonment"), [1, 2])
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_body"

    def test_missing_email_gives_400_naming_the_field(self, api, cart_event):
        response = post(api, trigger_path("EVTcartAbandonment"), {"ctx": BODY["ctx"]})
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "validation_failed"
        assert body["errors"] == [
            {"path": "email", "message": "This field is required: the recipient's email address."}
        ]
        assert not Event.objects.exists()

    def test_invalid_email_gives_400(self, api, cart_event):
        response = post(api, trigger_path("EVTcartAbandonment"), {**BODY, "email": "not-an-address"})
        assert response.json()["errors"][0]["path"] == "email"

    def test_each_bad_ctx_field_is_reported_with_its_path(self, api, cart_event):
        ctx = {"firstName": 12, "cartAmount": "x" * 101, "colour": "red"}
        response = post(api, trigger_path("EVTcartAbandonment"), {**BODY, "ctx": ctx})
        assert response.status_code == 400
        errors = {e["path"]: e["message"] for e in response.json()["errors"]}
        assert errors == {
            "ctx.firstName": "Expected a text of at most 100 characters; got the number 12.",
            "ctx.cartAmount": "Expected a text of at most 100 characters; got 101 characters.",
            "ctx.colour": "Unknown field: it is not part of the event's data structure.",
            "ctx.lastProduct": "This field is required: expected a text of at most 100 characters.",
        }

    def test_unparseable_dates_give_400(self, api, cart_event):
        response = post(api, trigger_path("EVTcartAbandonment"), {**BODY, "scheduled": "tomorrow"})
        assert response.json()["errors"][0]["path"] == "scheduled"

    def test_non_json_media_type_gives_415(self, api, cart_event):
        response = api.post(trigger_path("EVTcartAbandonment"), "<event/>", content_type="application/xml")
        assert response.status_code == 415
        assert response.json()["code"] == "unsupported_media_type"


class TestStatusLookup:
    def test_get_by_pkey_returns_the_event(self, api, cart_event):
        pkey = post(api, trigger_path("EVTcartAbandonment")).json()["PKey"]
        response = api.get(f"{trigger_path('EVTcartAbandonment')}/{pkey}")
        assert response.status_code == 200
        assert response.json()["PKey"] == pkey
        assert response.json()["status"] == "pending"

    def test_post_with_an_empty_body_also_returns_the_event(self, api, cart_event):
        pkey = post(api, trigger_path("EVTcartAbandonment")).json()["PKey"]
        response = api.post(f"{trigger_path('EVTcartAbandonment')}/{pkey}")
        assert response.status_code == 200
        assert response.json()["PKey"] == pkey

    def test_unknown_pkey_gives_404(self, api, cart_event):
        response = api.get(f"{trigger_path('EVTcartAbandonment')}/nope")
        assert response.status_code == 404

    def test_pkey_under_another_event_gives_404(self, api, cart_event):
        pkey = post(api, trigger_path("EVTcartAbandonment")).json()["PKey"]
        assert api.get(f"{trigger_path('EVTother')}/{pkey}").status_code == 404

    def test_status_lookup_needs_credentials(self, api, cart_event):
        pkey = post(api, trigger_path("EVTcartAbandonment")).json()["PKey"]
        assert APIClient().get(f"{trigger_path('EVTcartAbandonment')}/{pkey}").status_code == 401


class TestChannelAddresses:
    def publish(self, channel):
        from messages_app.services import configuration_publish

        config = EventConfigurationFactory(event_id=f"EVT{channel}Alert", channel=channel)
        configuration_publish(config=config)
        return trigger_path(config.event_id)

    def test_sms_event_takes_an_e164_mobile_phone(self, api):
        path = self.publish("sms")
        response = post(api, path, {"mobilePhone": "+33612345678", "ctx": {}})
        assert response.status_code == 202
        assert response.json()["mobilePhone"] == "+33612345678"
        assert "email" not in response.json()
        assert Event.objects.get().mobile_phone == "+33612345678"

    @pytest.mark.parametrize("phone", ["0612345678", "+33 6 12 34 56 78", "+0612345678", 33612345678])
    def test_sms_event_refuses_a_phone_not_in_e164(self, api, phone):
        response = post(api, self.publish("sms"), {"mobilePhone": phone, "ctx": {}})
        assert response.status_code == 400
        assert response.json()["errors"][0]["path"] == "mobilePhone"

    def test_sms_event_refuses_an_email_address(self, api):
        response = post(
            api, self.publish("sms"), {"mobilePhone": "+33612345678", "email": "a@b.c", "ctx": {}}
        )
        assert response.json()["errors"] == [{"path": "email", "message": "Unknown field."}]

    def test_push_event_takes_token_application_and_platform(self, api):
        body = {
            "registrationToken": "tok123",
            "application": "com.shop.app",
            "pushPlatform": "apns",
            "ctx": {},
        }
        response = post(api, self.publish("push"), body)
        assert response.status_code == 202
        event = Event.objects.get()
        assert (event.push_token, event.push_application, event.push_platform) == (
            "tok123",
            "com.shop.app",
            "apns",
        )
        assert {k: response.json()[k] for k in ("registrationToken", "application", "pushPlatform")} == {
            "registrationToken": "tok123",
            "application": "com.shop.app",
            "pushPlatform": "apns",
        }

    def test_push_event_reports_each_missing_or_bad_address_field(self, api):
        response = post(api, self.publish("push"), {"pushPlatform": "windows", "ctx": {}})
        paths = {e["path"]: e["message"] for e in response.json()["errors"]}
        assert set(paths) == {"registrationToken", "application", "pushPlatform"}
        assert paths["pushPlatform"] == "Expected gcm or apns, got 'windows'."


def test_each_missing_required_field_is_reported_once(api, cart_event):
    response = post(api, trigger_path("EVTcartAbandonment"), {**BODY, "ctx": {"firstName": "Jane"}})
    assert response.status_code == 400
    assert sorted(e["path"] for e in response.json()["errors"]) == ["ctx.cartAmount", "ctx.lastProduct"]
