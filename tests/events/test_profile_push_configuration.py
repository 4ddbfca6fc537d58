"""A profile-based push configuration names the application whose registered devices receive its
notifications: required at publish, frozen in the published version, carried by packages and
copies, edited in the admin."""

import json

import pytest

from events.models import EventConfiguration
from events.selectors import configuration_has_unpublished_changes, configuration_structure
from events.services import event_config_structure_set, event_config_update
from messages_app.services import (
    configuration_duplicate,
    configuration_publish,
    package_export,
    package_import,
)
from tests.events.test_configuration_form import OTHER_INLINES
from tests.factories import EventConfigurationFactory
from tests.profiles.helpers import APPLICATION, STRUCTURE

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile_push(db):
    config = EventConfigurationFactory(
        event_id="EVTshipped", channel="push", targeting="profile", push_application=APPLICATION
    )
    event_config_structure_set(config=config, structure=STRUCTURE)
    return config


def test_the_application_is_frozen_in_the_version_and_a_change_waits_for_the_next_publish(profile_push):
    version = configuration_publish(config=profile_push)
    assert version.structure["push_application"] == APPLICATION
    profile_push.refresh_from_db()
    assert not configuration_has_unpublished_changes(config=profile_push)

    event_config_update(config=profile_push, push_application="com.example.other")
    assert configuration_has_unpublished_changes(config=profile_push)
    assert configuration_publish(config=profile_push).structure["push_application"] == "com.example.other"


def test_packages_and_copies_keep_the_application(profile_push):
    document = json.loads(json.dumps(package_export(configs=[profile_push])))
    assert document["configurations"][0]["structure"]["push_application"] == APPLICATION
    EventConfiguration.objects.filter(pk=profile_push.pk).update(push_application="")
    package_import(document=document)
    profile_push.refresh_from_db()
    assert profile_push.push_application == APPLICATION
    copy = configuration_duplicate(config=profile_push)
    assert copy.push_application == APPLICATION
    assert configuration_structure(config=copy)["push_application"] == APPLICATION


def test_email_and_event_based_push_configurations_have_no_application(db):
    for channel, targeting in (("email", "profile"), ("push", "event")):
        config = EventConfigurationFactory(channel=channel, targeting=targeting)
        assert "push_application" not in configuration_structure(config=config)


def test_the_admin_edits_the_application_of_a_profile_based_push_configuration(
    client, administrator, profile_push
):
    client.force_login(administrator)
    url = f"/admin/events/eventconfiguration/{profile_push.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="push_application"' in page
    assert "the application whose registered devices receive it" not in page

    fields = list(profile_push.fields.all())
    enrichments = list(profile_push.enrichments.all())
    data = {
        "label": profile_push.label,
        "push_application": "",
        **OTHER_INLINES,
        "fields-TOTAL_FORMS": str(len(fields)),
        "fields-INITIAL_FORMS": str(len(fields)),
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "1000",
        "enrichments-TOTAL_FORMS": str(len(enrichments)),
        "enrichments-INITIAL_FORMS": str(len(enrichments)),
    }
    for i, field in enumerate(fields):
        data.update(
            {
                f"fields-{i}-id": field.pk,
                f"fields-{i}-configuration": profile_push.pk,
                f"fields-{i}-field_id": field.field_id,
                f"fields-{i}-label": field.label,
                f"fields-{i}-type": field.type,
                f"fields-{i}-required": "on" if field.required else "",
                f"fields-{i}-position": str(i),
            }
        )
    for i, enrichment in enumerate(enrichments):
        data.update(
            {
                f"enrichments-{i}-id": enrichment.pk,
                f"enrichments-{i}-configuration": profile_push.pk,
                f"enrichments-{i}-name": enrichment.name,
                f"enrichments-{i}-resource": enrichment.resource,
                f"enrichments-{i}-event_field": enrichment.event_field,
                f"enrichments-{i}-profile_field": enrichment.profile_field,
                f"enrichments-{i}-targeting": "on",
                f"enrichments-{i}-position": str(i),
            }
        )
    assert client.post(url, data).status_code == 302
    profile_push.refresh_from_db()
    assert profile_push.push_application == ""
    # The page says why it cannot be published yet.
    page = client.get(url).content.decode()
    assert "Profile-based push needs the application whose registered devices receive it" in page

    assert client.post(url, {**data, "push_application": " com.example.shop "}).status_code == 302
    profile_push.refresh_from_db()
    assert profile_push.push_application == APPLICATION
    page = client.post(f"{url.removesuffix('change/')}action/publish/", follow=True).content.decode()
    assert "EVTshipped is published (version 1)" in page


def test_an_email_configuration_does_not_show_the_application(client, administrator, cart_event):
    client.force_login(administrator)
    page = client.get(f"/admin/events/eventconfiguration/{cart_event.pk}/change/").content.decode()
    assert 'name="push_application"' not in page
