"""Every audited action writes exactly one audit entry, with who, from where and what changed:
each action driven through the admin (as its users do), a management command or the service."""

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AuditEntry, AuditSource
from campaign.roles import ADMINISTRATORS, MARKETERS
from delivery.feedback import address_quarantine
from events.models import EventConfiguration
from events.services import event_config_structure_set, event_config_update
from integrations.models import Integration
from integrations.services import integration_create
from messages_app.services import (
    configuration_unpublish,
    message_pause,
    message_publish,
    message_resume,
    message_update,
    package_export,
)
from organisations.selectors import unit_root
from organisations.services import membership_set
from tests.conftest import make_published_event
from tests.events.test_configuration_form import OTHER_INLINES
from tests.factories import EventConfigurationFactory, EventFieldFactory, UserFactory, membership_inline
from tests.messages_app.test_message_admin import form_data

pytestmark = pytest.mark.django_db

FIELDS_MANAGEMENT = {
    "fields-TOTAL_FORMS": "0",
    "fields-INITIAL_FORMS": "0",
    "fields-MIN_NUM_FORMS": "0",
    "fields-MAX_NUM_FORMS": "1000",
}
EVENT_ADMIN = "/admin/events/eventconfiguration"
MESSAGE_ADMIN = "/admin/messages_app/transactionalmessage"
USER_ADMIN = "/admin/auth/user"


@dataclass
class World:
    client: Any
    administrator: Any
    marketer: Any
    objects: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    prepare: Callable[[World], None]
    act: Callable[[World], None]
    action: str
    object_type: str
    check: Callable[[World, AuditEntry], None]
    source: str = AuditSource.ADMIN
    actor: str | None = "administrator"  # the World attribute of the expected actor, or None


def _nothing(world):
    pass


def _posted(response, status=302):
    assert response.status_code == status, response.content.decode()[:2000]


def _draft_config(world, with_field=True):
    config = EventConfigurationFactory(event_id="EVTorderShipped", label="Order shipped")
    if with_field:
        EventFieldFactory(configuration=config, field_id="trackingNumber", position=0)
    world.objects["config"] = config


def _published(world):
    world.objects["config"] = make_published_event(user=world.administrator)
    world.objects["message"] = world.objects["config"].message


def _object(world, name):
    return world.objects[name]


# --- Event configurations --------------------------------------------------------------------


def create_config_in_admin(world):
    data = {"label": "Order shipped", "event_id": "orderShipped", "channel": "email", "targeting": "event"}
    _posted(world.client.post(f"{EVENT_ADMIN}/add/", {**data, **FIELDS_MANAGEMENT, **OTHER_INLINES}))


def check_config_created(world, entry):
    assert entry.object_label.startswith("Order shipped")
    assert entry.object_id == str(EventConfiguration.objects.get(event_id="EVTorderShipped").pk)
    assert entry.changes["after"]["event_id"] == "EVTorderShipped"
    assert entry.changes["after"]["channel"] == "email"


def change_config_label_in_admin(world):
    config = world.objects["config"] = EventConfigurationFactory(event_id="EVTlabelled", label="Old label")
    data = {"label": "New label", "push_application": "", **FIELDS_MANAGEMENT, **OTHER_INLINES}
    _posted(world.client.post(f"{EVENT_ADMIN}/{config.pk}/change/", data))


def check_label_changed(world, entry):
    assert entry.changes == {"before": {"label": "Old label"}, "after": {"label": "New label"}}


def set_structure(world):
    config = world.objects["config"]
    structure = {"fields": [{"field_id": "carrier", "label": "Carrier", "type": "text", "required": True}]}
    event_config_structure_set(config=config, structure=structure, user=world.administrator)


def check_structure_changed(world, entry):
    assert [f["field_id"] for f in entry.changes["before"]["fields"]] == ["trackingNumber"]
    assert [f["field_id"] for f in entry.changes["after"]["fields"]] == ["carrier"]


def publish_config_in_admin(world):
    _posted(world.client.post(f"{EVENT_ADMIN}/{world.objects['config'].pk}/action/publish/"))


def check_config_published(world, entry):
    assert entry.changes["before"] == {"version": None}
    assert entry.changes["after"]["version"] == 1
    assert [f["field_id"] for f in entry.changes["after"]["structure"]["fields"]] == ["trackingNumber"]


def unpublish_config_in_admin(world):
    _posted(world.client.post(f"{EVENT_ADMIN}/{world.objects['config'].pk}/action/unpublish/"))


def check_config_unpublished(world, entry):
    assert entry.changes["before"] == {"status": "published"}
    assert entry.changes["after"]["status"] == "draft"
    assert "Message RTEVTcartAbandonment unpublished" in entry.changes["after"]["steps"]


def delete_config_in_admin(world):
    _posted(world.client.post(f"{EVENT_ADMIN}/{world.objects['config'].pk}/delete/", {"post": "yes"}))
    assert not EventConfiguration.objects.exists()


def check_config_deleted(world, entry):
    assert entry.changes["before"]["event_id"] == "EVTorderShipped"
    assert [f["field_id"] for f in entry.changes["before"]["structure"]["fields"]] == ["trackingNumber"]


def duplicate_config_in_admin(world):
    _posted(world.client.post(f"{EVENT_ADMIN}/{world.objects['config'].pk}/action/duplicate/"))


def check_config_duplicated(world, entry):
    assert entry.changes["after"]["event_id"] == "EVTcartAbandonmentCopy"


# --- Messages ----------------------------------------------------------------------------------


def change_subject_in_admin(world):
    world.client.force_login(world.marketer)
    message = world.objects["message"]
    _posted(
        world.client.post(f"{MESSAGE_ADMIN}/{message.pk}/change/", form_data(message, subject="Still there?"))
    )


def check_subject_diff(world, entry):
    assert entry.changes["diff"] == [
        {
            "name": "subject",
            "lines": [
                {"kind": "removed", "text": "{{ ctx.firstName }}, your cart is waiting"},
                {"kind": "added", "text": "Still there?"},
            ],
        }
    ]


def _published_then_edited(world):
    _published(world)
    message_update(message=world.objects["message"], subject="Still there?")


def publish_message_in_admin(world):
    message = world.objects["message"]
    world.client.force_login(world.marketer)
    _posted(world.client.post(f"{MESSAGE_ADMIN}/{message.pk}/action/publish/"))


def check_message_published(world, entry):
    assert entry.changes["before"] == {"version": 1} and entry.changes["after"] == {"version": 2}
    check_subject_diff(world, entry)


def pause_in_admin(world):
    world.client.force_login(world.marketer)
    _posted(world.client.post(f"{MESSAGE_ADMIN}/{world.objects['message'].pk}/action/pause/"))


def check_paused(world, entry):
    assert entry.changes == {"before": {"status": "published"}, "after": {"status": "paused"}}


def resume_by_service(world):
    message_resume(message=world.objects["message"], user=world.marketer)


def check_resumed(world, entry):
    assert entry.changes["after"] == {"status": "published", "events_queued": 0}


def unpublish_message_in_admin(world):
    _posted(world.client.post(f"{MESSAGE_ADMIN}/{world.objects['message'].pk}/action/unpublish/"))


def check_message_unpublished(world, entry):
    assert entry.changes["before"] == {"status": "published"}
    assert entry.changes["after"] == {"status": "draft", "configuration": "EVTcartAbandonment unpublished"}


def _published_twice(world):
    _published(world)
    message_update(message=world.objects["message"], subject="Second")
    message_publish(message=world.objects["message"])


def rollback_in_admin(world):
    message = world.objects["message"]
    world.client.force_login(world.marketer)
    _posted(world.client.post(f"{MESSAGE_ADMIN}/{message.pk}/versions/1/rollback/"))


def check_rolled_back(world, entry):
    assert entry.changes["before"] == {"version": 2}
    assert entry.changes["after"] == {"version": 3, "restored_from": 1}
    assert entry.changes["diff"][0]["name"] == "subject"
    assert {"kind": "added", "text": "{{ ctx.firstName }}, your cart is waiting"} in entry.changes["diff"][0][
        "lines"
    ]


# --- Packages ----------------------------------------------------------------------------------


def _package(world) -> dict:
    document = package_export(configs=[world.objects["config"]])
    document["configurations"][0]["event_id"] = "EVTimported"
    return document


def import_package_in_admin(world):
    upload = SimpleUploadedFile("package.json", json.dumps(_package(world)).encode(), "application/json")
    _posted(world.client.post(f"{EVENT_ADMIN}/import-package/", {"package": upload}))


def import_package_by_command(world):
    path = world.objects["tmp"] / "package.json"
    path.write_text(json.dumps(_package(world)))
    call_command("import_package", str(path), stdout=io.StringIO())


def check_package_imported(world, entry):
    assert entry.changes["after"] == {"created": ["EVTimported"], "updated": []}
    assert entry.object_label == "EVTimported"


# --- Credentials -------------------------------------------------------------------------------


def create_integration_in_admin(world):
    _posted(world.client.post("/admin/integrations/integration/add/", {"name": "Mobile app"}))


def create_integration_by_command(world):
    call_command("create_integration", "Mobile app", stdout=io.StringIO(), stderr=io.StringIO())


def check_integration_created(world, entry):
    integration = Integration.objects.get(name="Mobile app")
    assert entry.object_id == str(integration.pk)
    assert entry.changes["after"]["client_id"] == integration.client_id
    # The token is never written anywhere: only its first characters, as the admin shows them.
    assert set(entry.changes["after"]) == {"name", "client_id", "token_hint"}


def _integration(world):
    world.objects["integration"] = integration_create(name="Shop website").integration


def revoke_in_admin(world):
    integration = world.objects["integration"]
    _posted(world.client.post(f"/admin/integrations/integration/{integration.pk}/action/revoke/"))


def check_revoked(world, entry):
    assert entry.changes["before"] == {"revoked_at": None}
    assert entry.changes["after"]["revoked_at"]


def change_integration_in_admin(world):
    integration = world.objects["integration"]
    data = {"name": "Shop website (EU)", "all_events": "on", "rate_limit": "", "callback_url": ""}
    _posted(world.client.post(f"/admin/integrations/integration/{integration.pk}/change/", data))


def check_integration_changed(world, entry):
    assert entry.changes == {"before": {"name": "Shop website"}, "after": {"name": "Shop website (EU)"}}


# --- Quarantine --------------------------------------------------------------------------------


def _quarantined(world):
    world.objects["quarantine"] = address_quarantine(
        channel="email", address="jane@example.com", reason="hard_bounce", detail="550 no such user"
    )


def release_in_admin(world):
    entry = world.objects["quarantine"]
    _posted(world.client.post(f"/admin/delivery/addressquarantine/{entry.pk}/action/release/"))


def check_released(world, entry):
    assert entry.object_label == "email: jane@example.com"
    assert entry.changes["before"]["detail"] == "550 no such user"
    assert entry.changes["after"] == {"quarantined_at": None, "soft_bounces": 0}


# --- Users -------------------------------------------------------------------------------------

STRONG = "correct-horse-battery-staple"


def create_user_in_admin(world):
    data = {
        "username": "newcomer",
        "usable_password": "true",
        "password1": STRONG,
        "password2": STRONG,
        **membership_inline(),
    }
    _posted(world.client.post(f"{USER_ADMIN}/add/", data))


def check_user_created(world, entry):
    after = entry.changes["after"]
    assert after["username"] == "newcomer" and after["password_login"] is True and after["groups"] == []
    assert STRONG not in json.dumps(entry.changes)


def _colleague(world):
    world.objects["user"] = UserFactory(username="colleague", email="old@example.com", role=MARKETERS)
    membership_set(user=world.objects["user"], unit=unit_root())


def _user_form(user, **changes):
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on",
        "groups": [str(pk) for pk in user.groups.values_list("pk", flat=True)],
        **membership_inline(user),
        **changes,
    }


def change_roles_in_admin(world):
    user = world.objects["user"]
    administrators = Group.objects.get(name=ADMINISTRATORS)
    _posted(
        world.client.post(
            f"{USER_ADMIN}/{user.pk}/change/", _user_form(user, groups=[str(administrators.pk)])
        )
    )


def check_roles_changed(world, entry):
    assert entry.changes == {"before": {"groups": [MARKETERS]}, "after": {"groups": [ADMINISTRATORS]}}


def change_email_in_admin(world):
    user = world.objects["user"]
    _posted(world.client.post(f"{USER_ADMIN}/{user.pk}/change/", _user_form(user, email="new@example.com")))


def check_email_changed(world, entry):
    assert entry.changes == {"before": {"email": "old@example.com"}, "after": {"email": "new@example.com"}}


def deactivate_in_admin(world):
    user = world.objects["user"]
    _posted(
        world.client.post(f"{USER_ADMIN}/", {"action": "deactivate_selected", "_selected_action": [user.pk]})
    )
    user.refresh_from_db()
    assert not user.is_active


def check_deactivated(world, entry):
    assert entry.changes == {"before": {"is_active": True}, "after": {"is_active": False}}


def change_password_in_admin(world):
    user = world.objects["user"]
    data = {"usable_password": "true", "password1": STRONG, "password2": STRONG}
    _posted(world.client.post(f"{USER_ADMIN}/{user.pk}/password/", data))
    user.refresh_from_db()
    assert user.check_password(STRONG)


def check_password_changed(world, entry):
    assert entry.changes == {"after": {"password_login": True}}


def change_own_password(world):
    data = {"old_password": "secret-pass", "new_password1": STRONG, "new_password2": STRONG}
    _posted(world.client.post("/admin/password_change/", data))
    world.administrator.refresh_from_db()
    assert world.administrator.check_password(STRONG)


def check_own_password_changed(world, entry):
    assert entry.object_id == str(world.administrator.pk)
    assert entry.changes == {"after": {"password_login": True}}


def _colleague_with_two_factor(world):
    _colleague(world)
    TOTPDevice.objects.create(user=world.objects["user"], name="phone", confirmed=True)


def remove_two_factor_in_admin(world):
    user = world.objects["user"]
    data = {"action": "two_factor_remove_selected", "_selected_action": [user.pk]}
    _posted(world.client.post(f"{USER_ADMIN}/", data))
    assert not TOTPDevice.objects.filter(user=user).exists()


def check_two_factor_removed(world, entry):
    assert entry.object_id == str(world.objects["user"].pk)
    assert entry.changes == {"before": {"two_factor": True}, "after": {"two_factor": False}}


CASES = [
    Case(
        "config created",
        _nothing,
        create_config_in_admin,
        "event_config.created",
        "events.eventconfiguration",
        check_config_created,
    ),
    Case(
        "config changed",
        _nothing,
        change_config_label_in_admin,
        "event_config.changed",
        "events.eventconfiguration",
        check_label_changed,
    ),
    Case(
        "structure changed",
        _draft_config,
        set_structure,
        "event_config.structure_changed",
        "events.eventconfiguration",
        check_structure_changed,
        source=AuditSource.SYSTEM,
    ),
    Case(
        "config published",
        _draft_config,
        publish_config_in_admin,
        "event_config.published",
        "events.eventconfiguration",
        check_config_published,
    ),
    Case(
        "config unpublished",
        _published,
        unpublish_config_in_admin,
        "event_config.unpublished",
        "events.eventconfiguration",
        check_config_unpublished,
    ),
    Case(
        "config deleted",
        _draft_config,
        delete_config_in_admin,
        "event_config.deleted",
        "events.eventconfiguration",
        check_config_deleted,
    ),
    Case(
        "config duplicated",
        _published,
        duplicate_config_in_admin,
        "event_config.created",
        "events.eventconfiguration",
        check_config_duplicated,
    ),
    Case(
        "content changed",
        _published,
        change_subject_in_admin,
        "message.changed",
        "messages_app.transactionalmessage",
        check_subject_diff,
        actor="marketer",
    ),
    Case(
        "message published",
        _published_then_edited,
        publish_message_in_admin,
        "message.published",
        "messages_app.transactionalmessage",
        check_message_published,
        actor="marketer",
    ),
    Case(
        "message paused",
        _published,
        pause_in_admin,
        "message.paused",
        "messages_app.transactionalmessage",
        check_paused,
        actor="marketer",
    ),
    Case(
        "message resumed",
        lambda w: (_published(w), message_pause(message=w.objects["message"])),
        resume_by_service,
        "message.resumed",
        "messages_app.transactionalmessage",
        check_resumed,
        source=AuditSource.SYSTEM,
        actor="marketer",
    ),
    Case(
        "message unpublished",
        _published,
        unpublish_message_in_admin,
        "message.unpublished",
        "messages_app.transactionalmessage",
        check_message_unpublished,
    ),
    Case(
        "message rolled back",
        _published_twice,
        rollback_in_admin,
        "message.rolled_back",
        "messages_app.transactionalmessage",
        check_rolled_back,
        actor="marketer",
    ),
    Case(
        "package imported in the admin",
        _published,
        import_package_in_admin,
        "package.imported",
        "messages_app.package",
        check_package_imported,
    ),
    Case(
        "package imported by command",
        _published,
        import_package_by_command,
        "package.imported",
        "messages_app.package",
        check_package_imported,
        source=AuditSource.COMMAND,
        actor=None,
    ),
    Case(
        "credentials created in the admin",
        _nothing,
        create_integration_in_admin,
        "integration.created",
        "integrations.integration",
        check_integration_created,
    ),
    Case(
        "credentials created by command",
        _nothing,
        create_integration_by_command,
        "integration.created",
        "integrations.integration",
        check_integration_created,
        source=AuditSource.COMMAND,
        actor=None,
    ),
    Case(
        "credentials changed",
        _integration,
        change_integration_in_admin,
        "integration.changed",
        "integrations.integration",
        check_integration_changed,
    ),
    Case(
        "credentials revoked",
        _integration,
        revoke_in_admin,
        "integration.revoked",
        "integrations.integration",
        check_revoked,
    ),
    Case(
        "quarantine released",
        _quarantined,
        release_in_admin,
        "quarantine.released",
        "delivery.addressquarantine",
        check_released,
    ),
    Case(
        "user created",
        _nothing,
        create_user_in_admin,
        "user.created",
        "auth.user",
        check_user_created,
    ),
    Case(
        "user roles changed",
        _colleague,
        change_roles_in_admin,
        "user.groups_changed",
        "auth.user",
        check_roles_changed,
    ),
    Case("user changed", _colleague, change_email_in_admin, "user.changed", "auth.user", check_email_changed),
    Case(
        "user deactivated",
        _colleague,
        deactivate_in_admin,
        "user.deactivated",
        "auth.user",
        check_deactivated,
    ),
    Case(
        "user password changed",
        _colleague,
        change_password_in_admin,
        "user.password_changed",
        "auth.user",
        check_password_changed,
    ),
    Case(
        "own password changed",
        _nothing,
        change_own_password,
        "user.password_changed",
        "auth.user",
        check_own_password_changed,
    ),
    Case(
        "two-factor removed",
        _colleague_with_two_factor,
        remove_two_factor_in_admin,
        "user.two_factor_disabled",
        "auth.user",
        check_two_factor_removed,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_audited_action_writes_one_entry_with_its_changes(
    case, client, administrator, marketer, tmp_path
):
    world = World(client=client, administrator=administrator, marketer=marketer, objects={"tmp": tmp_path})
    case.prepare(world)
    client.force_login(administrator)
    last = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    case.act(world)

    entries = list(AuditEntry.objects.filter(pk__gt=last))
    assert [(e.action, e.object_type) for e in entries] == [(case.action, case.object_type)]
    entry = entries[0]
    assert entry.source == case.source
    expected_actor = getattr(world, case.actor) if case.actor else None
    assert entry.actor == expected_actor
    if case.source == AuditSource.ADMIN:
        assert entry.ip_network == "127.0.0.0/24"
    if case.source == AuditSource.COMMAND:
        assert entry.actor_label in ("import_package", "create_integration")
    case.check(world, entry)


def test_a_refused_change_writes_no_entry(administrator, cart_event):
    before = AuditEntry.objects.count()
    with pytest.raises(Exception, match="cannot be changed after creation"):
        event_config_update(config=cart_event, channel="sms")
    configuration_unpublish(config=cart_event)
    after = AuditEntry.objects.count()
    with pytest.raises(Exception, match="is not published"):
        configuration_unpublish(config=cart_event)
    assert AuditEntry.objects.count() == after == before + 1


def test_an_entry_outlives_its_user(administrator, cart_event):
    message_pause(message=cart_event.message, user=administrator)
    entry = AuditEntry.objects.get(action="message.paused")
    get_user_model().objects.filter(pk=administrator.pk).delete()
    entry = AuditEntry.objects.get(pk=entry.pk)
    assert entry.actor_label == administrator.username and entry.actor_id == administrator.pk
