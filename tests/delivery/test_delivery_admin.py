import pytest

from delivery.feedback import address_quarantine
from delivery.models import AddressQuarantine, DenylistEntry

pytestmark = pytest.mark.django_db


def test_an_administrator_releases_an_address_from_quarantine(client, administrator):
    entry = address_quarantine(channel="email", address="jane@example.com", reason="hardBounce", detail="550")
    client.force_login(administrator)
    page = client.get(f"/admin/delivery/addressquarantine/{entry.pk}/change/").content.decode()
    assert "Release from quarantine" in page
    response = client.post(f"/admin/delivery/addressquarantine/{entry.pk}/action/release/", follow=True)
    assert "is out of quarantine" in response.content.decode()
    assert AddressQuarantine.objects.get(pk=entry.pk).quarantined_at is None


def test_an_administrator_denylists_an_address(client, administrator):
    client.force_login(administrator)
    response = client.post(
        "/admin/delivery/denylistentry/add/",
        {"channel": "email", "address": " Boss@Example.com ", "reason": "asked by legal"},
        follow=True,
    )
    assert response.status_code == 200
    assert DenylistEntry.objects.get().address == "boss@example.com"


def test_marketers_see_neither_quarantine_nor_denylist(client, marketer):
    entry = address_quarantine(channel="email", address="jane@example.com", reason="hardBounce")
    client.force_login(marketer)
    assert client.get("/admin/delivery/addressquarantine/").status_code == 403
    assert client.post(f"/admin/delivery/addressquarantine/{entry.pk}/action/release/").status_code == 403
    assert client.get("/admin/delivery/denylistentry/add/").status_code == 403
    assert AddressQuarantine.objects.get(pk=entry.pk).quarantined_at is not None
