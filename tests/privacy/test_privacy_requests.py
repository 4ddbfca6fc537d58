"""Privacy requests: the JSON export of everything held about a profile, and the erasure that
leaves none of its personal data in any table while its addresses stay suppressed."""

import hashlib
import io
import json
from datetime import UTC, datetime

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditAction, AuditEntry
from delivery.models import (
    AddressQuarantine,
    CapturedEmail,
    CapturedMessage,
    DeliveryAttempt,
    DenylistEntry,
    Exclusion,
    ExclusionReason,
    Interaction,
    TrackingEvent,
)
from delivery.services import event_deliver
from events.models import Event, EventStatus
from events.services import event_trigger
from integrations.models import CallbackAttempt, IdempotencyKey
from integrations.services import integration_create
from messages_app import models as messages_models
from privacy.models import PrivacyRequest, PrivacyRequestKind, PrivacyRequestOutcome
from privacy.services import profile_erase, profile_export
from profiles.imports import profile_import_check, profile_import_create
from profiles.models import AppSubscription, Profile, Service, Subscription, Suppression
from tests.delivery.engagement import engagement_message, send_and_engage
from tests.profiles.helpers import profile_based_event
from typologies.conditions import condition_q

pytestmark = pytest.mark.django_db

EMAIL = "quillon.zebrowski@example.org"
PHONE = "+33677788899"
FIRST, LAST = "Quillon", "Zebrowski"
EXTERNAL_ID = "CUST-ZX-9931"
TOKEN = "tok-zebrowski-device-1"
NEEDLES = [EMAIL, PHONE, FIRST, LAST, EXTERNAL_ID, TOKEN]

PROFILE_CONTENT = {
    "sender_email": "shop@example.com",
    "subject": "Hello {{ customer.first_name }}",
    "html": "<p>Hello {{ customer.first_name }} {{ customer.last_name }}</p>",
    "text": "Hello {{ customer.first_name }} {{ customer.last_name }}",
}


def tables_holding(needle: str) -> list[str]:
    """Every table.column, of every table, whose text, JSON or bytes hold `needle` (any case)."""
    found = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                kind = connection.introspection.get_field_type(column.type_code, column)
                if kind not in ("CharField", "TextField", "JSONField", "BinaryField"):
                    continue
                value = quote(column.name)
                if kind == "BinaryField" and connection.vendor == "postgresql":
                    value = f"encode({value}, 'escape')"
                cursor.execute(
                    f"SELECT COUNT(*) FROM {quote(table)} "  # noqa: S608 - names from introspection
                    f"WHERE UPPER(CAST({value} AS TEXT)) LIKE UPPER(%s)",
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    found.append(f"{table}.{column.name}")
    return found


@pytest.fixture
def held(cart_event, smtp, administrator):
    """A profile and everything the product holds about it, in every table that can."""
    newsletter = Service.objects.create(name="newsletter", label="Newsletter")
    profile = Profile.objects.create(
        email=EMAIL,
        mobile_phone=PHONE,
        first_name=FIRST,
        last_name=LAST,
        external_id=EXTERNAL_ID,
        attributes={"points": "12.50"},
    )
    Subscription.objects.create(
        profile=profile, service=newsletter, subscribed_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    AppSubscription.objects.create(
        profile=profile, application="com.example.shop", platform="fcm", registration_token=TOKEN
    )
    # An event-based event to its address, sent; a profile-based one that targeted it, sent.
    event = event_trigger(
        event_id=cart_event.event_id,
        payload={"email": EMAIL, "ctx": {"firstName": FIRST, "cartAmount": "$ 1", "lastProduct": LAST}},
    )
    event_deliver(event_pk=event.pk)
    config = profile_based_event(event_id="EVTwelcomeBack", channel="email", content=PROFILE_CONTENT)
    targeted = event_trigger(event_id=config.event_id, payload={"ctx": {"customerId": EXTERNAL_ID}})
    event_deliver(event_pk=targeted.pk)
    assert [m["Subject"] for m in smtp.messages] == [f"{FIRST}, your cart is waiting", f"Hello {FIRST}"]
    # Its logs, feedback, captures, proofs, lists and a staged import row.
    issued = integration_create(name="Shop")
    # As the delivery path writes them: with the event's PKey and configuration, which they keep
    # once the event is deleted (the logs outlive their events).
    keys = {"event": event, "event_pkey": event.pkey, "configuration_id": event.configuration_id}
    CallbackAttempt.objects.create(
        **keys,
        integration=issued.integration,
        event_status="processed",
        url="https://shop.example.com/hook",
        result="failed",
        error=f"500 for {EMAIL}",
    )
    Exclusion.objects.create(
        **keys, channel="email", address=EMAIL, reason="denylist", detail=f"{EMAIL} denied"
    )
    TrackingEvent.objects.create(
        **keys, esp_name="Test", event_type="opened", recipient=EMAIL, esp_event={"to": EMAIL}
    )
    CapturedEmail.objects.create(
        from_email="shop@example.com", to=EMAIL, subject=f"Hi {FIRST}", raw=f"To: {EMAIL}"
    )
    CapturedMessage.objects.create(channel="sms", to=PHONE, body=f"Hi {FIRST}")
    AddressQuarantine.objects.create(channel="sms", address=PHONE, soft_bounces=1)
    DenylistEntry.objects.create(channel="email", address=EMAIL, reason="asked")
    test_profile = messages_models.TestProfile.objects.create(
        message=cart_event.message,
        name="Support",
        address=EMAIL,
        event_data={"firstName": FIRST},
        profile=profile,
    )
    messages_models.ProofSend.objects.create(
        message=cart_event.message,
        test_profile=test_profile,
        channel="email",
        address=EMAIL,
        content={"subject": f"Hi {FIRST}"},
        status="sent",
    )
    # The trigger API's stored answer to a retried request echoes the payload.
    IdempotencyKey.objects.create(
        integration=issued.integration,
        key="retry-1",
        request_hash="0" * 64,
        response_status=202,
        response_body=json.dumps({"email": EMAIL, "ctx": {"firstName": FIRST}}).encode(),
        created_at=datetime.now(UTC),
    )
    # A file still being checked.
    profile_import_create(chunks=iter([f"email\n{EMAIL}\n".encode()]), file_name="waiting.csv", key="email")
    profile_import_check(
        profile_import_id=profile_import_create(
            chunks=iter([f"email,first_name\n{EMAIL},{FIRST}\n".encode()]), file_name="p.csv", key="email"
        ).pk
    )
    LogEntry.objects.create(
        user=administrator,
        content_type=ContentType.objects.get_for_model(Profile),
        object_id=str(profile.pk),
        object_repr=str(profile),
        action_flag=CHANGE,
        change_message="[]",
    )
    return profile, event, targeted


def test_erase_leaves_no_personal_data_in_any_table(held, administrator):
    profile, event, targeted = held
    before = {needle: tables_holding(needle) for needle in NEEDLES}
    # The search finds what is there: the profile and its logs, in many tables.
    assert "profiles_profile.email" in before[EMAIL]
    assert "events_event.ctx" in before[FIRST]
    assert "delivery_deliveryattempt.address" in before[EMAIL]
    assert "django_admin_log.object_repr" in before[LAST]
    assert "profiles_profileimportrow.data" in before[FIRST]
    assert "campaign_idempotencykey.response_body" in before[EMAIL]
    assert "profiles_profileimportchunk.data" in before[EMAIL]

    profile_id = profile.pk
    record = profile_erase(profile=profile, user=administrator)

    assert record.outcome == PrivacyRequestOutcome.DONE
    assert {needle: tables_holding(needle) for needle in NEEDLES} == {needle: [] for needle in NEEDLES}
    assert not Profile.objects.filter(pk=profile.pk).exists()
    # The events keep their status, without their data.
    event.refresh_from_db()
    targeted.refresh_from_db()
    assert (event.status, event.ctx, event.email) == (EventStatus.PROCESSED, {}, "")
    assert (targeted.status, targeted.ctx) == (EventStatus.PROCESSED, {})
    assert event.delivery_attempts.get().outcome == "sent"
    # Recorded: who, when, what, the profile by a hash of its address.
    assert (record.kind, record.requested_by, record.subject_hash) == (
        PrivacyRequestKind.ERASE,
        administrator,
        hashlib.sha256(EMAIL.encode()).hexdigest(),
    )
    assert record.detail["events"] == 2
    assert set(Suppression.objects.values_list("channel", flat=True)) == {"email", "sms", "push"}
    # In the audit log too, without personal data (the search above covered its table).
    [entry] = AuditEntry.objects.filter(action=AuditAction.PRIVACY_ERASED)
    assert (entry.actor, entry.object_id, entry.object_label) == (
        administrator,
        str(profile_id),
        record.subject_hash,
    )
    assert entry.changes["after"]["events"] == 2


def test_erase_reaches_the_logs_of_events_already_deleted(held, administrator):
    """The events' retention deleted the profile's events and kept their logs (RETENTION_LOGS_DAYS
    against RETENTION_EVENTS_DAYS): erasing the profile still removes its data from them."""
    profile, event, targeted = held
    Event.objects.filter(pk__in=[event.pk, targeted.pk]).delete()
    assert DeliveryAttempt.objects.filter(event__isnull=True, address=EMAIL).count() == 2
    assert "delivery_deliveryattempt.address" in tables_holding(EMAIL)
    assert "campaign_callbackattempt.error" in tables_holding(EMAIL)

    record = profile_erase(profile=profile, user=administrator)

    assert record.outcome == PrivacyRequestOutcome.DONE
    assert {needle: tables_holding(needle) for needle in NEEDLES} == {needle: [] for needle in NEEDLES}
    # The logs stay, with the PKeys of their events, without the data.
    assert set(DeliveryAttempt.objects.values_list("event_pkey", "address")) == {
        (event.pkey, ""),
        (targeted.pkey, ""),
    }
    assert CallbackAttempt.objects.get().event_pkey == event.pkey


def test_an_erased_address_is_never_messaged_again(held, cart_event, smtp, administrator):
    profile, _, _ = held
    profile_erase(profile=profile, user=administrator)
    sent = len(smtp.messages)

    event = event_trigger(
        event_id=cart_event.event_id,
        payload={"email": EMAIL.upper(), "ctx": {"firstName": "X", "cartAmount": "$ 1", "lastProduct": "Y"}},
    )
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.IGNORED
    assert "erased by a privacy request" in event.error
    exclusion = Exclusion.objects.get(event=event)
    assert (exclusion.reason, exclusion.address) == (ExclusionReason.SUPPRESSED, "")
    assert len(smtp.messages) == sent

    job = profile_import_check(
        profile_import_id=profile_import_create(
            chunks=iter([f"email,first_name\n{EMAIL},Again\n".encode()]), file_name="again.csv", key="email"
        ).pk
    )
    assert (job.rows_new, job.rows_skipped) == (0, 1)


def test_export_holds_everything_about_the_profile(held, administrator):
    profile, event, targeted = held
    document = json.loads(json.dumps(profile_export(profile=profile, user=administrator), default=str))
    [entry] = AuditEntry.objects.filter(action=AuditAction.PRIVACY_EXPORTED)
    assert (entry.actor, entry.object_id) == (administrator, str(profile.pk))
    assert EMAIL not in json.dumps([entry.object_label, entry.changes])

    assert document["profile"]["email"] == EMAIL
    assert document["profile"]["attributes"] == {"points": "12.50"}
    assert [s["service"] for s in document["subscriptions"]] == ["newsletter"]
    assert [a["registration_token"] for a in document["app_subscriptions"]] == [TOKEN]
    events = {e["pkey"]: e for e in document["events"]}
    assert set(events) == {event.pkey, targeted.pkey}
    assert events[event.pkey]["ctx"]["firstName"] == FIRST
    assert [a["address"] for a in events[event.pkey]["delivery_attempts"]] == [EMAIL]
    assert [x["reason"] for x in events[event.pkey]["exclusions"]] == ["denylist"]
    assert [t["type"] for t in events[event.pkey]["tracking"]] == ["opened"]
    assert [c["error"] for c in events[event.pkey]["status_callbacks"]] == [f"500 for {EMAIL}"]
    assert events[targeted.pkey]["ctx"] == {"customerId": EXTERNAL_ID}
    assert [p["address"] for p in document["proofs"]] == [EMAIL]
    assert [c["to"] for c in document["captured_emails"]] == [EMAIL]
    assert [c["to"] for c in document["captured_messages"]] == [PHONE]
    assert [q["address"] for q in document["quarantine"]] == [PHONE]
    assert [d["address"] for d in document["denylist"]] == [EMAIL]
    record = PrivacyRequest.objects.get()
    assert (record.kind, record.requested_by) == (PrivacyRequestKind.EXPORT, administrator)
    assert EMAIL not in json.dumps(record.detail)


def test_commands_export_and_erase(held, tmp_path):
    profile, _, _ = held
    path = tmp_path / "export.json"
    call_command("privacy_export", "--email", EMAIL.upper(), "-o", str(path), stderr=io.StringIO())
    assert json.loads(path.read_text())["profile"]["external_id"] == EXTERNAL_ID

    with pytest.raises(CommandError, match="add --yes"):
        call_command("privacy_erase", "--external-id", EXTERNAL_ID)
    assert Profile.objects.filter(pk=profile.pk).exists()
    out = io.StringIO()
    call_command("privacy_erase", "--external-id", EXTERNAL_ID, "--yes", stdout=out)
    assert "events=2" in out.getvalue()
    assert not Profile.objects.filter(pk=profile.pk).exists()
    assert list(PrivacyRequest.objects.order_by("pk").values_list("kind", "outcome")) == [
        ("export", "done"),
        ("erase", "done"),
    ]
    with pytest.raises(CommandError, match="No profile matches"):
        call_command("privacy_export", "--email", EMAIL)


def test_admin_export_and_erase_through_confirmation_pages(held, client, administrator):
    profile, _, _ = held
    client.force_login(administrator)
    page = client.get(f"/admin/profiles/profile/{profile.pk}/change/").content.decode()
    assert f"/admin/privacy/privacyrequest/export/{profile.pk}/" in page
    assert f"/admin/privacy/privacyrequest/erase/{profile.pk}/" in page

    confirm = client.get(f"/admin/privacy/privacyrequest/export/{profile.pk}/")
    assert "Download the JSON document" in confirm.content.decode()
    download = client.post(f"/admin/privacy/privacyrequest/export/{profile.pk}/")
    assert download["Content-Disposition"].startswith("attachment;")
    assert json.loads(download.content)["profile"]["email"] == EMAIL

    confirm = client.get(f"/admin/privacy/privacyrequest/erase/{profile.pk}/").content.decode()
    assert "Events concerned: 2" in confirm
    response = client.post(f"/admin/privacy/privacyrequest/erase/{profile.pk}/", follow=True)
    assert "personal data was erased" in response.content.decode()
    assert not Profile.objects.filter(pk=profile.pk).exists()


def test_a_marketer_may_neither_export_nor_erase(held, client, marketer):
    profile, _, _ = held
    client.force_login(marketer)
    assert client.get(f"/admin/privacy/privacyrequest/export/{profile.pk}/").status_code == 403
    assert client.post(f"/admin/privacy/privacyrequest/erase/{profile.pk}/").status_code == 403
    assert Profile.objects.filter(pk=profile.pk).exists()


def test_erasing_a_profile_detaches_its_opens(smtp, settings, administrator):
    config = engagement_message(event_id="EVTsale", settings=settings)
    ann = Profile.objects.create(external_id="ann", email="ann@example.com")
    send_and_engage(config=config, smtp=smtp, profile=ann, does=("open",))
    opened = {"all": [{"field": "message", "op": "opened", "value": config.message.message_id}]}
    assert list(Profile.objects.filter(condition_q(opened))) == [ann]

    profile_erase(profile=ann, user=administrator)
    # The open still counts in the reports; it belongs to no profile any more.
    assert list(Interaction.objects.values_list("kind", "profile")) == [("open", None)]
