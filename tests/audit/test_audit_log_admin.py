"""The audit log screen: read-only for everyone, filtered, exported as CSV; append-only in the
database as well."""

import csv
import io

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEntry, AuditEntryImmutable
from delivery.feedback import address_quarantine, address_release
from integrations.services import integration_create, integration_revoke
from messages_app.services import message_pause, message_resume
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
BASE = "/admin/audit/auditentry"


@pytest.fixture
def history(administrator, marketer, cart_event):
    """Three entries by two users on two objects."""
    message_pause(message=cart_event.message, user=marketer)
    message_resume(message=cart_event.message, user=marketer)
    integration_revoke(integration=integration_create(name="Old shop", user=administrator).integration)
    return cart_event


def _listed(client, **params) -> str:
    """The result table of the list (the filters' sidebar names every action)."""
    page = client.get(f"{BASE}/", params).content.decode()
    start = page.find('<table id="result_list"')
    return page[start : page.find("</table>", start)] if start >= 0 else ""


def _csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_administrators_read_filter_and_export_the_log(client, administrator, marketer, history):
    client.force_login(administrator)
    listed = _listed(client)
    for text in ("Message paused", "Message resumed", "API credentials created", "API credentials revoked"):
        assert text in listed
    assert "Export CSV" in client.get(f"{BASE}/").content.decode()

    by_marketer = _listed(client, actor__id__exact=marketer.pk)
    assert "Message paused" in by_marketer and "API credentials revoked" not in by_marketer
    by_action = _listed(client, action__exact="integration.revoked")
    assert "API credentials revoked" in by_action and "Message paused" not in by_action
    by_object = _listed(client, object_type="integrations.integration")
    assert "Old shop" in by_object and "Message resumed" not in by_object
    assert "Message paused" in _listed(client, q="RTEVTcartAbandonment")
    today = history.modified_at.date()
    day = {"created_at__year": today.year, "created_at__month": today.month, "created_at__day": today.day}
    assert "Message paused" in _listed(client, **day)
    assert "Message paused" not in _listed(client, **{**day, "created_at__year": 2000})

    # The export holds the filtered list, each entry with its changes.
    rows = _csv(client.get(f"{BASE}/export/", {"actor__id__exact": marketer.pk}))
    assert [row["action"] for row in rows] == ["message.resumed", "message.paused"]
    assert rows[1]["who"] == marketer.username and "RTEVTcartAbandonment" in rows[1]["object"]
    assert '"after": {"status": "paused"}' in rows[1]["changes"]
    assert len(_csv(client.get(f"{BASE}/export/"))) == AuditEntry.objects.count()


def test_no_one_adds_changes_or_deletes_an_entry(client, history):
    superuser = UserFactory(username="root", is_superuser=True)
    client.force_login(superuser)
    entry = AuditEntry.objects.get(action="message.resumed")
    page = client.get(f"{BASE}/{entry.pk}/change/").content.decode()
    assert "Message resumed" in page and 'name="_save"' not in page and "Delete" not in page
    assert "<td>status</td><td><code>paused</code></td><td><code>published</code></td>" in page
    assert client.get(f"{BASE}/add/").status_code == 403
    assert client.post(f"{BASE}/add/", {"action": "message.paused"}).status_code == 403
    assert client.post(f"{BASE}/{entry.pk}/change/", {"action": "message.paused"}).status_code == 403
    assert client.post(f"{BASE}/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = client.post(f"{BASE}/", {"action": "delete_selected", "_selected_action": [entry.pk]})
    assert listing.status_code in (200, 302)
    assert AuditEntry.objects.filter(pk=entry.pk, action="message.resumed").exists()


def test_marketers_do_not_see_the_log(client, marketer, history):
    client.force_login(marketer)
    assert client.get(f"{BASE}/").status_code == 403
    assert client.get(f"{BASE}/export/").status_code == 403


def test_the_model_refuses_to_change_or_delete_an_entry(history):
    entry = AuditEntry.objects.first()
    entry.action = "message.paused"
    with pytest.raises(AuditEntryImmutable):
        entry.save()
    with pytest.raises(AuditEntryImmutable):
        entry.delete()


def test_postgresql_refuses_update_and_delete_of_entries(postgresql_only, history):
    entry = AuditEntry.objects.first()
    for statement in (
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(action="message.paused"),
        lambda: AuditEntry.objects.filter(pk=entry.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            statement()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM audit_auditentry")
    assert AuditEntry.objects.get(pk=entry.pk).action == entry.action


def test_a_release_of_an_address_not_in_quarantine_writes_nothing(administrator):
    address_quarantine(channel="email", address="jane@example.com", reason="hard_bounce")
    assert address_release(channel="email", address="jane@example.com") == 1
    assert address_release(channel="email", address="jane@example.com") == 1
    assert address_release(channel="email", address="nobody@example.com") == 0
    assert AuditEntry.objects.filter(action="quarantine.released").count() == 1


def test_an_entry_is_written_only_inside_the_changes_transaction(transactional_db):
    from audit.models import AuditAction
    from audit.services import AuditOutsideTransaction, audit_record

    with pytest.raises(AuditOutsideTransaction):
        audit_record(action=AuditAction.PACKAGE_IMPORTED, object_type="messages_app.package")
    assert not AuditEntry.objects.exists()
