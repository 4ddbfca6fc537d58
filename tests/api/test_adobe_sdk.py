"""Adobe's Campaign Standard SDK (@adobe/aio-lib-campaign-standard, from the npm registry) sends an
event and reads its status against the live server, unchanged but for the host. It sends its JSON
as `text/plain;charset=UTF-8`, and reads the status with an empty POST."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from events.models import Event
from tests.plugins import IN_CI

SDK_DIR = Path(__file__).resolve().parent.parent / "sdk"
NODE = shutil.which("node")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk():
    if not NODE or not (SDK_DIR / "node_modules" / "@adobe" / "aio-lib-campaign-standard").is_dir():
        if IN_CI:
            pytest.fail("node and `npm ci --prefix tests/sdk` are needed for the Adobe SDK test")
        pytest.skip("Adobe's SDK is not installed: npm ci --prefix tests/sdk")

    def call(base_url, credentials, event_id, body, style=""):
        completed = subprocess.run(
            [
                NODE,
                str(SDK_DIR / "acs_sdk_call.js"),
                base_url,
                settings.CAMPAIGN_ORGANIZATION,
                credentials.integration.client_id,
                credentials.token,
                event_id,
                json.dumps(body),
                style,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=SDK_DIR,
        )
        return completed

    return call


@pytest.mark.parametrize("style", ["", "mac"], ids=["tenant", "mac_tenant"])
def test_adobes_sdk_sends_an_event_and_reads_its_status(sdk, live_server, credentials, cart_event, style):
    body = {
        "email": "jane@example.com",
        "ctx": {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Leather jacket"},
        "scheduled": "2030-12-01 08:00:00Z",
    }
    completed = sdk(live_server.url, credentials, "EVTcartAbandonment", body, style)
    assert completed.returncode == 0, completed.stderr
    answer = json.loads(completed.stdout)
    event = Event.objects.get()
    assert answer["send"]["status"] == 202
    assert answer["send"]["body"]["PKey"] == event.pkey
    assert answer["send"]["body"]["ctx"] == body["ctx"]
    assert answer["send"]["body"]["scheduled"] == "2030-12-01T08:00:00Z"
    assert answer["get"]["status"] == 200
    assert answer["get"]["body"]["PKey"] == event.pkey
    assert answer["get"]["body"]["status"] == "pending"


def test_adobes_sdk_gets_the_error_body_of_a_bad_event(sdk, live_server, credentials, cart_event):
    completed = sdk(live_server.url, credentials, "EVTcartAbandonment", {"ctx": {}})
    assert completed.returncode == 1
    assert "400" in completed.stderr and "validation_failed" in completed.stderr
    assert not Event.objects.exists()
