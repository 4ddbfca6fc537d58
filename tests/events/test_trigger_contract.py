"""The published data structure as a contract (SPEC EVT-2, EVT-8), seen through the trigger endpoint."""

import pytest

from campaign.exceptions import ApplicationError, ValidationFailed
from events.contract import sample_ctx, structure_check
from events.models import EventField, PublicationLog, PublicationLogType, PublicationStatus
from events.selectors import configuration_has_unpublished_changes
from events.services import event_config_structure_set
from messages_app.services import configuration_publish
from tests.conftest import trigger_path
from tests.factories import EventConfigurationFactory, EventFieldFactory

pytestmark = pytest.mark.django_db

ORDER_STRUCTURE = {
    "fields": [
        {"field_id": "firstName", "label": "First name", "type": "text", "max_length": 20, "required": True},
        {"field_id": "orderId", "label": "Order", "type": "integer", "required": True},
        {"field_id": "total", "label": "Total", "type": "decimal", "required": True},
        {"field_id": "giftWrap", "label": "Gift wrap", "type": "boolean", "required": False},
        {"field_id": "deliveryDate", "label": "Delivery date", "type": "date", "required": False},
        {"field_id": "orderedAt", "label": "Ordered at", "type": "datetime", "required": False},
        {"field_id": "replyTo", "label": "Reply to", "type": "email", "required": False},
        {"field_id": "phone", "label": "Phone", "type": "phone", "required": False},
        {"field_id": "trackingUrl", "label": "Tracking", "type": "url", "required": False},
        {
            "field_id": "shipping",
            "label": "Shipping",
            "type": "enumeration",
            "allowed_values": ["standard", "express"],
            "required": False,
        },
    ],
    "collections": [
        {
            "collection_id": "items",
            "label": "Items",
            "min_items": 1,
            "max_items": 5,
            "fields": [
                {"field_id": "name", "label": "Name", "type": "text", "max_length": 50, "required": True},
                {"field_id": "price", "label": "Price", "type": "decimal", "required": True},
                {"field_id": "imageUrl", "label": "Image", "type": "url", "required": False},
            ],
        }
    ],
    "enrichments": [],
}
ITEM = {"name": "Jacket", "price": 125.5, "imageUrl": "https://shop.example.com/jacket.png"}
CTX = {"firstName": "Jane", "orderId": 1042, "total": 125.5, "items": [ITEM]}


def published(structure=ORDER_STRUCTURE, event_id="EVTorderConfirmation", targeting="event"):
    config = EventConfigurationFactory(event_id=event_id, targeting=targeting)
    event_config_structure_set(config=config, structure=structure)
    configuration_publish(config=config)
    config.refresh_from_db()
    return config


def trigger(api, ctx, event_id="EVTorderConfirmation"):
    return api.post(trigger_path(event_id), {"email": "jane@example.com", "ctx": ctx}, format="json")


def errors_of(response) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {e["path"]: e["message"] for e in response.json()["errors"]}


@pytest.fixture
def order(db):
    return published()


class TestFieldTypes:
    def test_a_complete_valid_order_is_accepted(self, api, order):
        ctx = {
            **CTX,
            "giftWrap": False,
            "deliveryDate": "2026-12-01",
            "orderedAt": "2026-11-27T08:00:00+01:00",
            "replyTo": "help@shop.example.com",
            "phone": "+33612345678",
            "trackingUrl": "https://track.example.com/1042?x=1",
            "shipping": "express",
            "items": [ITEM, {"name": "Helmet", "price": 80}],
        }
        response = trigger(api, ctx)
        assert response.status_code == 202, response.content
        assert response.json()["ctx"] == ctx

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("firstName", "x" * 20),  # exactly the maximum length
            ("firstName", ""),
            ("orderId", 0),
            ("orderId", -5),
            ("orderId", 10**15),
            ("total", 0),
            ("total", 9999999.99),
            ("giftWrap", True),
            ("deliveryDate", "2028-02-29"),
            ("orderedAt", "2026-11-27T08:00:00Z"),
            ("orderedAt", "2026-11-27 08:00:00.123456-05:00"),
            ("replyTo", "a.b+tag@sub.example.co.uk"),
            ("phone", "+12025550123"),
            ("phone", "+4915123456789"),
            ("trackingUrl", "http://localhost:8000/track"),
            ("shipping", "standard"),
            ("giftWrap", None),  # optional fields may be null
            ("shipping", None),
            ("deliveryDate", None),
            ("orderedAt", None),
            ("replyTo", None),
            ("phone", None),
            ("trackingUrl", None),
        ],
    )
    def test_boundary_and_valid_values_are_accepted(self, api, order, field, value):
        response = trigger(api, {**CTX, field: value})
        assert response.status_code == 202, response.content

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("firstName", "x" * 21, "Expected a text of at most 20 characters; got 21 characters."),
            ("firstName", 12, "Expected a text of at most 20 characters; got the number 12."),
            ("orderId", "1042", "Expected an integer; got the text '1042'."),
            ("orderId", 10.5, "Expected an integer; got the number 10.5."),
            ("orderId", True, "Expected an integer; got true."),
            ("total", "12,50", "Expected a decimal number; got the text '12,50'."),
            ("giftWrap", "yes", "Expected true or false; got the text 'yes'."),
            ("giftWrap", 1, "Expected true or false; got the number 1."),
            ("deliveryDate", "01/12/2026", "Expected a date (YYYY-MM-DD, e.g. 2026-12-01); the text"),
            ("deliveryDate", "2026-02-30", "Expected a date (YYYY-MM-DD"),
            ("orderedAt", "2026-11-27T08:00:00", "Expected a date and time with its time zone"),
            ("orderedAt", "yesterday", "Expected a date and time with its time zone"),
            (
                "replyTo",
                "not-an-address",
                "Expected an email address; the text 'not-an-address' is not valid.",
            ),
            ("replyTo", "a@b", "Expected an email address"),
            ("phone", "0612345678", "Expected a phone number in E.164 form"),
            ("phone", "+33 6 12 34 56 78", "Expected a phone number in E.164 form"),
            ("phone", "+0612345678", "Expected a phone number in E.164 form"),
            ("trackingUrl", "track.example.com", "Expected a URL (http:// or https://)"),
            ("trackingUrl", "javascript:alert(1)", "Expected a URL (http:// or https://)"),
            (
                "shipping",
                "overnight",
                "Expected one of 'standard', 'express'; the text 'overnight' is not valid.",
            ),
            ("shipping", "Express", "Expected one of 'standard', 'express'"),
            (
                "deliveryDate",
                20261201,
                "Expected a date (YYYY-MM-DD, e.g. 2026-12-01); got the number 20261201.",
            ),
            ("replyTo", ["a@example.com"], "Expected an email address; got a list."),
        ],
    )
    def test_invalid_values_are_refused_naming_the_field_and_the_problem(
        self, api, order, field, value, message
    ):
        errors = errors_of(trigger(api, {**CTX, field: value}))
        assert list(errors) == [f"ctx.{field}"]
        assert errors[f"ctx.{field}"].startswith(message)

    def test_required_fields_are_named_with_their_type_and_optional_ones_may_be_omitted(self, api, order):
        errors = errors_of(trigger(api, {"firstName": "Jane", "items": [ITEM]}))
        assert errors == {
            "ctx.orderId": "This field is required: expected an integer.",
            "ctx.total": "This field is required: expected a decimal number.",
        }

    def test_null_is_refused_for_a_required_field(self, api, order):
        assert errors_of(trigger(api, {**CTX, "orderId": None})) == {
            "ctx.orderId": "Expected an integer; got null."
        }

    def test_unknown_fields_are_refused_at_every_level(self, api, order):
        errors = errors_of(trigger(api, {**CTX, "coupon": "X", "items": [{**ITEM, "colour": "red"}]}))
        assert errors == {
            "ctx.coupon": "Unknown field: it is not part of the event's data structure.",
            "ctx.items[0].colour": "Unknown field: it is not part of the event's data structure.",
        }

    def test_nothing_is_stored_when_the_event_is_refused(self, api, order):
        errors_of(trigger(api, {**CTX, "orderId": "x"}))
        assert not order.events.exists()


class TestCollections:
    def test_each_bad_item_field_is_reported_with_its_index(self, api, order):
        items = [ITEM, ITEM, {"name": "Helmet", "price": "80 €"}, {"price": 3}]
        errors = errors_of(trigger(api, {**CTX, "items": items}))
        assert errors == {
            "ctx.items[2].price": "Expected a decimal number; got the text '80 €'.",
            "ctx.items[3].name": "This field is required: expected a text of at most 50 characters.",
        }

    def test_paths_sort_by_item_number(self, api, order):
        structure = {
            **ORDER_STRUCTURE,
            "collections": [{**ORDER_STRUCTURE["collections"][0], "max_items": 20}],
        }
        published(structure=structure, event_id="EVTbig")
        items = [{"name": "n", "price": 1} for _ in range(12)]
        items[2]["price"] = items[10]["price"] = "bad"
        errors = errors_of(trigger(api, {**CTX, "items": items}, event_id="EVTbig"))
        assert list(errors) == ["ctx.items[2].price", "ctx.items[10].price"]

    def test_minimum_and_maximum_item_counts(self, api, order):
        assert errors_of(trigger(api, {**CTX, "items": []})) == {
            "ctx.items": "Expected at least 1 item; got 0."
        }
        assert errors_of(trigger(api, {**CTX, "items": [ITEM] * 6})) == {
            "ctx.items": "Expected at most 5 items; got 6."
        }
        assert trigger(api, {**CTX, "items": [ITEM] * 5}).status_code == 202

    def test_a_collection_with_a_minimum_is_required(self, api, order):
        errors = errors_of(trigger(api, {k: v for k, v in CTX.items() if k != "items"}))
        assert errors == {"ctx.items": "This field is required: expected a list of objects."}

    def test_a_collection_must_be_a_list_of_objects(self, api, order):
        assert errors_of(trigger(api, {**CTX, "items": {"name": "x"}})) == {
            "ctx.items": "Expected a list of objects; got an object."
        }
        assert errors_of(trigger(api, {**CTX, "items": ["Jacket"]})) == {
            "ctx.items[0]": "Expected an object; got the text 'Jacket'."
        }


class TestPublishRefusals:
    def test_profile_based_without_targeting_enrichment_is_refused(self):
        config = EventConfigurationFactory(targeting="profile")
        EventFieldFactory(configuration=config, field_id="customerId")
        with pytest.raises(
            ValidationFailed, match="needs a profile enrichment chosen as targeting enrichment"
        ):
            configuration_publish(config=config)
        config.refresh_from_db()
        assert config.status == PublicationStatus.DRAFT and config.published_version is None

    def test_profile_based_with_targeting_enrichment_publishes(self):
        structure = {
            "fields": [{"field_id": "customerId", "label": "Customer", "type": "text", "required": True}],
            "collections": [],
            "enrichments": [
                {
                    "name": "customer",
                    "target": "event",
                    "resource": "profile",
                    "join": [{"event_field": "customerId", "profile_field": "external_id"}],
                    "targeting": True,
                }
            ],
        }
        config = published(structure=structure, targeting="profile")
        assert config.status == PublicationStatus.PUBLISHED
        assert config.published_version.structure["enrichments"][0]["targeting"] is True

    def test_profile_based_push_without_application_is_refused(self):
        config = EventConfigurationFactory(targeting="profile", channel="push")
        with pytest.raises(ValidationFailed, match="Profile-based push needs the application"):
            configuration_publish(config=config)

    def test_a_collection_inside_a_collection_is_refused(self):
        nested = {
            "fields": [],
            "collections": [
                {
                    "collection_id": "items",
                    "label": "Items",
                    "fields": [
                        {"field_id": "name", "label": "Name", "type": "text", "required": True},
                        {"field_id": "options", "label": "Options", "fields": [{"field_id": "size"}]},
                    ],
                }
            ],
        }
        errors = structure_check(structure=nested, targeting="event")
        assert [(e.path, e.message) for e in errors] == [
            (
                "collections[0].fields[1]",
                "Collections cannot be nested: 'options' would be a collection inside the collection "
                "'items'. Model it as a separate collection of the event.",
            )
        ]
        config = EventConfigurationFactory()
        with pytest.raises(ValidationFailed, match="Collections cannot be nested"):
            event_config_structure_set(config=config, structure=nested)

    @pytest.mark.parametrize("bad_id", ["2fast", "first-name", "first name", "prénom", "x.y"])
    def test_invalid_field_ids_are_refused_at_publish(self, bad_id):
        config = EventConfigurationFactory()
        # Stored without the admin form's validation, as a bulk load or an old row could be.
        EventField.objects.create(configuration=config, field_id=bad_id, label="x")
        with pytest.raises(ValidationFailed, match=r"fields\[0\]\.field_id"):
            configuration_publish(config=config)

    def test_an_id_used_by_a_field_and_a_collection_is_refused(self):
        structure = {
            **ORDER_STRUCTURE,
            "fields": [*ORDER_STRUCTURE["fields"], {"field_id": "items", "type": "text", "label": "Items"}],
        }
        errors = structure_check(structure=structure, targeting="event")
        assert [e.message for e in errors] == ["The ID 'items' is used twice; IDs must be unique."]

    def test_an_enumeration_needs_allowed_values(self):
        structure = {"fields": [{"field_id": "size", "type": "enumeration", "allowed_values": []}]}
        errors = structure_check(structure=structure, targeting="event")
        assert [e.path for e in errors] == ["fields[0].allowed_values"]

    def test_language_field_must_hold_text(self):
        structure = {"fields": [{"field_id": "AC_language", "type": "integer"}]}
        errors = structure_check(structure=structure, targeting="event")
        assert [e.message for e in errors] == ["AC_language holds a language code: text or enumeration."]


class TestPublicationLifecycle:
    def test_a_failed_publish_keeps_the_previous_publication_serving(self, api, order):
        first = order.published_version
        EventField.objects.create(configuration=order, field_id="bad id", label="Bad")
        with pytest.raises(ApplicationError):
            configuration_publish(config=order)
        order.refresh_from_db()
        assert order.published_version == first
        assert order.status == PublicationStatus.PUBLISHED
        assert trigger(api, CTX).status_code == 202
        log = PublicationLog.objects.filter(configuration=order).first()
        assert log.type == PublicationLogType.PUBLISH_FAILED
        assert log.errors[0]["message"].startswith("The field ID 'bad id' must use letters")
        assert "Refused" in log.steps[-1]["step"]

    def test_changes_apply_only_after_republish(self, api, order):
        EventField.objects.create(configuration=order, field_id="coupon", label="Coupon", required=True)
        assert configuration_has_unpublished_changes(config=order)
        # The endpoint still serves the published version: the new required field is not known yet.
        assert trigger(api, CTX).status_code == 202
        assert errors_of(trigger(api, {**CTX, "coupon": "X"})) == {
            "ctx.coupon": "Unknown field: it is not part of the event's data structure."
        }
        configuration_publish(config=order)
        order.refresh_from_db()
        assert not configuration_has_unpublished_changes(config=order)
        assert errors_of(trigger(api, CTX)) == {"ctx.coupon": "This field is required: expected a text."}
        assert trigger(api, {**CTX, "coupon": "X"}).status_code == 202

    def test_each_publish_is_logged_with_its_steps_and_duration(self, order):
        log = PublicationLog.objects.get(configuration=order)
        assert log.type == PublicationLogType.PUBLISHED
        assert log.version == order.published_version
        assert [s["step"] for s in log.steps] == [
            "Data structure checked: 10 fields, 1 collection, 0 enrichments",
            "Contract compiled into the JSON Schema of ctx",
            "Version 1 frozen",
            "Trigger endpoint serves the new version",
            "Message RTEVTorderConfirmation ready",
        ]
        assert log.duration_ms >= 0 and log.errors == []


class TestSampleBody:
    def test_the_generated_sample_is_accepted_by_the_endpoint(self, api, order):
        ctx = sample_ctx(structure=order.published_version.structure)
        assert ctx["items"] and ctx["shipping"] == "standard" and ctx["phone"] == "+33612345678"
        assert trigger(api, ctx).status_code == 202

    def test_the_schema_is_self_contained_json_schema(self, order):
        schema = order.published_version.ctx_schema
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["properties"]["items"]["items"]["additionalProperties"] is False
        assert "$ref" not in str(schema)
