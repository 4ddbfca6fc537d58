"""The whole matrix: role x where the object lives (seen from a user of Brand A) x action, in the
admin and the API. An object of a unit the user does not see answers 404 (it does not exist for
it); one it reads but does not write (a unit above its own) opens read-only and refuses (403)
every change."""

import pytest
from rest_framework.test import APIClient

from campaign.roles import ADMINISTRATORS, MARKETERS
from events.models import Event, EventConfiguration
from integrations.services import integration_create
from messages_app.models import TransactionalMessage
from tests.conftest import trigger_path
from tests.messages_app.test_message_admin import form_data
from tests.organisations.conftest import RELATIONS, draft_in, published_in, user_in

pytestmark = pytest.mark.django_db

BODY_CART = {
    "email": "jane@example.com",
    "ctx": {"firstName": "Jane", "cartAmount": "$ 1", "lastProduct": "Hat"},
}

SEEN = {"same": True, "ancestor": True, "descendant": True, "sibling": False}
WRITTEN = {"same": True, "ancestor": False, "descendant": True, "sibling": False}
MESSAGES = "/admin/messages_app/transactionalmessage/"
CONFIGURATIONS = "/admin/events/eventconfiguration/"


def expected_write(relation: str) -> int:
    """Done (a redirect), forbidden (403) or not found (404)."""
    if WRITTEN[relation]:
        return 302
    return 403 if SEEN[relation] else 404


@pytest.fixture
def world(tree, unit_of):
    """A published message (and a Draft configuration) in every unit around Brand A."""
    return {
        relation: {
            "config": published_in(unit_of[relation], f"EVT{relation}"),
            "draft": draft_in(unit_of[relation], f"EVTdraft{relation}"),
        }
        for relation in RELATIONS
    }


@pytest.fixture(params=[MARKETERS, ADMINISTRATORS])
def role(request):
    return request.param


@pytest.fixture
def logged_in(client, tree, role):
    client.force_login(user_in(tree["brand_a"], role))
    return client


@pytest.mark.parametrize("relation", RELATIONS)
def test_list_and_search(logged_in, world, role, relation):
    message = world[relation]["config"].message
    listed = logged_in.get(MESSAGES).content.decode()
    searched = logged_in.get(MESSAGES, {"q": message.message_id}).content.decode()
    link = f"{MESSAGES}{message.pk}/change/"
    assert (link in listed) is SEEN[relation]
    assert (link in searched) is SEEN[relation]
    assert ("0 results" in searched) is not SEEN[relation]
    if role == ADMINISTRATORS:
        config = world[relation]["config"]
        configs = logged_in.get(CONFIGURATIONS, {"q": config.event_id}).content.decode()
        assert (f"{CONFIGURATIONS}{config.pk}/change/" in configs) is SEEN[relation]


@pytest.mark.parametrize("relation", RELATIONS)
def test_view(logged_in, world, role, relation):
    message = world[relation]["config"].message
    response = logged_in.get(f"{MESSAGES}{message.pk}/change/")
    assert response.status_code == (200 if SEEN[relation] else 404)
    if SEEN[relation]:
        page = response.content.decode()
        # Read-only above Brand A: no save button, no action button.
        assert ('name="_save"' in page) is WRITTEN[relation]
        assert (">Pause</button>" in page) is WRITTEN[relation]
        assert "{{ ctx.firstName }}" in page  # the field picker of a message it sees
    preview = logged_in.get(f"{MESSAGES}{message.pk}/preview/")
    assert preview.status_code == (200 if SEEN[relation] else 404)


@pytest.mark.parametrize("relation", RELATIONS)
def test_change(logged_in, world, role, relation):
    message = world[relation]["config"].message
    response = logged_in.post(f"{MESSAGES}{message.pk}/change/", form_data(message, label="Renamed"))
    assert response.status_code == expected_write(relation)
    renamed = TransactionalMessage.objects.get(pk=message.pk).label == "Renamed"
    assert renamed is WRITTEN[relation]


@pytest.mark.parametrize("relation", RELATIONS)
def test_publish(logged_in, world, role, relation):
    message = world[relation]["config"].message
    before = message.versions.count()
    response = logged_in.post(f"{MESSAGES}{message.pk}/action/publish/")
    assert response.status_code == expected_write(relation)
    assert (message.versions.count() == before + 1) is WRITTEN[relation]
    rollback = logged_in.post(f"{MESSAGES}{message.pk}/versions/1/rollback/")
    assert rollback.status_code == expected_write(relation)


@pytest.mark.parametrize("relation", RELATIONS)
def test_delete(logged_in, world, role, relation):
    draft = world[relation]["draft"]
    response = logged_in.post(f"{CONFIGURATIONS}{draft.pk}/delete/", {"post": "yes"})
    if role == MARKETERS:
        # No role to delete configurations: forbidden wherever they live.
        assert response.status_code == 403
    else:
        assert response.status_code == expected_write(relation)
    deleted = not EventConfiguration.objects.filter(pk=draft.pk).exists()
    assert deleted is (role == ADMINISTRATORS and WRITTEN[relation])


@pytest.mark.parametrize("relation", RELATIONS)
def test_bulk_publish_refuses_a_selection_it_does_not_write(client, tree, world, relation):
    client.force_login(user_in(tree["brand_a"], ADMINISTRATORS))
    draft = world[relation]["draft"]
    response = client.post(
        CONFIGURATIONS, {"action": "publish_selected", "_selected_action": [draft.pk], "index": 0}
    )
    published = EventConfiguration.objects.get(pk=draft.pk).status == "published"
    if WRITTEN[relation]:
        assert response.status_code == 302
    elif SEEN[relation]:
        assert response.status_code == 403 and not published
    else:
        # Not in the list: nothing selected, nothing done.
        assert not published


# --- The API: credentials of Brand A ------------------------------------------------


@pytest.mark.parametrize("relation", RELATIONS)
def test_trigger_via_the_api(tree, world, relation):
    issued = integration_create(name="Brand A website", unit=tree["brand_a"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}", HTTP_X_API_KEY=issued.integration.client_id)
    response = api.post(trigger_path(f"EVT{relation}"), BODY_CART, format="json")
    unknown = api.post(trigger_path("EVTunknown"), BODY_CART, format="json")
    batch = api.post(f"{trigger_path(f'EVT{relation}')}/batch", {"events": [BODY_CART]}, format="json")
    assert batch.status_code == (200 if WRITTEN[relation] else 404), batch.content
    if WRITTEN[relation]:
        assert response.status_code == 202
        pkey = response.json()["PKey"]
        assert api.get(f"{trigger_path(f'EVT{relation}')}/{pkey}").status_code == 200
    else:
        # Exactly as an unknown event, and nothing stored.
        assert response.status_code == unknown.status_code == 404
        assert response.json()["code"] == unknown.json()["code"] == "event_not_found"
        assert not Event.objects.filter(configuration__event_id=f"EVT{relation}").exists()


@pytest.mark.parametrize("relation", RELATIONS)
def test_the_status_of_an_event_of_another_unit_is_not_found(tree, world, relation):
    root_api = APIClient()
    root = integration_create(name="Root website")
    root_api.credentials(HTTP_AUTHORIZATION=f"Bearer {root.token}", HTTP_X_API_KEY=root.integration.client_id)
    pkey = root_api.post(trigger_path(f"EVT{relation}"), BODY_CART, format="json").json()["PKey"]
    brand_a = integration_create(name="Brand A website", unit=tree["brand_a"])
    api = APIClient()
    api.credentials(
        HTTP_AUTHORIZATION=f"Bearer {brand_a.token}", HTTP_X_API_KEY=brand_a.integration.client_id
    )
    response = api.get(f"{trigger_path(f'EVT{relation}')}/{pkey}")
    assert response.status_code == (200 if WRITTEN[relation] else 404)
