"""A refused page is the admin's page, with the reason and a way back; the API documentation is for
API credentials and administrators, as the README says."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_marketer_refused_an_admin_page_sees_why_and_a_way_back(client, marketer):
    client.force_login(marketer)
    came_from = "http://testserver/admin/messages_app/transactionalmessage/"
    response = client.get("/admin/events/eventconfiguration/", headers={"Referer": came_from})
    assert response.status_code == 403
    page = response.content.decode()
    assert "Message Center" in page and "403 Forbidden" not in page
    assert "You cannot open this page" in page
    assert f"Your account ({marketer.username}, Marketers) does not have the permission" in page
    assert f'class="button back-link" href="{came_from}"' in page


def test_the_way_back_never_leads_to_another_site(client, marketer):
    client.force_login(marketer)
    response = client.get("/admin/auth/user/", headers={"Referer": "https://evil.example/"})
    assert response.status_code == 403
    assert 'class="button back-link" href="/admin/"' in response.content.decode()


@pytest.mark.parametrize("url", ["/api/docs/", "/api/schema/", "/api/redoc/"])
def test_the_api_documentation_is_refused_to_a_marketer(client, marketer, url):
    client.force_login(marketer)
    response = client.get(url)
    assert response.status_code == 403
    page = response.content.decode()
    assert "The API documentation is for API credentials and administrators." in page
    assert 'class="button back-link"' in page


@pytest.mark.parametrize("url", ["/api/docs/", "/api/schema/", "/api/redoc/"])
def test_the_api_documentation_is_open_to_an_administrator(client, administrator, url):
    client.force_login(administrator)
    assert client.get(url).status_code == 200


def test_the_schema_is_open_to_api_credentials_and_closed_to_strangers(client, credentials):
    assert client.get("/api/schema/").status_code in (401, 403)
    headers = {"Authorization": f"Bearer {credentials.token}", "X-Api-Key": credentials.integration.client_id}
    assert client.get("/api/schema/", headers=headers).status_code == 200
