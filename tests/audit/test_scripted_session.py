"""A scripted working session of an administrator and a marketer, through the admin as they use it
(real logins): every change they make appears in the audit log, with who did it, in order."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from campaign.roles import MARKETERS
from events.models import EventConfiguration
from integrations.models import Integration
from tests.events.test_configuration_form import OTHER_INLINES
from tests.factories import UserFactory, membership_inline
from tests.messages_app.test_message_admin import form_data

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-enough-passphrase"


def login(username: str, password: str) -> Client:
    client = Client()
    response = client.post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})
    assert response.status_code == 302, response.content.decode()[:2000]
    return client


def ok(response):
    assert response.status_code == 302, response.content.decode()[:2000]
    return response


def test_every_action_of_an_administrator_and_a_marketer_is_in_the_audit_log():
    UserFactory(username="alice", is_superuser=True, password=PASSWORD)
    alice = login("alice", PASSWORD)

    # The administrator sets up an event, its credentials and a marketer.
    ok(
        alice.post(
            "/admin/events/eventconfiguration/add/",
            {
                "label": "Cart abandoned",
                "event_id": "cartAbandoned",
                "channel": "email",
                "targeting": "event",
                "fields-TOTAL_FORMS": "1",
                "fields-INITIAL_FORMS": "0",
                "fields-MIN_NUM_FORMS": "0",
                "fields-MAX_NUM_FORMS": "1000",
                "fields-0-field_id": "firstName",
                "fields-0-label": "First name",
                "fields-0-type": "text",
                "fields-0-position": "0",
                **OTHER_INLINES,
            },
        )
    )
    config = EventConfiguration.objects.get(event_id="EVTcartAbandoned")
    ok(alice.post(f"/admin/events/eventconfiguration/{config.pk}/action/publish/"))
    ok(alice.post("/admin/integrations/integration/add/", {"name": "Shop website"}))
    ok(
        alice.post(
            "/admin/auth/user/add/",
            {
                "username": "bob",
                "usable_password": "true",
                "password1": PASSWORD,
                "password2": PASSWORD,
                **membership_inline(),
            },
        )
    )
    bob_user = get_user_model().objects.get(username="bob")
    ok(
        alice.post(
            f"/admin/auth/user/{bob_user.pk}/change/",
            {
                "username": "bob",
                "email": "bob@example.com",
                "is_active": "on",
                "is_staff": "on",
                "groups": [str(Group.objects.get(name=MARKETERS).pk)],
                **membership_inline(bob_user),
            },
        )
    )

    # The marketer writes, publishes, pauses and resumes the message.
    bob = login("bob", PASSWORD)
    message = EventConfiguration.objects.get(pk=config.pk).message
    base = f"/admin/messages_app/transactionalmessage/{message.pk}"
    ok(
        bob.post(
            f"{base}/change/",
            form_data(
                message,
                sender_email="shop@example.com",
                subject="{{ ctx.firstName }}, your cart",
                html="<p>Hello {{ ctx.firstName }}</p>",
                missing_value_policy="fail",
            ),
        )
    )
    ok(bob.post(f"{base}/action/publish/"))
    ok(bob.post(f"{base}/action/pause/"))
    ok(bob.post(f"{base}/action/resume/"))

    # The administrator unpublishes and revokes the credentials, then reads the log.
    ok(alice.post(f"{base}/action/unpublish/"))
    integration = Integration.objects.get(name="Shop website")
    ok(alice.post(f"/admin/integrations/integration/{integration.pk}/action/revoke/"))

    export = alice.get("/admin/audit/auditentry/export/")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    logged = [(row["who"], row["source"], row["action"]) for row in reversed(rows)]
    assert logged == [
        ("alice", "admin", "event_config.created"),
        ("alice", "admin", "event_config.structure_changed"),
        ("alice", "admin", "event_config.published"),
        ("alice", "admin", "integration.created"),
        ("alice", "admin", "user.created"),
        ("alice", "admin", "user.changed"),
        ("alice", "admin", "user.groups_changed"),
        ("bob", "admin", "message.changed"),
        ("bob", "admin", "message.published"),
        ("bob", "admin", "message.paused"),
        ("bob", "admin", "message.resumed"),
        ("alice", "admin", "message.unpublished"),
        ("alice", "admin", "integration.revoked"),
    ]
    assert all(row["network"] == "127.0.0.0/24" for row in rows)
    listing = alice.get("/admin/audit/auditentry/?actor__id__exact=" + str(bob_user.pk)).content.decode()
    for label in ("Message content changed", "Message published", "Message paused", "Message resumed"):
        assert label in listing
