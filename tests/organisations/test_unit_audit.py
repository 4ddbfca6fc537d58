"""Unit changes are audited: a unit created or renamed, a user moved to another unit."""

import pytest

from audit.models import AuditAction, AuditEntry
from organisations.models import Unit
from organisations.selectors import unit_root
from organisations.services import membership_set, unit_create, unit_rename
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_unit_changes_write_one_entry_each(administrator):
    brand = unit_create(name="Brand C", parent=unit_root())
    unit_rename(unit=brand, name="Brand C (France)")
    user = UserFactory()
    membership_set(user=user, unit=brand)
    membership_set(user=user, unit=brand)  # no change, no entry
    entries = list(AuditEntry.objects.order_by("pk").filter(action__startswith="u"))
    assert [(e.action, e.changes) for e in entries if e.action != AuditAction.USER_CREATED] == [
        (AuditAction.UNIT_CREATED, {"after": {"name": "Brand C", "parent": "All"}}),
        (AuditAction.UNIT_RENAMED, {"before": {"name": "Brand C"}, "after": {"name": "Brand C (France)"}}),
        (AuditAction.USER_UNIT_CHANGED, {"after": {"unit": "Brand C (France)"}}),
    ]
    assert Unit.objects.get(pk=brand.pk).name == "Brand C (France)"
