"""The message screens through the admin, as marketers and administrators use them."""

import pytest

from messages_app import models
from messages_app.models import MessageStatus, ProofSend
from messages_app.services import message_publish, message_test_profile_save, message_update
from tests.messages_app.helpers import CART_ITEMS, structure_extend

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}
EMPTY_INLINE = {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0", "MIN_NUM_FORMS": "0", "MAX_NUM_FORMS": "1000"}


def change_url(message):
    return f"/admin/messages_app/transactionalmessage/{message.pk}/change/"


def add_profile(message, **fields):
    values = {"name": "Jane", "address": "jane.proof@example.com", "event_data": CART, **fields}
    return message_test_profile_save(profile=models.TestProfile(message=message, **values))


def form_data(message, **changes):
    data = {
        "label": message.label,
        "sender_name": message.sender_name,
        "sender_email": message.sender_email,
        "subject": message.subject,
        "html": message.html,
        "text": message.text,
        "locale": message.locale,
        "missing_value_policy": message.missing_value_policy,
        **{f"variants-{k}": v for k, v in EMPTY_INLINE.items()},
        **{f"test_profiles-{k}": v for k, v in EMPTY_INLINE.items()},
        **{f"versions-{k}": v for k, v in EMPTY_INLINE.items()},
        **changes,
    }
    versions = list(message.versions.all())
    data.update({"versions-TOTAL_FORMS": str(len(versions)), "versions-INITIAL_FORMS": str(len(versions))})
    for i, version in enumerate(versions):
        data.update({f"versions-{i}-id": str(version.pk), f"versions-{i}-message": str(message.pk)})
    return data


def test_the_field_picker_lists_fields_collections_and_their_loop(client, marketer, cart_event):
    structure_extend(cart_event, collections=[CART_ITEMS])
    client.force_login(marketer)
    page = client.get(change_url(cart_event.message)).content.decode()
    assert 'data-insert="{{ ctx.firstName }}"' in page
    assert 'data-insert="{{ item.price }}"' in page
    assert "{% for item in ctx.items[:5] %}" in page and "{% else %}" in page


def test_a_marketer_sees_pause_but_not_unpublish_an_administrator_sees_both(
    client, marketer, administrator, cart_event
):
    client.force_login(marketer)
    page = client.get(change_url(cart_event.message)).content.decode()
    assert ">Pause</button>" in page and ">Unpublish</a>" not in page
    response = client.post(
        f"/admin/messages_app/transactionalmessage/{cart_event.message.pk}/action/unpublish/"
    )
    assert response.status_code == 403
    client.force_login(administrator)
    page = client.get(change_url(cart_event.message)).content.decode()
    assert ">Pause</button>" in page and ">Unpublish</a>" in page
    # Unpublish asks first: its link opens a confirmation page, which posts it.
    confirmation = client.get(
        f"/admin/messages_app/transactionalmessage/{cart_event.message.pk}/action/unpublish/"
    )
    assert confirmation.status_code == 200
    assert "Its event configuration is unpublished too" in confirmation.content.decode()
    cart_event.message.refresh_from_db()
    assert cart_event.message.status == MessageStatus.PUBLISHED


def test_pause_then_resume_from_the_admin(client, marketer, cart_event):
    client.force_login(marketer)
    base = f"/admin/messages_app/transactionalmessage/{cart_event.message.pk}/action"
    page = client.post(f"{base}/pause/", follow=True).content.decode()
    assert "is paused: new events are kept" in page and ">Resume</button>" in page
    cart_event.message.refresh_from_db()
    assert cart_event.message.status == MessageStatus.PAUSED
    page = client.post(f"{base}/resume/", follow=True).content.decode()
    assert "is resumed: 0 kept events are being sent" in page


def test_a_publish_error_names_the_part_and_line(client, marketer, cart_event):
    client.force_login(marketer)
    message = cart_event.message
    assert (
        client.post(change_url(message), form_data(message, html="<p>\n{{ ctx.coupon }}</p>")).status_code
        == 302
    )
    page = client.post(
        f"/admin/messages_app/transactionalmessage/{message.pk}/action/publish/", follow=True
    ).content.decode()
    assert "html: line 2: ctx.coupon is not a field of EVTcartAbandonment." in page


def test_test_profile_data_is_checked_in_the_form(client, marketer, cart_event):
    client.force_login(marketer)
    message = cart_event.message
    data = form_data(
        message,
        **{
            "test_profiles-TOTAL_FORMS": "1",
            "test_profiles-0-name": "Bad",
            "test_profiles-0-usage": "proof",
            "test_profiles-0-address": "jane@example.com",
            "test_profiles-0-event_data": '{"firstName": "Jane", "coupon": "X"}',
        },
    )
    page = client.post(change_url(message), data).content.decode()
    assert "event_data.coupon: Unknown field: it is not part of the event&#x27;s data structure." in page
    assert not models.TestProfile.objects.exists()


def test_preview_shows_the_profiles_rendering_in_a_sandboxed_frame(client, marketer, cart_event):
    message_update(message=cart_event.message, html="<p>Hi {{ ctx.firstName }}</p><script>x()</script>")
    profile = add_profile(cart_event.message, event_data={**CART, "firstName": "<b>Zoe</b>"})
    client.force_login(marketer)
    url = f"/admin/messages_app/transactionalmessage/{cart_event.message.pk}/preview/"
    page = client.get(url, {"profile": profile.pk}).content.decode()
    assert '<iframe class="mc-preview-frame" sandbox=""' in page
    assert "&lt;b&gt;Zoe&lt;/b&gt;, your cart is waiting" in page
    frame = client.get(f"{url}frame/", {"profile": profile.pk})
    assert frame["Content-Security-Policy"].startswith("sandbox;")
    assert frame.content.decode() == "<p>Hi &lt;b&gt;Zoe&lt;/b&gt;</p><script>x()</script>"


def test_send_proof_from_the_preview(client, marketer, cart_event, smtp):
    profile = add_profile(cart_event.message)
    client.force_login(marketer)
    url = f"/admin/messages_app/transactionalmessage/{cart_event.message.pk}/preview/"
    page = client.post(url, {"profile": profile.pk}, follow=True).content.decode()
    assert "Proof sent to jane.proof@example.com." in page
    [mail] = smtp.messages
    assert mail["Subject"] == "[Proof] Jane, your cart is waiting"
    assert ProofSend.objects.get().sent_by == marketer


def test_versions_page_diff_and_rollback(client, marketer, cart_event):
    message_update(message=cart_event.message, subject="Second")
    message_publish(message=cart_event.message)
    client.force_login(marketer)
    url = f"/admin/messages_app/transactionalmessage/{cart_event.message.pk}/versions/"
    page = client.get(url, {"old": 1, "new": 2}).content.decode()
    assert '<div class="removed">- {{ ctx.firstName }}, your cart is waiting</div>' in page
    assert '<div class="added">+ Second</div>' in page
    page = client.post(f"{url}1/rollback/", follow=True).content.decode()
    assert "Version 1 is live again as version 3" in page
    cart_event.message.refresh_from_db()
    assert (
        cart_event.message.published_version.content["subject"] == "{{ ctx.firstName }}, your cart is waiting"
    )


def test_the_picker_offers_enrichments_by_name(client, marketer, cart_event):
    from profiles.models import AttributeDefinition

    AttributeDefinition.objects.create(name="loyalty_tier", label="Loyalty tier", type="text")
    structure_extend(
        cart_event,
        collections=[CART_ITEMS],
        enrichments=[
            {"name": "customer", "target": "event", "resource": "profile"},
            {"name": "product", "target": "items", "resource": "product"},
        ],
    )
    client.force_login(marketer)
    page = client.get(change_url(cart_event.message)).content.decode()
    # Every profile field and declared attribute of each enrichment, in items too.
    for name in ("email", "mobile_phone", "external_id", "first_name", "last_name", "language", "time_zone"):
        assert f'data-insert="{{{{ customer.{name} }}}}"' in page
    assert "customer &gt; first name (first_name)" in page
    assert 'data-insert="{{ customer.attributes.loyalty_tier }}"' in page
    assert "customer &gt; Loyalty tier (Text)" in page
    # Another resource than profiles: its name.
    assert 'data-insert="{{ item.product. }}"' in page


def channel_event(channel, event_id, **content):
    from events.models import Channel
    from tests.conftest import make_published_event

    config = make_published_event(event_id=event_id, content=None, publish_message=False)
    config.channel = getattr(Channel, channel)
    config.save(update_fields=["channel"])
    message_update(message=config.message, **content)
    return config


def test_sms_preview_shows_the_text_and_its_segments(client, marketer):
    config = channel_event("SMS", "EVTsmsPreview", sms_text="Hi {{ ctx.firstName }}, code ready")
    add_profile(config.message, address="+33612345678")
    client.force_login(marketer)
    page = client.get(
        f"/admin/messages_app/transactionalmessage/{config.message.pk}/preview/"
    ).content.decode()
    assert '<div class="mc-bubble" id="mc-preview-sms">Hi Jane, code ready</div>' in page
    assert "19 characters · GSM-7 · 1 segment<" in page


def test_push_preview_shows_a_notification_mock_up(client, marketer):
    config = channel_event(
        "PUSH",
        "EVTpushPreview",
        push_title="{{ ctx.firstName }}",
        push_body="Your {{ ctx.lastProduct }} is waiting",
        push_deep_link="shop://cart",
        push_badge=2,
    )
    add_profile(config.message, address="device-token-1")
    client.force_login(marketer)
    page = client.get(
        f"/admin/messages_app/transactionalmessage/{config.message.pk}/preview/"
    ).content.decode()
    assert "<strong>Jane</strong>Your Jacket is waiting" in page
    assert "shop://cart" in page


def test_a_refused_proof_is_reported_and_recorded(client, marketer, cart_event, smtp):
    profile = add_profile(cart_event.message)
    smtp.refuse.add("jane.proof@example.com")
    client.force_login(marketer)
    url = f"/admin/messages_app/transactionalmessage/{cart_event.message.pk}/preview/"
    page = client.post(url, {"profile": profile.pk}, follow=True).content.decode()
    assert "The proof was not sent:" in page and "jane.proof@example.com" in page
    assert ProofSend.objects.get().status == "failed"
