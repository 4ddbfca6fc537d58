"""The trigger's row cache (fastpath/rowcache.py) on real PostgreSQL: credentials and configurations
are read once, and a change is seen at once in the process that made it and within moments in every
other one (here: a change committed on a connection of its own, as another process would)."""

import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from events.models import Event, EventConfiguration
from fastpath.rowcache import cached_models, cached_tables, rowcache_get, rowcache_listening
from integrations.services import integration_create, integration_rotate_token
from messages_app.services import message_pause
from tests.conftest import make_published_event, trigger_path

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgresql_only")]

# Scheduled a day ahead: the dispatcher of a worker left running by other tests must not take these
# events while this module's teardown empties the tables.
EVENT = {
    "email": "jane@example.com",
    "ctx": {"firstName": "Jane", "cartAmount": "$ 5", "lastProduct": "Hat"},
    "scheduled": (timezone.now() + timedelta(days=1)).isoformat(),
}
PATH = trigger_path("EVTcartAbandonment")


@pytest.fixture
def issued():
    make_published_event()
    return integration_create(name="Shop")


def client_for(issued) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {issued.token}", HTTP_X_API_KEY=issued.integration.client_id
    )
    return client


def other_process(sql: str, params=()) -> None:
    """Run and commit `sql` on a connection of its own, as another process would."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=True,
    ) as conn:
        conn.execute(sql, params)


def warm(client) -> None:
    """Trigger until the listener is connected and the rows are cached (bounded: 5 s)."""
    deadline = time.monotonic() + 5
    while not rowcache_listening():
        assert client.post(PATH, EVENT, format="json").status_code == 202
        assert time.monotonic() < deadline, "the row cache's listener did not connect"
        time.sleep(0.05)
    assert client.post(PATH, EVENT, format="json").status_code == 202


def status_within(client, expected: int, seconds: float = 5.0):
    """Trigger until the answer has `expected` status; the last answer."""
    deadline = time.monotonic() + seconds
    while True:
        response = client.post(PATH, EVENT, format="json")
        if response.status_code == expected or time.monotonic() > deadline:
            return response
        time.sleep(0.02)


def test_a_cached_trigger_reads_neither_credentials_nor_configuration(issued):
    client = client_for(issued)
    warm(client)
    # The notifications of the setup's own commits may still be on their way, each emptying the
    # cache once more: a few calls at most.
    # The INSERT itself goes through the process's writer connection (fastpath/rows.py), not
    # Django's: the request runs no statement on Django's connection at all.
    for _ in range(20):
        with CaptureQueriesContext(connection) as queries:
            response = client.post(PATH, EVENT, format="json")
        if not queries:
            break
        time.sleep(0.05)
    assert response.status_code == 202
    assert [query["sql"] for query in queries] == []
    assert Event.objects.filter(pkey=response.json()["PKey"]).exists()


def test_a_change_made_in_this_process_is_seen_at_once(issued):
    client = client_for(issued)
    warm(client)
    message = EventConfiguration.objects.get(event_id="EVTcartAbandonment").message

    message_pause(message=message)
    assert client.post(PATH, EVENT, format="json").json()["status"] == "paused"

    integration_rotate_token(integration=issued.integration)
    assert client.post(PATH, EVENT, format="json").status_code == 401


def test_a_revocation_committed_elsewhere_is_seen_within_moments(issued):
    client = client_for(issued)
    warm(client)
    other_process("UPDATE campaign_integration SET revoked_at = now() WHERE id = %s", [issued.integration.pk])
    response = status_within(client, 401)
    assert response.status_code == 401, response.content


def test_a_pause_and_an_unpublish_committed_elsewhere_are_seen_within_moments(issued):
    client = client_for(issued)
    warm(client)
    other_process("UPDATE messages_app_transactionalmessage SET status = 'paused'")
    deadline = time.monotonic() + 5
    while client.post(PATH, EVENT, format="json").json()["status"] != "paused":
        assert time.monotonic() < deadline, "the paused message was not seen"
        time.sleep(0.02)

    other_process("UPDATE events_eventconfiguration SET status = 'draft'")
    response = status_within(client, 404)
    assert response.status_code == 404
    assert response.json()["code"] == "event_not_found"


def test_the_cache_is_bypassed_while_the_listener_is_disconnected_and_it_reconnects(issued):
    client = client_for(issued)
    warm(client)
    other_process(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE application_name = 'message-center rowcache'"
    )
    # A change made while nobody listens is not missed: the cache is off until the listener is back,
    # and forgotten when it is.
    other_process("UPDATE campaign_integration SET revoked_at = now() WHERE id = %s", [issued.integration.pk])
    response = status_within(client, 401)
    assert response.status_code == 401
    deadline = time.monotonic() + 10
    while not rowcache_listening():
        assert time.monotonic() < deadline, "the listener did not reconnect"
        time.sleep(0.1)
    assert client.post(PATH, EVENT, format="json").status_code == 401


def test_every_cached_table_notifies_its_changes():
    """A model put under the cache (`RowCachedQuerySet`) without a NOTIFY trigger on its tables would
    be served stale by other processes: the migration and the models must not drift apart."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE t.tgname = 'mc_rowcache_notify'"
        )
        notifying = {name for (name,) in cursor.fetchall()}
    assert cached_tables() == notifying
    assert {model._meta.label for model in cached_models()} == {
        "integrations.Integration",
        "events.EventConfiguration",
        "messages_app.TransactionalMessage",
        "typologies.Typology",
        "typologies.TypologyRule",
        "profiles.AttributeDefinition",
    }


def test_a_bulk_write_forgets_the_cache_before_its_transaction_commits(issued):
    """Bulk writes of a cached model forget this process's cache at once, without any call in the
    service: here the write is rolled back, so PostgreSQL never notifies it, and only the queryset
    can have made the cache read the row again."""
    warm(client_for(issued))
    loads = []

    def load():
        loads.append(1)
        return "row"

    assert rowcache_get(("probe",), load) == rowcache_get(("probe",), load) == "row"
    assert len(loads) == 1
    with transaction.atomic():
        EventConfiguration.objects.filter(event_id="EVTcartAbandonment").update(label="Renamed")
        transaction.set_rollback(True)
    assert rowcache_get(("probe",), load) == "row"
    assert len(loads) == 2


def test_a_conditional_update_is_seen_at_once_by_the_process_that_made_it(issued):
    """A configuration unpublished by a conditional update is refused by the next call."""
    client = client_for(issued)
    assert client.post(PATH, EVENT, format="json").status_code == 202
    EventConfiguration.objects.filter(event_id="EVTcartAbandonment").update(status="draft")
    assert client.post(PATH, EVENT, format="json").status_code == 404
