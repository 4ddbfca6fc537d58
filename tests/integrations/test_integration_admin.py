"""API credentials in the admin: shown once, stored hashed, revoked from their page."""

import re

import pytest

from integrations.models import Integration

pytestmark = pytest.mark.django_db


def test_creating_an_integration_shows_the_token_once_and_stores_only_its_hash(client, administrator, api):
    client.force_login(administrator)
    response = client.post("/admin/integrations/integration/add/", {"name": "Mobile app"}, follow=True)
    page = response.content.decode()
    token = re.search(r"Token \(Authorization: Bearer\): <code>([^<]+)</code>", page).group(1)
    client_id = re.search(r"Client id \(X-Api-Key\): <code>([^<]+)</code>", page).group(1)
    integration = Integration.objects.get(name="Mobile app")
    assert integration.client_id == client_id
    assert token not in integration.token_hash
    # Shown once: the change page does not show it again.
    again = client.get(f"/admin/integrations/integration/{integration.pk}/change/").content.decode()
    assert token not in again
    assert f"{token[:6]}…" in again


def test_revoking_an_integration_from_its_page(client, administrator, credentials):
    client.force_login(administrator)
    pk = credentials.integration.pk
    response = client.post(f"/admin/integrations/integration/{pk}/action/revoke/", follow=True)
    assert "is revoked" in response.content.decode()
    assert Integration.objects.get(pk=pk).revoked_at is not None
