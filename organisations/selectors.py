"""Who reads and who writes what, by organisational unit (SPEC ROLE-2).

A user reads the objects of its unit and of its ancestors, and writes the objects of its unit
and of its descendants; it sees both (a unit's administrator manages the units below it). A
superuser, a member of "Administrators (all units)" and, by the rule itself, a member of the
root unit see and write everything. A user without a membership belongs to the root.

Each rule is a `Q` on a lookup to the object's unit (`field`: "unit", "configuration__unit",
...): readable is `unit IN (the user's path)`, writable `unit.path LIKE '<user's path>%'`, each
one index lookup whatever the number of units or objects.
"""

from django.db.models import Q, QuerySet

from campaign.roles import ADMINISTRATORS_ALL_UNITS

from .models import Membership, Unit

NOTHING = Q(pk__in=[])
_UNIT_CACHE = "_organisations_unit"
_ALL_CACHE = "_organisations_all_units"


def unit_root() -> Unit | None:
    return Unit.objects.filter(parent__isnull=True).order_by("pk").first()


def unit_get(*, pk: int) -> Unit | None:
    return Unit.objects.filter(pk=pk).first()


def user_unit(*, user) -> Unit | None:
    """The unit `user` belongs to (the root without a membership); None for anonymous users.
    Read once per user object (a request's user)."""
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return None
    if not hasattr(user, _UNIT_CACHE):
        membership = Membership.objects.select_related("unit").filter(user_id=user.pk).first()
        setattr(user, _UNIT_CACHE, membership.unit if membership is not None else unit_root())
    return getattr(user, _UNIT_CACHE)


def user_sees_every_unit(*, user) -> bool:
    """Superusers and "Administrators (all units)" read and write every unit's objects."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if not hasattr(user, _ALL_CACHE):
        setattr(user, _ALL_CACHE, user.groups.filter(name=ADMINISTRATORS_ALL_UNITS).exists())
    return getattr(user, _ALL_CACHE)


def user_unit_forget(*, user) -> None:
    """Drop what `user_unit` and `user_sees_every_unit` remembered (after a membership change)."""
    for name in (_UNIT_CACHE, _ALL_CACHE):
        user.__dict__.pop(name, None)


def _prefix(field: str) -> str:
    return f"{field}__" if field else ""


def readable_q(*, user, field: str = "unit") -> Q:
    """Objects of the user's unit and of its ancestors."""
    if user_sees_every_unit(user=user):
        return Q()
    unit = user_unit(user=user)
    if unit is None or not user.is_active:
        return NOTHING
    return Q(**{f"{field}__in" if field else "pk__in": unit.ancestor_ids})


def writable_q(*, user, field: str = "unit") -> Q:
    """Objects of the user's unit and of its descendants."""
    if user_sees_every_unit(user=user):
        return Q()
    unit = user_unit(user=user)
    if unit is None or not user.is_active:
        return NOTHING
    return Q(**{f"{_prefix(field)}path__startswith": unit.path})


def visible_q(*, user, field: str = "unit") -> Q:
    """What the user's lists show: what it reads plus what it writes."""
    return readable_q(user=user, field=field) | writable_q(user=user, field=field)


def unit_readable_by(*, user, unit: Unit) -> bool:
    if user_sees_every_unit(user=user):
        return True
    own = user_unit(user=user)
    return own is not None and user.is_active and own.is_within(unit)


def unit_writable_by(*, user, unit: Unit) -> bool:
    if user_sees_every_unit(user=user):
        return True
    own = user_unit(user=user)
    return own is not None and user.is_active and unit.is_within(own)


def unit_visible_by(*, user, unit: Unit) -> bool:
    return unit_readable_by(user=user, unit=unit) or unit_writable_by(user=user, unit=unit)


def units_writable(*, user) -> QuerySet[Unit]:
    """The units `user` may put an object (or a user) in: its own and those below it."""
    return Unit.objects.filter(writable_q(user=user, field=""))


def units_visible(*, user) -> QuerySet[Unit]:
    return Unit.objects.filter(visible_q(user=user, field=""))


def users_managed_q(*, user, field: str = "") -> Q:
    """The users `user` manages: those of its unit and of the units below it (a user without a
    membership belongs to the root)."""
    if user_sees_every_unit(user=user):
        return Q()
    unit = user_unit(user=user)
    if unit is None or not user.is_active:
        return NOTHING
    prefix = _prefix(field)
    managed = Q(**{f"{prefix}membership__unit__path__startswith": unit.path})
    if unit.parent_id is None:
        managed |= Q(**{f"{prefix}membership__isnull": True})
    return managed
