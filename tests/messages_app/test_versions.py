"""Versions: frozen at publish with author and time, compared, rolled back by publishing an older one."""

import pytest

from campaign.exceptions import ApplicationError, ValidationFailed
from delivery.services import event_deliver
from events.services import event_trigger
from messages_app.models import MessageVariant
from messages_app.selectors import version_diff
from messages_app.services import message_publish, message_rollback, message_update

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


def deliver(config, smtp):
    event = event_trigger(event_id=config.event_id, payload={"email": "jane@example.com", "ctx": CART})
    event_deliver(event_pk=event.pk)
    return smtp.messages[-1]


def test_editing_never_changes_live_output_before_publish(cart_event, smtp):
    message_update(message=cart_event.message, subject="Draft subject")
    assert deliver(cart_event, smtp)["Subject"] == "Jane, your cart is waiting"
    message_publish(message=cart_event.message)
    assert deliver(cart_event, smtp)["Subject"] == "Draft subject"


def test_a_version_records_author_time_and_variants(cart_event, marketer):
    MessageVariant.objects.create(message=cart_event.message, language="fr", subject="Votre panier")
    version = message_publish(message=cart_event.message, user=marketer)
    assert version.published_by == marketer and version.published_at is not None
    assert version.content["variants"]["fr"]["subject"] == "Votre panier"


def test_rollback_publishes_the_older_content_as_a_new_version(cart_event, marketer, smtp):
    message_update(message=cart_event.message, subject="Second subject")
    message_publish(message=cart_event.message)
    version = message_rollback(message=cart_event.message, number=1, user=marketer)
    assert (version.number, version.restored_from, version.published_by) == (3, 1, marketer)
    assert deliver(cart_event, smtp)["Subject"] == "Jane, your cart is waiting"
    cart_event.message.refresh_from_db()
    assert cart_event.message.subject == "{{ ctx.firstName }}, your cart is waiting"  # the draft follows


def test_rollback_to_a_missing_version(cart_event):
    with pytest.raises(ApplicationError, match="has no version 9"):
        message_rollback(message=cart_event.message, number=9)


def test_rollback_is_validated_against_the_current_data_structure(cart_event):
    version = cart_event.message.published_version
    version.content = {**version.content, "text": "{{ ctx.gone }}"}
    version.save(update_fields=["content"])
    with pytest.raises(ValidationFailed, match=r"ctx\.gone is not a field"):
        message_rollback(message=cart_event.message, number=1)


def test_diff_between_two_versions_lists_changed_parts_line_by_line(cart_event):
    message_update(message=cart_event.message, subject="New subject", html="<p>Hello</p>\n<p>Bye</p>")
    message_publish(message=cart_event.message)
    versions = {v.number: v for v in cart_event.message.versions.all()}
    diff = version_diff(old=versions[1], new=versions[2])
    assert [part.name for part in diff] == ["subject", "html"]
    assert [(line.kind, line.text) for line in diff[0].lines] == [
        ("removed", "{{ ctx.firstName }}, your cart is waiting"),
        ("added", "New subject"),
    ]
