"""The admin's words are people's words: plural forms, units, one name per thing."""

import html
import re

import pytest

from delivery.feedback import denylist_add
from messages_app.models import ProofSend, ProofStatus

pytestmark = pytest.mark.django_db


def text_of(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    # The page's words, without its markup.
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())))


def test_lists_count_in_plural_forms(client, administrator):
    client.force_login(administrator)
    page = text_of(client, "/admin/delivery/addressquarantine/")
    assert "Select quarantined address to view" in page and "0 quarantined addresses" in page
    assert "0 quarantine " not in page
    assert "0 denylisted addresses" in text_of(client, "/admin/delivery/denylistentry/")
    denylist_add(channel="email", address="a@example.com", reason="asked")
    assert "1 denylisted address " in text_of(client, "/admin/delivery/denylistentry/")


def test_units_and_names_as_people_write_them(client, administrator, cart_event):
    client.force_login(administrator)
    page = text_of(client, f"/admin/events/eventconfiguration/{cart_event.pk}/change/")
    assert "Duration (ms)" in page and "Duration ms" not in page
    assert "Data structure checked: 3 fields, 0 collections, 0 enrichments" in page
    home = text_of(client, "/admin/")
    assert "API credentials" in home and "Integrations" not in home
    messages = text_of(client, "/admin/messages_app/transactionalmessage/")
    assert "Messages \u203a Transactional messages" in messages
    assert "Transactional messages \u203a Transactional messages" not in messages


def test_the_proof_sends_channel_filter_says_email_as_people_write_it(client, administrator, cart_event):
    ProofSend.objects.create(
        message=cart_event.message,
        channel="email",
        address="a@example.com",
        content={},
        status=ProofStatus.SENT,
    )
    client.force_login(administrator)
    page = client.get("/admin/messages_app/proofsend/").content.decode()
    assert re.search(r'<a href="\?channel__exact=email">Email</a>', page)
