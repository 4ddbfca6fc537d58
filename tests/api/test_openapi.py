"""The OpenAPI description served by the app, its per-event request schemas, the docs pages from
local static files, and a schemathesis fuzz run against the live server: zero 5xx."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from events.models import Channel
from messages_app.services import configuration_publish
from tests.conftest import make_published_event
from tests.factories import EventConfigurationFactory

ORG = settings.CAMPAIGN_ORGANIZATION
PATH = f"/{ORG}/campaign/mc{ORG}/EVTcartAbandonment"


@pytest.mark.django_db
class TestSchema:
    def test_each_published_event_has_its_request_schema(self, api, cart_event):
        sms = EventConfigurationFactory(event_id="EVTsmsCode", channel=Channel.SMS)
        configuration_publish(config=sms)
        EventConfigurationFactory(event_id="EVTdraftOnly")
        schema = api.get("/api/schema/?format=json").json()
        assert schema["openapi"].startswith("3.")
        cart = schema["components"]["schemas"]["Event_EVTcartAbandonment"]
        assert cart["required"] == ["email", "ctx"]
        assert cart["additionalProperties"] is False
        first_name = cart["properties"]["ctx"]["properties"]["firstName"]
        assert (first_name["type"], first_name["maxLength"]) == ("string", 100)
        assert set(cart["properties"]["ctx"]["required"]) == {"firstName", "cartAmount", "lastProduct"}
        assert set(schema["components"]["schemas"]["Event_EVTsmsCode"]["properties"]) == {
            "mobilePhone",
            "ctx",
            "scheduled",
            "expiration",
        }
        assert "Event_EVTdraftOnly" not in schema["components"]["schemas"]
        operation = schema["paths"][PATH]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Event_EVTcartAbandonment"
        }
        assert set(operation["responses"]) >= {"202", "400", "401", "403", "404", "413", "415", "429", "503"}
        assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-Api-Key"

    def test_the_schema_needs_credentials_or_an_admin_session(self, client, administrator, cart_event):
        assert client.get("/api/schema/").status_code in (401, 403)
        client.force_login(administrator)
        assert client.get("/api/schema/?format=json").status_code == 200

    def test_the_docs_pages_load_swagger_ui_and_redoc_from_local_static_files(self, client, administrator):
        client.force_login(administrator)
        for url, asset in (("/api/docs/", "swagger-ui-bundle.js"), ("/api/redoc/", "redoc.standalone.js")):
            page = client.get(url).content.decode()
            assert "/static/drf_spectacular_sidecar/" in page and asset in page
            assert "cdn" not in page.lower()


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_5xx(live_server, credentials, tmp_path):
    make_published_event()
    sms = EventConfigurationFactory(event_id="EVTsmsCode", channel=Channel.SMS)
    configuration_publish(config=sms)
    report = tmp_path / "report"
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "run",
            f"{live_server.url}/api/schema/?format=json",
            "--url",
            live_server.url,
            "-H",
            f"X-Api-Key: {credentials.integration.client_id}",
            "-H",
            f"Authorization: Bearer {credentials.token}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"),
            "--phases",
            "examples,coverage,fuzzing",
            "--workers",
            "1",
            "--seed",
            "20261127",
            "--max-time",
            "30",
            "--request-timeout",
            "10",
            "--generation-database",
            "none",
            "--report-dir",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # schemathesis keeps a cache folder where it runs
    )
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]
    # The per-event operation (its request schema from the published structure) was exercised.
    assert f"POST {PATH}" in completed.stdout, completed.stdout[-3000:]
    assert " passed" in completed.stdout
