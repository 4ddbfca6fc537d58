"""Personalisation with the targeted profile: its fields and typed attributes in the publish check,
the picker, previews and proofs (a test profile points at a stored profile or carries profile data
of its own)."""

import pytest

from campaign.exceptions import ValidationFailed
from delivery.proofs import proof_send
from messages_app import models
from messages_app.services import message_preview, message_publish, message_test_profile_save, message_update
from profiles.models import AttributeDefinition
from tests.messages_app.test_message_admin import change_url, form_data
from tests.profiles.helpers import jane, profile_based_event

pytestmark = pytest.mark.django_db

CONTENT = {
    "sender_email": "shop@example.com",
    "subject": "Hello {{ customer.first_name }}",
    "html": "<p>{{ customer.first_name }} {{ customer.last_name }}, member since "
    "{{ customer.attributes.member_since|format_date('long') }}, "
    "{{ customer.attributes.points|format_number }} points, "
    "{{ customer.email }} {{ customer.time_zone }} {{ customer.language }}</p>",
    "text": "{{ customer.first_name }}",
}
JANE_HTML = "<p>Jane Doe, member since March 4, 2021, 1,234.5 points, jane@example.com Europe/Paris en</p>"


@pytest.fixture
def welcome(db):
    return profile_based_event(event_id="EVTwelcome", channel="email", content=CONTENT)


def a_test_profile(config, **fields):
    values = {
        "name": "Jane",
        "address": "jane.proof@example.com",
        "event_data": {"customerId": "C-1"},
        **fields,
    }
    return message_test_profile_save(profile=models.TestProfile(message=config.message, **values))


class TestPublishCheck:
    def test_a_misspelled_attribute_or_field_is_refused_with_part_and_line(self, welcome):
        message_update(
            message=welcome.message,
            html="<p>Hi</p>\n<p>{{ customer.attributes.member_snce }}</p>",
            text="{{ customer.frist_name }}",
        )
        with pytest.raises(ValidationFailed) as caught:
            message_publish(message=welcome.message)
        assert [(e.path, e.message) for e in caught.value.errors] == [
            (
                "html",
                "line 2: customer.attributes.member_snce is not a field of the declared profile attributes.",
            ),
            ("text", "line 1: customer.frist_name is not a field of a profile (customer)."),
        ]

    def test_an_attribute_is_accepted_once_declared(self, welcome):
        message_update(message=welcome.message, text="{{ customer.attributes.loyalty_tier }}")
        with pytest.raises(ValidationFailed, match="loyalty_tier is not a field"):
            message_publish(message=welcome.message)
        AttributeDefinition.objects.create(name="loyalty_tier", label="Loyalty tier", type="text")
        assert (
            message_publish(message=welcome.message).content["text"]
            == "{{ customer.attributes.loyalty_tier }}"
        )


class TestPreviewAndProof:
    def test_a_test_profile_pointing_at_a_stored_profile_previews_its_data(self, welcome):
        rendered = message_preview(message=welcome.message, profile=a_test_profile(welcome, profile=jane()))
        assert rendered.subject == "Hello Jane"
        assert rendered.html == JANE_HTML

    def test_profile_data_of_its_own_previews_like_a_stored_profile(self, welcome):
        data = {
            "first_name": "Zoe",
            "last_name": "Roe",
            "email": "zoe@example.com",
            "time_zone": "America/New_York",
            "language": "fr",
            "attributes": {"member_since": "2020-01-31", "points": 7.25},
        }
        rendered = message_preview(
            message=welcome.message, profile=a_test_profile(welcome, profile_data=data)
        )
        assert rendered.html == (
            "<p>Zoe Roe, member since January 31, 2020, 7.25 points, zoe@example.com America/New_York fr</p>"
        )

    def test_the_proof_delivers_the_stored_profiles_data(self, welcome, smtp):
        proof = proof_send(message=welcome.message, profile=a_test_profile(welcome, profile=jane()))
        assert proof.status == models.ProofStatus.SENT
        [mail] = smtp.messages
        assert mail["To"] == "jane.proof@example.com"
        assert mail["Subject"] == "[Proof] Hello Jane"
        assert JANE_HTML in mail.get_body(("html",)).get_content()

    def test_the_admin_preview_shows_the_profiles_data(self, client, marketer, welcome):
        profile = a_test_profile(welcome, profile=jane())
        client.force_login(marketer)
        url = f"/admin/messages_app/transactionalmessage/{welcome.message.pk}/preview/"
        page = client.get(url, {"profile": profile.pk}).content.decode()
        assert "Hello Jane" in page
        frame = client.get(f"{url}frame/", {"profile": profile.pk}).content.decode()
        assert frame == JANE_HTML


class TestTestProfileData:
    def test_profile_data_is_checked_against_the_fields_and_declared_attributes(self, welcome):
        data = {
            "first_name": "Zoe",
            "nickname": "Z",
            "email": "not-an-address",
            "attributes": {"member_since": "31/01/2020", "points": "a lot", "shoe_size": "42"},
        }
        with pytest.raises(ValidationFailed) as caught:
            a_test_profile(welcome, profile_data=data)
        assert [(e.path, e.message) for e in caught.value.errors] == [
            (
                "profile_data.nickname",
                "nickname is not a profile field (known: email, mobile_phone, external_id, first_name, "
                "last_name, language, time_zone, attributes).",
            ),
            ("profile_data.email", "Not a valid email address."),
            ("profile_data.attributes.member_since", "Expected a date as YYYY-MM-DD."),
            ("profile_data.attributes.points", "Expected a decimal number, e.g. 80.50."),
            (
                "profile_data.attributes.shoe_size",
                "shoe_size is not a declared profile attribute (declared: member_since, points).",
            ),
        ]

    def test_a_stored_profile_and_profile_data_together_are_refused(self, welcome):
        with pytest.raises(ValidationFailed, match="Choose a stored profile or give profile data, not both"):
            a_test_profile(welcome, profile=jane(), profile_data={"first_name": "Zoe"})

    def test_an_event_based_message_has_no_profile(self, cart_event):
        with pytest.raises(
            ValidationFailed, match="Only profile-based messages are personalised with a profile"
        ):
            message_test_profile_save(
                profile=models.TestProfile(
                    message=cart_event.message,
                    name="Jane",
                    address="jane@example.com",
                    event_data={"firstName": "Jane", "cartAmount": "1", "lastProduct": "Hat"},
                    profile_data={"first_name": "Jane"},
                )
            )

    def test_the_admin_form_takes_a_stored_profile_and_reports_bad_profile_data(
        self, client, marketer, welcome
    ):
        stored = jane()
        message = welcome.message
        client.force_login(marketer)
        page = client.get(change_url(message)).content.decode()
        assert 'name="test_profiles-__prefix__-profile"' in page
        assert 'name="test_profiles-__prefix__-profile_data"' in page

        def post(**fields):
            data = form_data(
                message,
                **{
                    "test_profiles-TOTAL_FORMS": "1",
                    "test_profiles-0-name": "Jane",
                    "test_profiles-0-usage": "proof",
                    "test_profiles-0-address": "jane@example.com",
                    "test_profiles-0-event_data": '{"customerId": "C-1"}',
                    **{f"test_profiles-0-{k}": v for k, v in fields.items()},
                },
            )
            return client.post(change_url(message), data)

        page = post(profile="", profile_data='{"attributes": {"points": "many"}}').content.decode()
        assert "profile_data.attributes.points: Expected a decimal number, e.g. 80.50." in page
        assert not models.TestProfile.objects.exists()
        assert post(profile=str(stored.pk), profile_data="{}").status_code == 302
        assert models.TestProfile.objects.get().profile == stored
