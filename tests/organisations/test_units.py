"""The tree of units and the rule of organisations/selectors.py."""

import pytest
from django.contrib.auth.models import Group

from campaign.exceptions import ApplicationError
from campaign.roles import ADMINISTRATORS, ADMINISTRATORS_ALL_UNITS, MARKETERS
from messages_app.models import TransactionalMessage
from messages_app.selectors import messages_editable_by, messages_visible_to
from organisations.models import Unit
from organisations.selectors import readable_q, unit_root, writable_q
from organisations.services import unit_create
from tests.factories import UserFactory
from tests.organisations.conftest import published_in, user_in

pytestmark = pytest.mark.django_db


def test_the_root_all_exists_after_migrate_and_every_existing_row_defaults_to_it(cart_event):
    root = unit_root()
    assert root.name == "All" and root.path == f"/{root.pk}/"
    assert cart_event.unit == root


def test_a_unit_path_lists_its_ancestors_and_prefixes_its_descendants(tree):
    fr = tree["brand_a_fr"]
    assert fr.path == f"/{tree['root'].pk}/{tree['brand_a'].pk}/{fr.pk}/"
    assert fr.ancestor_ids == [tree["root"].pk, tree["brand_a"].pk, fr.pk]
    assert fr.is_within(tree["brand_a"]) and not tree["brand_a"].is_within(fr)
    assert not tree["brand_b"].is_within(tree["brand_a"])


def test_a_unit_name_is_unique_under_its_parent(tree):
    with pytest.raises(ApplicationError, match="already has a unit named Brand A"):
        unit_create(name="Brand A", parent=tree["root"])
    assert unit_create(name="Brand A", parent=tree["brand_b"]).parent == tree["brand_b"]


def test_reads_go_up_and_writes_go_down(tree):
    user = user_in(tree["brand_a"], MARKETERS)
    readable = set(Unit.objects.filter(readable_q(user=user, field="")).values_list("name", flat=True))
    writable = set(Unit.objects.filter(writable_q(user=user, field="")).values_list("name", flat=True))
    assert readable == {"All", "Brand A"}
    assert writable == {"Brand A", "Brand A France"}


def test_messages_editable_by_is_the_unit_rule(tree):
    for name in ("root", "brand_a", "brand_a_fr", "brand_b"):
        published_in(tree[name], f"EVT{name.replace('_', '')}")
    marketer = user_in(tree["brand_a"], MARKETERS)
    editable = set(messages_editable_by(user=marketer).values_list("configuration__unit__name", flat=True))
    visible = set(messages_visible_to(user=marketer).values_list("configuration__unit__name", flat=True))
    assert editable == {"Brand A", "Brand A France"}
    assert visible == {"All", "Brand A", "Brand A France"}


@pytest.mark.parametrize("who", ["root member", "all-units administrator", "superuser"])
def test_the_top_administrators_see_and_edit_every_message(tree, who):
    for name in ("root", "brand_a", "brand_b"):
        published_in(tree[name], f"EVT{name.replace('_', '')}")
    if who == "root member":
        user = user_in(tree["root"], ADMINISTRATORS)
    elif who == "all-units administrator":
        user = user_in(tree["brand_b"], ADMINISTRATORS)
        user.groups.add(Group.objects.get(name=ADMINISTRATORS_ALL_UNITS))
    else:
        user = UserFactory(is_superuser=True)
    assert messages_editable_by(user=user).count() == TransactionalMessage.objects.count() == 3


def test_an_inactive_user_edits_nothing(tree):
    published_in(tree["brand_a"], "EVTa")
    user = user_in(tree["brand_a"], MARKETERS, is_active=False)
    assert not messages_editable_by(user=user).exists()
