from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils.translation import gettext

from audit.models import AuditAction
from audit.services import audit_record
from campaign.exceptions import ApplicationError

from .models import ROOT_NAME, Membership, Unit


def _path_set(unit: Unit) -> None:
    parent_path = unit.parent.path if unit.parent_id else "/"
    unit.path = f"{parent_path}{unit.pk}/"
    unit.save(update_fields=["path"])


@transaction.atomic
def unit_root_ensure() -> Unit:
    """The root unit "All", created when missing."""
    root = Unit.objects.filter(parent__isnull=True).order_by("pk").first()
    if root is None:
        root = Unit.objects.create(name=ROOT_NAME)
        _path_set(root)
    return root


def unit_root_ensure_after_migrate(sender=None, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate handler: the data migration creates the root, a flush removes it."""
    if not Unit.objects.using(using).filter(parent__isnull=True).exists():
        root = Unit.objects.using(using).create(name=ROOT_NAME)
        root.path = f"/{root.pk}/"
        root.save(using=using, update_fields=["path"])


@transaction.atomic
def unit_create(*, name: str, parent: Unit) -> Unit:
    """A new unit below `parent`. Units never move: their paths never change."""
    name = name.strip()
    if not name:
        raise ApplicationError(gettext("The name is required."), code="unit_name_required")
    if parent is None or parent.pk is None:
        raise ApplicationError(gettext("Choose the parent unit."), code="unit_parent_required")
    if Unit.objects.filter(parent=parent, name=name).exists():
        raise ApplicationError(
            gettext("%(parent)s already has a unit named %(name)s.") % {"parent": parent.name, "name": name},
            code="unit_name_taken",
        )
    unit = Unit.objects.create(name=name, parent=parent)
    _path_set(unit)
    audit_record(action=AuditAction.UNIT_CREATED, obj=unit, after={"name": unit.name, "parent": parent.name})
    return unit


@transaction.atomic
def unit_rename(*, unit: Unit, name: str) -> Unit:
    name = name.strip()
    if not name:
        raise ApplicationError(gettext("The name is required."), code="unit_name_required")
    if Unit.objects.filter(parent=unit.parent, name=name).exclude(pk=unit.pk).exists():
        raise ApplicationError(gettext("A unit of that name already exists here."), code="unit_name_taken")
    before = unit.name
    unit.name = name
    unit.save(update_fields=["name"])
    if before != name:
        audit_record(action=AuditAction.UNIT_RENAMED, obj=unit, before={"name": before}, after={"name": name})
    return unit


def unit_get_or_create(*, name: str, parent: Unit) -> Unit:
    existing = Unit.objects.filter(parent=parent, name=name).first()
    return existing or unit_create(name=name, parent=parent)


@transaction.atomic
def membership_set(*, user, unit: Unit) -> Membership:
    """Put `user` in `unit` (one unit per user)."""
    before = Membership.objects.filter(user=user).select_related("unit").first()
    membership, _ = Membership.objects.update_or_create(user=user, defaults={"unit": unit})
    user.__dict__.pop("_organisations_unit", None)
    if before is None or before.unit_id != unit.pk:
        audit_record(
            action=AuditAction.USER_UNIT_CHANGED,
            obj=user,
            before={"unit": before.unit.name} if before else None,
            after={"unit": unit.name},
        )
    return membership
