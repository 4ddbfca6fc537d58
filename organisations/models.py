"""Organisational units: a tree under the root "All" (e.g. brands or countries below it).

Each unit stores its materialised path, the primary keys from the root down to itself
("/1/4/"): its ancestors are the keys in its path, its descendants the units whose path starts
with it, each one index lookup. A unit never moves (its parent is fixed at creation), so a path
never changes and may be cached with the rows that point to it.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

ROOT_NAME = "All"


class Unit(models.Model):
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent unit"),
    )
    # "/<root pk>/.../<own pk>/"; set once, just after the insert (NULL, not "", in between, so
    # that two inserts never collide on the unique index).
    path = models.CharField(verbose_name=_("path"), max_length=255, unique=True, editable=False, null=True)  # noqa: DJ001

    class Meta:
        ordering = ["path"]
        verbose_name = _("organisational unit")
        verbose_name_plural = _("organisational units")
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="unit_name_unique_under_parent"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(parent__isnull=True), name="unit_one_root_name"
            ),
        ]

    def __str__(self) -> str:
        if self.parent_id is None:
            # Told apart from the "All" of the admin's filters.
            return _("%(name)s (top unit)") % {"name": self.name}
        return f"{'— ' * (self.depth - 1)}{self.name}"

    @property
    def depth(self) -> int:
        return len(self.ancestor_ids)

    @property
    def ancestor_ids(self) -> list[int]:
        """The keys from the root down to this unit, itself included."""
        return [int(part) for part in (self.path or "").strip("/").split("/") if part]

    def is_within(self, other: "Unit") -> bool:
        """True when this unit is `other` or one of its descendants."""
        return bool(self.path and other.path and self.path.startswith(other.path))


def unit_root_pk() -> int | None:
    """The default unit of rows created without one: the root ("All"), which the data migration
    creates and `unit_root_ensure_after_migrate` creates again after a flush."""
    return Unit.objects.filter(parent__isnull=True).order_by("pk").values_list("pk", flat=True).first()


class Membership(models.Model):
    """The one unit a user belongs to. A user without one belongs to the root."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership", verbose_name=_("user")
    )
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="memberships", verbose_name=_("organisational unit")
    )

    class Meta:
        verbose_name = _("organisational unit")
        verbose_name_plural = _("organisational unit")

    def __str__(self) -> str:
        return f"{self.user} in {self.unit.name}"
