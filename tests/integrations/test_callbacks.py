"""Signed status callbacks: delivered to a receiver on loopback (allowed for development), signed
with the integration's secret, retried while failing; refused for loopback, link-local and private
targets (SSRF) and never following a redirect."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event
from events.tasks import event_callback_send
from integrations.callbacks import callback_post
from integrations.models import CallbackAttempt
from integrations.services import integration_callback_secret_rotate
from tests.api.receivers import Receiver
from tests.conftest import trigger_path

pytestmark = pytest.mark.django_db

BODY = {"email": "jane@example.com", "ctx": {"firstName": "Jane", "cartAmount": "$ 5", "lastProduct": "Hat"}}


@pytest.fixture
def receiver():
    servers = []

    def make(**kwargs):
        servers.append(Receiver(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def expired_event(api, credentials, url):
    """An event that reaches its final status (tooOld) at once, with the integration's callback set."""
    integration = credentials.integration
    integration.callback_url = url
    integration.save(update_fields=["callback_url"])
    integration_callback_secret_rotate(integration=integration)
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = api.post(trigger_path("EVTcartAbandonment"), {**BODY, "expiration": past}, format="json")
    assert response.json()["status"] == "tooOld"
    return Event.objects.get(pkey=response.json()["PKey"])


class TestDelivery:
    def test_a_final_status_is_posted_signed_with_the_integrations_secret(
        self, api, credentials, cart_event, receiver, settings
    ):
        settings.CAMPAIGN_CALLBACK_ALLOW_PRIVATE = True
        hook = receiver()
        event = expired_event(api, credentials, hook.url)
        event_callback_send.apply(args=[event.pk])

        assert len(hook.requests) == 1
        path, headers, body = hook.requests[0]
        assert path == "/hooks/mc"
        payload = json.loads(body)
        assert payload["PKey"] == event.pkey and payload["status"] == "tooOld"
        timestamp, signature = (part.split("=", 1)[1] for part in headers["X-MC-Signature"].split(","))
        secret = credentials.integration.callback_secret
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, expected)
        attempt = CallbackAttempt.objects.get()
        assert (attempt.result, attempt.response_status, attempt.event_status) == ("delivered", 200, "tooOld")

    def test_a_failing_receiver_is_retried_up_to_the_limit(
        self, api, credentials, cart_event, receiver, settings
    ):
        settings.CAMPAIGN_CALLBACK_ALLOW_PRIVATE = True
        settings.CAMPAIGN_CALLBACK_MAX_ATTEMPTS = 3
        hook = receiver(status=503)
        event = expired_event(api, credentials, hook.url)
        event_callback_send.apply(args=[event.pk])
        assert len(hook.requests) == 3
        assert list(CallbackAttempt.objects.values_list("result", "response_status")) == [("failed", 503)] * 3

    def test_no_callback_without_a_url_or_before_a_final_status(self, api, credentials, cart_event):
        response = api.post(trigger_path("EVTcartAbandonment"), BODY, format="json")
        event_callback_send.apply(args=[Event.objects.get(pkey=response.json()["PKey"]).pk])
        assert not CallbackAttempt.objects.exists()


class TestSsrf:
    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:{port}/hooks/mc",
            "http://localhost:{port}/hooks/mc",
            "http://[::1]:{port}/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.5/hook",
            "http://192.168.1.10/hook",
            "http://172.16.0.1/hook",
            "http://[fd00::1]/hook",
            "http://[::ffff:127.0.0.1]:{port}/",
            "http://0.0.0.0:{port}/",
            "http://2130706433:{port}/",
        ],
    )
    def test_internal_addresses_are_refused_without_connecting(self, receiver, settings, url):
        settings.CAMPAIGN_CALLBACK_ALLOW_PRIVATE = False
        hook = receiver()
        port = hook.server.server_address[1]
        outcome = callback_post(
            url=url.format(port=port), secret="s", payload={"status": "processed"}, timeout=2
        )
        assert outcome.result == "refused", outcome
        assert "not a public address" in outcome.error or "does not resolve" in outcome.error
        assert hook.requests == []

    @pytest.mark.parametrize(
        "url", ["ftp://example.com/x", "file:///etc/passwd", "http:///nohost", "gopher://1.2.3.4"]
    )
    def test_other_schemes_are_refused(self, url):
        assert callback_post(url=url, secret="s", payload={}).result == "refused"

    def test_a_redirect_is_not_followed(self, receiver, settings):
        settings.CAMPAIGN_CALLBACK_ALLOW_PRIVATE = True  # to reach the redirecting receiver on loopback
        target = receiver()
        redirecting = receiver(status=302, location=target.url)
        outcome = callback_post(url=redirecting.url, secret="s", payload={"status": "processed"})
        assert outcome.result == "failed"
        assert outcome.response_status == 302
        assert outcome.error == "Redirects are not followed."
        assert len(redirecting.requests) == 1
        assert target.requests == []

    def test_a_refused_callback_is_logged_and_not_retried(self, api, credentials, cart_event, settings):
        settings.CAMPAIGN_CALLBACK_ALLOW_PRIVATE = False
        event = expired_event(api, credentials, "http://169.254.169.254/latest/meta-data/")
        event_callback_send.apply(args=[event.pk])
        attempt = CallbackAttempt.objects.get()
        assert attempt.result == "refused"


def test_administrators_read_the_callback_and_idempotency_logs(
    client, administrator, marketer, api, cart_event
):
    api.post(trigger_path("EVTcartAbandonment"), BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    client.force_login(administrator)
    assert client.get("/admin/integrations/callbackattempt/").status_code == 200
    page = client.get("/admin/integrations/idempotencykey/")
    assert page.status_code == 200 and "k-1" in page.content.decode()
    client.force_login(marketer)
    assert client.get("/admin/integrations/idempotencykey/").status_code == 403


def test_an_administrator_scopes_credentials_and_sets_the_callback_in_the_admin(
    client, administrator, api, credentials
):
    from tests.conftest import make_published_event

    cart = make_published_event()
    other = make_published_event(event_id="EVTother")
    integration = credentials.integration
    client.force_login(administrator)
    response = client.post(
        f"/admin/integrations/integration/{integration.pk}/change/",
        {
            "name": integration.name,
            "allowed_events": [other.pk],
            "rate_limit": "50",
            "callback_url": "https://hooks.example.com/mc",
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    integration.refresh_from_db()
    assert (integration.all_events, integration.rate_limit, integration.callback_url) == (
        False,
        50,
        "https://hooks.example.com/mc",
    )
    assert api.post(trigger_path(cart.event_id), BODY, format="json").status_code == 403
    assert api.post(trigger_path(other.event_id), BODY, format="json").status_code == 202
    client.post(f"/admin/integrations/integration/{integration.pk}/action/rotate_callback_secret/")
    integration.refresh_from_db()
    assert len(integration.callback_secret) == 64
