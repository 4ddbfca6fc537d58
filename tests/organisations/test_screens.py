"""What each screen shows a user of Brand A: only what it may act on (SPEC ROLE-4)."""

import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command

from campaign.exceptions import ApplicationError
from campaign.roles import ADMINISTRATORS, ADMINISTRATORS_ALL_UNITS, MARKETERS
from events.models import Event, EventConfiguration
from events.services import event_trigger
from integrations.models import Integration
from integrations.services import integration_create
from messages_app import models as message_models
from messages_app.services import message_test_profile_save, package_export, package_import
from organisations.models import Membership, Unit
from tests.messages_app.test_message_admin import EMPTY_INLINE, form_data
from tests.organisations.conftest import published_in, user_in

pytestmark = pytest.mark.django_db

MESSAGES = "/admin/messages_app/transactionalmessage/"
CART = {"firstName": "Jane", "cartAmount": "$ 1", "lastProduct": "Hat"}


def test_the_demo_seeds_two_brands_each_marketer_sees_its_own_message(client):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert re.search(r"login marketer-a\s+password demo-brand-a\s+\(Brand A\)", text)
    assert re.search(r"login marketer-b\s+password demo-brand-b\s+\(Brand B\)", text)
    users = get_user_model().objects
    for username, own, other in [
        ("marketer-a", "RTEVTbrandAWelcome", "RTEVTbrandBWelcome"),
        ("marketer-b", "RTEVTbrandBWelcome", "RTEVTbrandAWelcome"),
    ]:
        client.force_login(users.get(username=username))
        page = client.get(MESSAGES).content.decode()
        assert own in page and other not in page
    client.force_login(users.get(username="admin"))
    page = client.get(MESSAGES).content.decode()
    assert "RTEVTbrandAWelcome" in page and "RTEVTbrandBWelcome" in page
    call_command("seed_demo", stdout=io.StringIO())  # repeatable
    assert Membership.objects.filter(user__username__startswith="marketer-").count() == 2


def test_the_unit_field_offers_the_units_the_user_writes_its_own_first(client, tree):
    client.force_login(user_in(tree["brand_a"], ADMINISTRATORS))
    page = client.get("/admin/events/eventconfiguration/add/").content.decode()
    select = re.search(r'<select name="unit".*?</select>', page, re.S).group(0)
    assert re.search(rf'<option value="{tree["brand_a"].pk}" selected>', select)
    assert "Brand A France" in select
    assert "Brand B" not in select and ">All<" not in select
    response = client.post(
        "/admin/events/eventconfiguration/add/",
        {
            "label": "Elsewhere",
            "event_id": "EVTelsewhere",
            "unit": tree["brand_b"].pk,
            "channel": "email",
            "targeting": "event",
            **{
                f"{p}-{k}": v
                for p in ("fields", "collections", "enrichments")
                for k, v in EMPTY_INLINE.items()
            },
        },
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not EventConfiguration.objects.filter(event_id="EVTelsewhere").exists()


def test_new_credentials_belong_to_their_author_unit_and_list_only_its_units(client, tree):
    other = integration_create(name="Brand B website", unit=tree["brand_b"]).integration
    client.force_login(user_in(tree["brand_a"], ADMINISTRATORS))
    # Left out of the post, the unit is the author's.
    response = client.post("/admin/integrations/integration/add/", {"name": "Brand A shop"})
    assert response.status_code == 302
    assert Integration.objects.get(name="Brand A shop").unit == tree["brand_a"]
    client.post(
        "/admin/integrations/integration/add/", {"name": "France shop", "unit": tree["brand_a_fr"].pk}
    )
    assert Integration.objects.get(name="France shop").unit == tree["brand_a_fr"]
    page = client.get("/admin/integrations/integration/").content.decode()
    assert "Brand A shop" in page and "Brand B website" not in page
    assert client.get(f"/admin/integrations/integration/{other.pk}/change/").status_code == 404
    assert client.post(f"/admin/integrations/integration/{other.pk}/action/revoke/").status_code == 404
    assert Integration.objects.get(pk=other.pk).revoked_at is None


def test_test_profiles_preview_and_proofs_follow_the_units(client, tree):
    config = published_in(tree["brand_a"], "EVTbrandA")
    message = config.message
    shared = message_test_profile_save(
        profile=message_models.TestProfile(
            message=message, name="Shared", address="s@example.com", event_data=CART, unit=tree["root"]
        )
    )
    message_test_profile_save(
        profile=message_models.TestProfile(
            message=message,
            name="Brand B tester",
            address="b@example.com",
            event_data=CART,
            unit=tree["brand_b"],
        )
    )
    client.force_login(user_in(tree["brand_a"], MARKETERS))
    preview = client.get(f"{MESSAGES}{message.pk}/preview/").content.decode()
    change = client.get(f"{MESSAGES}{message.pk}/change/").content.decode()
    # The preview uses the test profiles of the units above; the form holds only its own.
    assert "Shared" in preview and "Brand B tester" not in preview
    assert "Shared" not in change and "Brand B tester" not in change
    # Changing a test profile of the unit above anyway: it is not among the form's rows.
    data = form_data(message)
    data.update(
        {
            "test_profiles-TOTAL_FORMS": "1",
            "test_profiles-INITIAL_FORMS": "1",
            "test_profiles-0-id": str(shared.pk),
            "test_profiles-0-message": str(message.pk),
            "test_profiles-0-name": "Hijacked",
            "test_profiles-0-usage": shared.usage,
            "test_profiles-0-address": shared.address,
            "test_profiles-0-event_data": json.dumps(CART),
        }
    )
    # Django takes a row it does not hold for a new one: the shared profile is left alone.
    client.post(f"{MESSAGES}{message.pk}/change/", data)
    assert message_models.TestProfile.objects.get(pk=shared.pk).name == "Shared"
    assert {p.unit for p in message_models.TestProfile.objects.filter(name="Hijacked")} <= {tree["brand_a"]}
    message_models.TestProfile.objects.filter(name="Hijacked").delete()
    # A new one belongs to its author's unit.
    data.update(
        {
            "test_profiles-0-id": "",
            "test_profiles-INITIAL_FORMS": "0",
            "test_profiles-0-name": "Mine",
        }
    )
    assert client.post(f"{MESSAGES}{message.pk}/change/", data).status_code == 302
    assert message_models.TestProfile.objects.get(name="Mine").unit == tree["brand_a"]


def test_a_proof_of_a_message_above_is_refused(client, tree):
    message = published_in(tree["root"], "EVTshared").message
    client.force_login(user_in(tree["brand_a"], MARKETERS))
    preview = client.get(f"{MESSAGES}{message.pk}/preview/")
    assert preview.status_code == 200 and "Send proof" not in preview.content.decode()
    assert client.post(f"{MESSAGES}{message.pk}/preview/").status_code == 403


def test_the_event_list_and_its_filter_show_only_the_users_events(client, tree):
    own = published_in(tree["brand_a"], "EVTbrandA")
    other = published_in(tree["brand_b"], "EVTbrandB")
    for config in (own, other):
        event_trigger(event_id=config.event_id, payload={"email": "j@example.com", "ctx": CART})
    client.force_login(user_in(tree["brand_a"], ADMINISTRATORS))
    page = client.get("/admin/events/event/").content.decode()
    assert "EVTbrandA)" in page and "EVTbrandB" not in page
    assert client.get(f"/admin/events/eventconfiguration/{other.pk}/api-preview/").status_code == 404


def test_a_unit_administrator_manages_its_units_users_and_cannot_raise_anyone(client, tree):
    admin_a = user_in(tree["brand_a"], ADMINISTRATORS, username="admin-a")
    user_in(tree["brand_a_fr"], MARKETERS, username="marketer-fr")
    other = user_in(tree["brand_b"], MARKETERS, username="marketer-b")
    client.force_login(admin_a)
    page = client.get("/admin/auth/user/").content.decode()
    assert "marketer-fr" in page and "marketer-b" not in page
    assert client.get(f"/admin/auth/user/{other.pk}/change/").status_code == 404
    page = client.get(f"/admin/auth/user/{admin_a.pk}/change/").content.decode()
    assert ADMINISTRATORS_ALL_UNITS not in page
    assert 'name="is_superuser"' not in page
    select = re.search(r'<select name="membership-0-unit".*?</select>', page, re.S).group(0)
    assert "Brand A France" in select and "Brand B" not in select
    assert Group.objects.filter(name=ADMINISTRATORS_ALL_UNITS).exists()


def test_a_package_cannot_overwrite_another_units_configuration(tree):
    other = published_in(tree["brand_b"], "EVTbrandB")
    document = package_export(configs=EventConfiguration.objects.filter(pk=other.pk))
    with pytest.raises(ApplicationError, match="belongs to another organisational unit"):
        package_import(document=document, unit=tree["brand_a"])
    created = package_import(
        document={**document, "configurations": [{**document["configurations"][0], "event_id": "EVTnew"}]},
        unit=tree["brand_a"],
    )
    assert created[0][0].unit == tree["brand_a"]


def test_a_new_user_is_put_in_a_unit_of_its_creator(client, tree):
    client.force_login(user_in(tree["brand_a"], ADMINISTRATORS))
    page = client.get("/admin/auth/user/add/").content.decode()
    assert 'name="membership-0-unit"' in page
    response = client.post(
        "/admin/auth/user/add/",
        {
            "username": "newcomer",
            "password1": "a-long-Passphrase-42",
            "password2": "a-long-Passphrase-42",
            "usable_password": "true",
            "membership-TOTAL_FORMS": "1",
            "membership-INITIAL_FORMS": "0",
            "membership-MIN_NUM_FORMS": "1",
            "membership-MAX_NUM_FORMS": "1",
            "membership-0-unit": str(tree["brand_a_fr"].pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert Membership.objects.get(user__username="newcomer").unit == tree["brand_a_fr"]


def test_a_unit_administrator_adds_units_below_its_own_only(client, tree):
    client.force_login(user_in(tree["brand_a"], ADMINISTRATORS))
    page = client.get("/admin/organisations/unit/").content.decode()
    assert "Brand A France" in page and "Brand B" not in page
    response = client.post(
        "/admin/organisations/unit/add/", {"name": "Brand A Spain", "parent": tree["brand_a"].pk}
    )
    assert response.status_code == 302
    spain = Unit.objects.get(name="Brand A Spain")
    assert spain.path == f"{tree['brand_a'].path}{spain.pk}/"
    response = client.post(
        "/admin/organisations/unit/add/", {"name": "Intruder", "parent": tree["brand_b"].pk}
    )
    assert response.status_code == 200 and not Unit.objects.filter(name="Intruder").exists()
    assert client.get(f"/admin/organisations/unit/{tree['brand_b'].pk}/change/").status_code == 404
    # The unit above is read-only.
    root_page = client.get(f"/admin/organisations/unit/{tree['root'].pk}/change/").content.decode()
    assert 'name="_save"' not in root_page


def test_the_delivery_logs_show_only_the_users_events(client, tree):
    from django.utils import timezone

    from delivery.models import DeliveryAttempt

    for unit, address in (
        (tree["brand_a"], "a-customer@example.com"),
        (tree["brand_b"], "b-customer@example.com"),
    ):
        config = published_in(unit, f"EVT{unit.name.replace(' ', '')}")
        event = event_trigger(event_id=config.event_id, payload={"email": address, "ctx": CART})
        DeliveryAttempt.objects.create(
            event=event,
            event_pkey=event.pkey,
            configuration_id=event.configuration_id,
            number=1,
            channel="email",
            address=address,
            started_at=timezone.now(),
            duration_ms=5,
            outcome="sent",
        )
    own = DeliveryAttempt.objects.get(address="a-customer@example.com")
    other = DeliveryAttempt.objects.get(address="b-customer@example.com")
    client.force_login(user_in(tree["brand_a"], ADMINISTRATORS))
    # While the events are there, and once retention has deleted them (the logs outlive them).
    for gone in (False, True):
        if gone:
            Event.objects.all().delete()
        page = client.get("/admin/delivery/deliveryattempt/").content.decode()
        assert f"/deliveryattempt/{own.pk}/change/" in page
        assert f"/deliveryattempt/{other.pk}/change/" not in page
        assert (f"{own.event_pkey} (event deleted)" in page) is gone
        searched = client.get("/admin/delivery/deliveryattempt/", {"q": "b-customer"}).content.decode()
        assert "0 results" in searched
        searched = client.get("/admin/delivery/deliveryattempt/", {"q": other.event_pkey}).content.decode()
        assert "0 results" in searched
        assert client.get(f"/admin/delivery/deliveryattempt/{other.pk}/change/").status_code == 404
        detail = client.get(f"/admin/delivery/deliveryattempt/{own.pk}/change/")
        assert detail.status_code == 200 and own.event_pkey in detail.content.decode()


def test_marketing_deliveries_belong_to_a_unit(client, tree):
    from marketing.models import MarketingDelivery
    from typologies.models import Typology

    typology = Typology.objects.create(name="sales", label="Sales")
    own = MarketingDelivery.objects.create(
        label="Brand A spring sale", unit=tree["brand_a"], typology=typology
    )
    other = MarketingDelivery.objects.create(
        label="Brand B spring sale", unit=tree["brand_b"], typology=typology
    )
    above = MarketingDelivery.objects.create(label="Group-wide sale", typology=typology)
    client.force_login(user_in(tree["brand_a"], MARKETERS))
    page = client.get("/admin/marketing/marketingdelivery/").content.decode()
    assert "Brand A spring sale" in page and "Group-wide sale" in page
    assert "Brand B spring sale" not in page
    base = "/admin/marketing/marketingdelivery"
    assert client.get(f"{base}/{other.pk}/change/").status_code == 404
    assert client.post(f"{base}/{other.pk}/action/cancel/").status_code == 404
    assert client.post(f"{base}/{above.pk}/action/cancel/").status_code == 403
    assert 'name="_save"' not in client.get(f"{base}/{above.pk}/change/").content.decode()
    assert 'name="_save"' in client.get(f"{base}/{own.pk}/change/").content.decode()
    assert MarketingDelivery.objects.get(pk=above.pk).status == above.status
