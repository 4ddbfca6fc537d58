"""Packages: export then import event configurations with their messages (management commands)."""

import json

import pytest
from django.core.management import CommandError, call_command

from events.models import EventConfiguration, PublicationStatus
from events.selectors import configuration_has_unpublished_changes, configuration_structure
from events.services import event_config_delete
from messages_app.services import configuration_unpublish, message_update
from tests.events.test_trigger_contract import ORDER_STRUCTURE, published

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(db):
    config = published()
    message_update(
        message=config.message, subject="Order {{ ctx.orderId }}", html="<p>Hi {{ ctx.firstName }}</p>"
    )
    return config


def export(tmp_path, *event_ids):
    path = tmp_path / "package.json"
    call_command("export_package", *event_ids, output=str(path))
    return path


def test_export_then_import_round_trips_on_a_fresh_installation(tmp_path, order, capsys):
    path = export(tmp_path, "EVTorderConfirmation")
    document = json.loads(path.read_text())
    assert document["format"] == "message-center/package" and document["version"] == 1
    # A fresh installation: nothing of the configuration is left.
    configuration_unpublish(config=order)
    event_config_delete(config=order)
    assert not EventConfiguration.objects.exists()

    call_command("import_package", str(path))
    assert "EVTorderConfirmation created" in capsys.readouterr().out
    imported = EventConfiguration.objects.get(event_id="EVTorderConfirmation")
    assert imported.status == PublicationStatus.DRAFT
    assert configuration_structure(config=imported) == ORDER_STRUCTURE
    assert imported.message.subject == "Order {{ ctx.orderId }}"
    assert imported.message.html == "<p>Hi {{ ctx.firstName }}</p>"
    assert json.loads(export(tmp_path).read_text())["configurations"] == document["configurations"]


def test_importing_an_existing_id_updates_the_draft_and_never_publishes(tmp_path, order):
    path = export(tmp_path)
    document = json.loads(path.read_text())
    entry = document["configurations"][0]
    entry["label"] = "Order confirmed"
    entry["structure"]["fields"].append(
        {"field_id": "coupon", "label": "Coupon", "type": "text", "required": False}
    )
    entry["message"]["subject"] = "Changed"
    path.write_text(json.dumps(document))
    before = order.published_version

    call_command("import_package", str(path))
    order.refresh_from_db()
    assert order.label == "Order confirmed"
    assert order.status == PublicationStatus.PUBLISHED and order.published_version == before
    assert "coupon" not in before.ctx_schema["properties"]
    assert configuration_has_unpublished_changes(config=order)
    assert order.message.subject == "Changed"


def test_an_invalid_package_is_refused_with_paths_and_changes_nothing(tmp_path, order):
    path = export(tmp_path)
    document = json.loads(path.read_text())
    entry = document["configurations"][0]
    entry["channel"] = "sms"
    entry["structure"]["collections"][0]["fields"].append(
        {"field_id": "sizes", "label": "Sizes", "fields": []}
    )
    entry["structure"]["fields"][1]["type"] = "money"
    document["configurations"].append({**entry, "event_id": "EVTother", "channel": "email"})
    path.write_text(json.dumps(document))

    with pytest.raises(CommandError) as failure:
        call_command("import_package", str(path))
    text = str(failure.value)
    assert "configurations[0].channel: EVTorderConfirmation exists here with the channel 'email'" in text
    assert "configurations[0].structure.fields[1].type: Unknown type 'money'" in text
    assert "configurations[0].structure.collections[0].fields[3]: Collections cannot be nested" in text
    assert not EventConfiguration.objects.filter(event_id="EVTother").exists()


def test_a_file_that_is_not_a_package_is_refused(tmp_path, db):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(CommandError, match="Not a Message Center package"):
        call_command("import_package", str(path))
    path.write_text("{not json")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_package", str(path))


def test_a_profile_based_draft_without_targeting_yet_can_be_imported_but_not_published(tmp_path, db):
    from campaign.exceptions import ValidationFailed
    from messages_app.services import configuration_publish

    document = {
        "format": "message-center/package",
        "version": 1,
        "configurations": [
            {
                "event_id": "EVTwip",
                "label": "Work in progress",
                "channel": "email",
                "targeting": "profile",
                "structure": {"fields": [{"field_id": "customerId", "type": "text", "label": "Customer"}]},
                "message": None,
            }
        ],
    }
    path = tmp_path / "wip.json"
    path.write_text(json.dumps(document))
    call_command("import_package", str(path))
    config = EventConfiguration.objects.get(event_id="EVTwip")
    with pytest.raises(ValidationFailed, match="needs a profile enrichment chosen as targeting enrichment"):
        configuration_publish(config=config)
