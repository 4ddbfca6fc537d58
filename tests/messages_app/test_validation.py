"""Publish validation by static analysis of the templates against the published data structure."""

import pytest

from campaign.exceptions import ValidationFailed
from events.models import Channel
from messages_app.models import MessageVariant
from messages_app.selectors import message_content
from messages_app.services import (
    message_publish,
    message_update,
    message_validate,
    message_warnings,
)
from tests.conftest import make_published_event
from tests.messages_app.helpers import CART_ITEMS, structure_extend

pytestmark = pytest.mark.django_db


def errors_of(message):
    message.refresh_from_db()
    return [
        (e.path, e.message)
        for e in message_validate(message=message, content=message_content(message=message))
    ]


class TestUnknownVariables:
    def test_an_unknown_field_is_refused_then_accepted_once_the_structure_has_it(self, cart_event):
        message = cart_event.message
        message_update(message=message, html="<p>Hi</p>\n<p>Order {{ ctx.orderNumber }}</p>")
        with pytest.raises(ValidationFailed) as caught:
            message_publish(message=message)
        assert [(e.path, e.message) for e in caught.value.errors] == [
            ("html", "line 2: ctx.orderNumber is not a field of EVTcartAbandonment.")
        ]
        structure_extend(cart_event, fields=[{"field_id": "orderNumber", "label": "Order", "type": "text"}])
        version = message_publish(message=message)
        assert "ctx.orderNumber" in version.content["html"]

    def test_a_variable_that_is_neither_ctx_nor_an_enrichment_is_refused(self, cart_event):
        message_update(message=cart_event.message, subject="Hi {{ firstName }}")
        assert errors_of(cart_event.message) == [
            ("subject", "line 1: firstName is not defined: use ctx.<field> or an enrichment's name.")
        ]

    def test_fields_of_collection_items_are_checked_inside_loops(self, cart_event):
        structure_extend(cart_event, collections=[CART_ITEMS])
        message_update(
            message=cart_event.message,
            html="{% for item in ctx['items'][:3] %}\n{{ item.name }} {{ item.colour }}\n"
            "{% else %}Empty{% endfor %}\n{{ (ctx.items|first).size }}",
        )
        assert errors_of(cart_event.message) == [
            ("html", "line 2: item.colour is not a field of an item of ctx.items."),
            ("html", "line 4: ctx.items.size is not a field of an item of ctx.items."),
        ]

    def test_enrichments_are_known_by_name(self, cart_event):
        structure_extend(
            cart_event,
            collections=[CART_ITEMS],
            enrichments=[
                {"name": "customer", "target": "event", "resource": "profile"},
                {"name": "product", "target": "items", "resource": "product"},
            ],
        )
        message_update(
            message=cart_event.message,
            html="{{ customer.first_name }}"
            "{% for item in ctx.items %}{{ item.product.imageUrl }}{% endfor %}",
            text="{{ product.imageUrl }}",
        )
        assert errors_of(cart_event.message) == [
            ("text", "line 1: product is not defined: use ctx.<field> or an enrichment's name.")
        ]

    def test_variables_set_in_the_template_and_loop_are_known(self, cart_event):
        message_update(
            message=cart_event.message,
            text="{% set name = ctx.firstName|default('friend') %}{{ name }}"
            "{% for i in range(2) %}{{ loop.index }}{% endfor %}",
        )
        assert errors_of(cart_event.message) == []

    def test_variants_are_checked_with_their_language_in_the_path(self, cart_event):
        MessageVariant.objects.create(
            message=cart_event.message, language="fr", subject="Bonjour {{ ctx.prenom }}"
        )
        assert errors_of(cart_event.message) == [
            ("variants.fr.subject", "line 1: ctx.prenom is not a field of EVTcartAbandonment.")
        ]


class TestRequiredParts:
    def test_syntax_errors_name_the_part_and_line(self, cart_event):
        message_update(message=cart_event.message, text="ok\n\n{% for x in ctx.items %}")
        [(path, message)] = errors_of(cart_event.message)
        assert path == "text" and message.startswith("line 3: Unexpected end of template")

    def test_email_needs_a_subject_and_a_body_and_valid_addresses(self, cart_event):
        message_update(message=cart_event.message, subject="", html="", text="", reply_to="not-an-address")
        assert errors_of(cart_event.message) == [
            ("subject", "The subject is required."),
            ("html", "Write an HTML or a text content."),
            ("reply_to", "'not-an-address' is not a valid email address."),
        ]

    def test_unknown_locale(self, cart_event):
        message_update(message=cart_event.message, locale="xx_YY")
        assert errors_of(cart_event.message) == [
            ("locale", "'xx_YY' is not a known locale (e.g. en, en_US, fr_FR).")
        ]


class TestSms:
    @pytest.fixture
    def sms_event(self, db):
        config = make_published_event(event_id="EVTsmsCode", content=None, publish_message=False)
        config.channel = Channel.SMS
        config.save(update_fields=["channel"])
        return config

    def test_the_text_is_required(self, sms_event):
        assert errors_of(sms_event.message) == [("sms_text", "The SMS text is required.")]

    def test_a_long_sms_is_warned_not_refused(self, sms_event):
        message_update(message=sms_event.message, sms_text="x" * 500 + " {{ ctx.firstName }}")
        content = message_content(message=sms_event.message)
        [warning] = message_warnings(message=sms_event.message, content=content)
        assert warning.path == "sms_text"
        assert warning.message.startswith("501 GSM-7 characters before personalisation make 4 SMS segments")
        assert message_publish(message=sms_event.message).content["sms_text"].startswith("xxx")


def test_an_unknown_filter_is_refused_and_locale_filters_are_known(cart_event):
    message_update(
        message=cart_event.message, text="{{ ctx.cartAmount|format_currency('USD') }}\n{{ ctx.x|shout }}"
    )
    assert errors_of(cart_event.message) == [("text", "line 2: No filter named 'shout'.")]


def test_other_templates_cannot_be_included(cart_event):
    message_update(message=cart_event.message, text="Hi\n{% include 'admin/base.html' %}")
    assert errors_of(cart_event.message) == [
        ("text", "line 2: {% include %} is not available: a message is one template.")
    ]
