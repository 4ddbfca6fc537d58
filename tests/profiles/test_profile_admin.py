import pytest

from profiles.models import Profile

pytestmark = pytest.mark.django_db


def test_an_administrator_adds_and_finds_a_profile(client, administrator):
    client.force_login(administrator)
    response = client.post(
        "/admin/profiles/profile/add/",
        {
            "email": "jane@example.com",
            "mobile_phone": "+33612345678",
            "external_id": "C42",
            "first_name": "Jane",
            "last_name": "Doe",
            "language": "fr",
            "attributes": '{"tier": "gold"}',
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Profile.objects.get().attributes == {"tier": "gold"}
    listing = client.get("/admin/profiles/profile/?q=C42").content.decode()
    assert "Jane Doe &lt;jane@example.com&gt;" in listing


def test_a_marketer_cannot_open_profiles(client, marketer):
    client.force_login(marketer)
    assert client.get("/admin/profiles/profile/").status_code == 403
