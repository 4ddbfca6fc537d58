import io
import re

import pytest
from django.core.management import call_command

from events.models import Event, EventConfiguration
from integrations.models import Integration
from integrations.services import integration_rotate_token
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


def _printed_calls(text: str) -> dict:
    token = re.search(r"Authorization: Bearer (\S+)'", text).group(1)
    return {
        "path": re.search(r"curl -sS -X POST http://127.0.0.1:8000(\S+)", text).group(1),
        "status_path": re.search(r"curl -sS http://127.0.0.1:8000(\S+)/<PKey>", text).group(1),
        "headers": {
            "Authorization": f"Bearer {token}",
            "X-Api-Key": re.search(r"X-Api-Key: (\S+)'", text).group(1),
        },
        "body": re.search(r"-d '(.+)'", text).group(1),
    }


def test_seed_demo_is_repeatable_and_the_first_runs_curl_still_works(client, tmp_path):
    secret_file = tmp_path / "var" / "demo-api-secret"
    first = io.StringIO()
    call_command("seed_demo", secret_file=secret_file, stdout=first)
    out = io.StringIO()
    call_command("seed_demo", secret_file=secret_file, stdout=out)
    text = out.getvalue()
    config = EventConfiguration.objects.get(event_id="EVTcartAbandonment")
    assert config.message.status == MessageStatus.PUBLISHED
    assert "login admin" in text and "login marketer" in text
    # The curl copied from the first run still works after the second.
    calls = _printed_calls(first.getvalue())
    assert calls == _printed_calls(text)
    response = client.post(
        calls["path"], calls["body"], content_type="application/json;charset=utf-8", headers=calls["headers"]
    )
    assert response.status_code == 202, response.content
    assert Event.objects.get().ctx["firstName"] == "Jane"
    # So does the printed status lookup, with the PKey of the answer.
    status = client.get(f"{calls['status_path']}/{response.json()['PKey']}", headers=calls["headers"])
    assert status.status_code == 200 and status.json()["PKey"] == response.json()["PKey"]
    # The secret stays with its owner; the stored credential is a digest, not the token.
    assert secret_file.stat().st_mode & 0o077 == 0
    token = calls["headers"]["Authorization"].removeprefix("Bearer ")
    assert not Integration.objects.filter(token_hash=token).exists()


def test_seed_demo_gives_the_demo_token_back_after_a_rotation_in_the_admin(client, tmp_path):
    secret_file = tmp_path / "demo-api-secret"
    first = io.StringIO()
    call_command("seed_demo", secret_file=secret_file, stdout=first)
    integration_rotate_token(integration=Integration.objects.get())
    call_command("seed_demo", secret_file=secret_file, stdout=io.StringIO())
    calls = _printed_calls(first.getvalue())
    response = client.post(
        calls["path"], calls["body"], content_type="application/json;charset=utf-8", headers=calls["headers"]
    )
    assert response.status_code == 202, response.content
