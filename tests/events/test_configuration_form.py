"""Creating and editing an event configuration through the admin's form and inlines."""

import pytest

from events.models import EventConfiguration, PublicationStatus
from events.selectors import configuration_structure

pytestmark = pytest.mark.django_db


# The management forms of the configuration page's other inlines (collections, enrichments, log).
OTHER_INLINES = {
    f"{prefix}-{name}": value
    for prefix in ("collections", "enrichments", "publication_logs")
    for name, value in (
        ("TOTAL_FORMS", "0"),
        ("INITIAL_FORMS", "0"),
        ("MIN_NUM_FORMS", "0"),
        ("MAX_NUM_FORMS", "1000"),
    )
}


def test_an_administrator_creates_a_configuration_with_fields_and_publishes_it(client, administrator):
    client.force_login(administrator)
    response = client.post(
        "/admin/events/eventconfiguration/add/",
        {
            "label": "Order shipped",
            "event_id": "orderShipped",
            "channel": "email",
            "targeting": "event",
            "fields-TOTAL_FORMS": "1",
            "fields-INITIAL_FORMS": "0",
            "fields-MIN_NUM_FORMS": "0",
            "fields-MAX_NUM_FORMS": "1000",
            "fields-0-field_id": "trackingNumber",
            "fields-0-label": "Tracking number",
            "fields-0-type": "text",
            "fields-0-max_length": "40",
            "fields-0-required": "on",
            "fields-0-position": "0",
            **OTHER_INLINES,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    config = EventConfiguration.objects.get(event_id="EVTorderShipped")
    assert config.modified_by == administrator
    assert list(config.fields.values_list("field_id", flat=True)) == ["trackingNumber"]

    change_url = f"/admin/events/eventconfiguration/{config.pk}/change/"
    assert 'data-action="publish">Publish</a>' in client.get(change_url).content.decode()
    page = client.post(f"/admin/events/eventconfiguration/{config.pk}/action/publish/", follow=True)
    assert "EVTorderShipped is published (version 1)" in page.content.decode()
    config.refresh_from_db()
    assert config.status == PublicationStatus.PUBLISHED
    assert config.message.message_id == "RTEVTorderShipped"


def test_the_admin_refuses_a_bad_or_duplicate_id_with_a_form_error(client, administrator, cart_event):
    client.force_login(administrator)
    base = {
        "label": "X",
        "channel": "email",
        "targeting": "event",
        "fields-TOTAL_FORMS": "0",
        "fields-INITIAL_FORMS": "0",
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "1000",
        **OTHER_INLINES,
    }
    page = client.post("/admin/events/eventconfiguration/add/", {**base, "event_id": "cartAbandonment"})
    assert "An event configuration with ID EVTcartAbandonment already exists." in page.content.decode()
    page = client.post("/admin/events/eventconfiguration/add/", {**base, "event_id": "bad id"})
    assert "letters, digits and &#x27;_&#x27; only" in page.content.decode()


def test_id_channel_and_targeting_are_read_only_after_creation(client, administrator, cart_event):
    client.force_login(administrator)
    page = client.get(f"/admin/events/eventconfiguration/{cart_event.pk}/change/").content.decode()
    assert 'name="event_id"' not in page
    assert 'name="channel"' not in page
    assert 'name="targeting"' not in page
    assert 'name="label"' in page


def test_a_field_id_with_bad_characters_is_a_form_error(client, administrator, cart_event):
    client.force_login(administrator)
    fields = list(cart_event.fields.all())
    data = {
        "label": cart_event.label,
        "fields-TOTAL_FORMS": str(len(fields) + 1),
        "fields-INITIAL_FORMS": str(len(fields)),
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "1000",
        **OTHER_INLINES,
    }
    for i, field in enumerate(fields):
        data.update(
            {
                f"fields-{i}-id": field.pk,
                f"fields-{i}-configuration": cart_event.pk,
                f"fields-{i}-field_id": field.field_id,
                f"fields-{i}-label": field.label,
                f"fields-{i}-type": "text",
                f"fields-{i}-max_length": "100",
                f"fields-{i}-required": "on",
                f"fields-{i}-position": str(i),
            }
        )
    n = len(fields)
    data.update(
        {
            f"fields-{n}-field_id": "1st name",
            f"fields-{n}-label": "Bad",
            f"fields-{n}-type": "text",
            f"fields-{n}-position": str(n),
        }
    )
    page = client.post(f"/admin/events/eventconfiguration/{cart_event.pk}/change/", data)
    assert page.status_code == 200
    assert "not starting with a digit" in page.content.decode()


def _structure_form(config, enrichments: list[dict]) -> dict:
    """The change form of `config` as the admin renders it, with `enrichments` as new rows."""
    fields = list(config.fields.all())
    data = {
        "label": config.label,
        "fields-TOTAL_FORMS": str(len(fields)),
        "fields-INITIAL_FORMS": str(len(fields)),
        "fields-MIN_NUM_FORMS": "0",
        "fields-MAX_NUM_FORMS": "1000",
        **OTHER_INLINES,
        "enrichments-TOTAL_FORMS": str(len(enrichments)),
    }
    for i, field in enumerate(fields):
        data.update(
            {
                f"fields-{i}-id": field.pk,
                f"fields-{i}-configuration": config.pk,
                f"fields-{i}-field_id": field.field_id,
                f"fields-{i}-label": field.label,
                f"fields-{i}-type": field.type,
                f"fields-{i}-max_length": field.max_length or "",
                f"fields-{i}-required": "on" if field.required else "",
                f"fields-{i}-position": str(i),
            }
        )
    for i, enrichment in enumerate(enrichments):
        data.update({f"enrichments-{i}-{name}": value for name, value in enrichment.items()})
    return data


def test_the_inlines_save_the_structure_through_the_service(client, administrator, cart_event):
    """What the admin saves is what the service makes of it: the structure the package import and
    the API would store, with the configuration marked as changed by this administrator."""
    client.force_login(administrator)
    before = configuration_structure(config=cart_event)
    data = _structure_form(cart_event, [])
    data["fields-0-label"] = "Given name"
    response = client.post(f"/admin/events/eventconfiguration/{cart_event.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    cart_event.refresh_from_db()
    after = configuration_structure(config=cart_event)
    assert after["fields"][0]["label"] == "Given name"
    assert after["fields"][1:] == before["fields"][1:]
    assert cart_event.modified_by == administrator
    history = client.get(f"/admin/events/eventconfiguration/{cart_event.pk}/history/").content.decode()
    assert "Changed data structure" in history


def test_a_structure_the_service_refuses_is_a_form_error_and_nothing_changes(client, administrator):
    client.force_login(administrator)
    config = EventConfiguration.objects.create(
        event_id="EVTprofiled", label="Profiled", channel="email", targeting="profile"
    )
    enrichment = {
        "name": "customer",
        "resource": "profile",
        "event_field": "customerId",
        "profile_field": "email",
        "targeting": "on",
        "position": "0",
    }
    page = client.post(
        f"/admin/events/eventconfiguration/{config.pk}/change/", _structure_form(config, [enrichment])
    )
    assert page.status_code == 200
    assert "&#x27;customerId&#x27; is not a field of the event." in page.content.decode()
    assert not config.enrichments.exists()


def _management(prefix: str, total: int, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


ORDER_WITH_ITEMS = {
    "label": "Order confirmation",
    "event_id": "orderConfirmation",
    "channel": "email",
    "targeting": "event",
    **_management("fields", 2),
    "fields-0-field_id": "firstName",
    "fields-0-label": "First name",
    "fields-0-type": "text",
    "fields-0-position": "0",
    "fields-0-collection_ref": "",
    # Put into the collection added in the same save.
    "fields-1-field_id": "price",
    "fields-1-label": "Price",
    "fields-1-type": "decimal",
    "fields-1-required": "on",
    "fields-1-position": "0",
    "fields-1-collection_ref": "items",
    **_management("collections", 1),
    "collections-0-collection_id": "items",
    "collections-0-label": "Items",
    "collections-0-min_items": "1",
    "collections-0-position": "0",
    **_management("enrichments", 0),
    **_management("publication_logs", 0),
}


def test_a_field_goes_into_a_collection_created_in_the_same_save(client, administrator):
    client.force_login(administrator)
    response = client.post("/admin/events/eventconfiguration/add/", ORDER_WITH_ITEMS)
    assert response.status_code == 302, response.content.decode()[:3000]
    config = EventConfiguration.objects.get(event_id="EVTorderConfirmation")
    structure = configuration_structure(config=config)
    assert [f["field_id"] for f in structure["fields"]] == ["firstName"]
    assert structure["collections"][0]["collection_id"] == "items"
    assert [f["field_id"] for f in structure["collections"][0]["fields"]] == ["price"]
    # The page then offers the collection by its ID, chosen for the price.
    page = client.get(f"/admin/events/eventconfiguration/{config.pk}/change/").content.decode()
    assert '<option value="items" selected>items</option>' in page


def test_a_field_in_an_unknown_collection_is_a_clear_form_error(client, administrator):
    client.force_login(administrator)
    data = {**ORDER_WITH_ITEMS, "fields-1-collection_ref": "itemz"}
    response = client.post("/admin/events/eventconfiguration/add/", data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The field “price” names the collection “itemz”, which is not in the Collections table." in page
    # What was typed is kept, the unknown choice included.
    assert '<option value="itemz" selected>itemz</option>' in page
    assert not EventConfiguration.objects.filter(event_id="EVTorderConfirmation").exists()


def test_readiness_hints_name_the_rows_in_words(client, administrator):
    client.force_login(administrator)
    data = {**ORDER_WITH_ITEMS, "fields-1-collection_ref": ""}
    data["fields-1-field_id"] = "total"
    assert client.post("/admin/events/eventconfiguration/add/", data).status_code == 302
    config = EventConfiguration.objects.get(event_id="EVTorderConfirmation")
    page = client.get(f"/admin/events/eventconfiguration/{config.pk}/change/").content.decode()
    assert "Collection “items”: The collection &#x27;items&#x27; needs at least one field." in page
    assert "collections[0]" not in page
