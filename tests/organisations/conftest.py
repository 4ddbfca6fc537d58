import pytest

from events.models import EventConfiguration
from organisations.selectors import unit_root
from organisations.services import membership_set, unit_create
from tests.conftest import make_published_event
from tests.factories import EventConfigurationFactory, UserFactory

# Where the object lives, seen from a user of Brand A.
RELATIONS = ["same", "ancestor", "descendant", "sibling"]


@pytest.fixture
def tree(db):
    """All > Brand A > Brand A France, and All > Brand B."""
    root = unit_root()
    brand_a = unit_create(name="Brand A", parent=root)
    return {
        "root": root,
        "brand_a": brand_a,
        "brand_a_fr": unit_create(name="Brand A France", parent=brand_a),
        "brand_b": unit_create(name="Brand B", parent=root),
    }


@pytest.fixture
def unit_of(tree):
    """The unit of an object in `relation` to Brand A."""
    return {
        "same": tree["brand_a"],
        "ancestor": tree["root"],
        "descendant": tree["brand_a_fr"],
        "sibling": tree["brand_b"],
    }


def move(config: EventConfiguration, unit) -> EventConfiguration:
    EventConfiguration.objects.filter(pk=config.pk).update(unit=unit)
    config.refresh_from_db()
    return config


def published_in(unit, event_id: str) -> EventConfiguration:
    return move(make_published_event(event_id=event_id), unit)


def draft_in(unit, event_id: str) -> EventConfiguration:
    return move(EventConfigurationFactory(event_id=event_id), unit)


def user_in(unit, role: str, **kwargs):
    user = UserFactory(role=role, **kwargs)
    membership_set(user=user, unit=unit)
    return user
