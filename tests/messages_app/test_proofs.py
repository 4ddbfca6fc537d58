"""Test profiles, previews and proofs sent through the real channel (loopback SMTP)."""

import pytest

from campaign.exceptions import ApplicationError, ValidationFailed
from delivery.proofs import proof_send
from events.models import Event
from messages_app import models
from messages_app.models import ProofSend, ProofStatus
from messages_app.services import message_preview, message_test_profile_save, message_update
from tests.messages_app.helpers import CART_ITEMS, structure_extend

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


def profile(config, **fields):
    values = {"name": "Jane", "address": "jane.proof@example.com", "event_data": CART, **fields}
    return message_test_profile_save(profile=models.TestProfile(message=config.message, **values))


class TestTestProfiles:
    def test_event_data_is_validated_against_the_data_structure(self, cart_event):
        with pytest.raises(ValidationFailed) as caught:
            profile(cart_event, event_data={"firstName": 12, "coupon": "X"})
        assert [(e.path, e.message) for e in caught.value.errors] == [
            ("event_data.coupon", "Unknown field: it is not part of the event's data structure."),
            ("event_data.cartAmount", "This field is required: expected a text of at most 100 characters."),
            ("event_data.lastProduct", "This field is required: expected a text of at most 100 characters."),
            ("event_data.firstName", "Expected a text of at most 100 characters; got the number 12."),
        ]

    def test_the_address_must_suit_the_channel(self, cart_event):
        with pytest.raises(ValidationFailed, match="not a valid email address"):
            profile(cart_event, address="+33612345678")

    def test_a_rendering_profile_needs_no_address(self, cart_event):
        saved = profile(cart_event, address="", usage=models.TestProfileUsage.RENDERING)
        assert saved.pk is not None


class TestPreview:
    def test_preview_renders_the_draft_with_the_profiles_data(self, cart_event):
        message_update(message=cart_event.message, subject="Draft for {{ ctx.firstName }}")
        rendered = message_preview(message=cart_event.message, profile=profile(cart_event))
        assert rendered.subject == "Draft for Jane"
        assert "you left Jacket" in rendered.html

    def test_two_profiles_one_with_an_empty_cart_shows_the_fallback(self, cart_event):
        structure_extend(cart_event, collections=[CART_ITEMS])
        message_update(
            message=cart_event.message,
            html="{% for item in ctx.items %}<li>{{ item.name }} {{ item.price|format_currency('USD') }}</li>"
            "{% else %}<p>Your cart is empty.</p>{% endfor %}",
        )
        full = profile(cart_event, event_data={**CART, "items": [{"name": "Jacket", "price": "120"}]})
        empty = profile(cart_event, name="Empty cart", event_data={**CART, "items": []})
        assert message_preview(message=cart_event.message, profile=full).html == "<li>Jacket $120.00</li>"
        assert message_preview(message=cart_event.message, profile=empty).html == "<p>Your cart is empty.</p>"


class TestProof:
    def test_a_proof_arrives_marked_as_a_proof_and_creates_no_event(self, cart_event, smtp, marketer):
        message_update(message=cart_event.message, subject="Draft {{ ctx.firstName }}")
        proof = proof_send(message=cart_event.message, profile=profile(cart_event), user=marketer)
        [mail] = smtp.messages
        assert mail["To"] == "jane.proof@example.com"
        assert mail["Subject"] == "[Proof] Draft Jane"
        assert "you left Jacket" in mail.get_body(("html",)).get_content()
        assert (proof.status, proof.sent_by) == (ProofStatus.SENT, marketer)
        assert proof.provider_message_id.startswith("<proof-")
        assert Event.objects.count() == 0

    def test_a_refused_address_is_recorded_as_failed(self, cart_event, smtp):
        smtp.refuse.add("jane.proof@example.com")
        proof = proof_send(message=cart_event.message, profile=profile(cart_event))
        assert proof.status == ProofStatus.FAILED
        assert "550 5.1.1 Mailbox unavailable" in proof.error
        assert ProofSend.objects.get().status == ProofStatus.FAILED

    def test_a_rendering_profile_never_receives_proofs(self, cart_event, smtp):
        rendering = profile(cart_event, usage=models.TestProfileUsage.RENDERING)
        with pytest.raises(ApplicationError, match="is a rendering profile"):
            proof_send(message=cart_event.message, profile=rendering)
        assert smtp.messages == []
