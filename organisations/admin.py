from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext_lazy as _

from campaign.exceptions import ApplicationError
from campaign.roles import ADMINISTRATORS_ALL_UNITS

from .models import Membership, Unit
from .selectors import (
    unit_writable_by,
    units_writable,
    user_sees_every_unit,
    user_unit,
    user_unit_forget,
    users_managed_q,
    visible_q,
)
from .services import membership_set, unit_create, unit_rename


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    """The tree of units: each administrator sees its unit, those above (read-only) and below."""

    list_display = ["__str__", "parent", "path"]
    search_fields = ["name"]
    fields = ["name", "parent"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(visible_q(user=request.user, field=""))

    def get_readonly_fields(self, request, obj=None):
        # A unit never moves: its path, cached with the rows that point to it, never changes.
        return ["parent"] if obj is not None else []

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            kwargs["queryset"] = units_writable(user=request.user)
            kwargs["required"] = True
            own = user_unit(user=request.user)
            kwargs.setdefault("initial", own.pk if own is not None else None)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or unit_writable_by(user=request.user, unit=obj))

    def has_delete_permission(self, request, obj=None):
        # Units hold configurations, credentials and users: they are renamed, never deleted.
        return False

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        from django.http import Http404

        raise Http404(_("No such object."))

    def save_model(self, request, obj, form, change):
        try:
            if change:
                unit_rename(unit=obj, name=obj.name)
            else:
                created = unit_create(name=obj.name, parent=obj.parent)
                obj.__dict__.update(created.__dict__)
        except ApplicationError as exc:
            raise PermissionDenied(exc.message) from exc


class MembershipInline(admin.StackedInline):
    """The unit of a user, on the user's admin page. Self-contained: attach it to any User
    admin (`inlines = [MembershipInline]`), with `UnitScopedUserAdminMixin` to scope the list."""

    model = Membership
    fields = ["unit"]
    min_num = 1
    max_num = 1
    can_delete = False
    verbose_name = _("organisational unit")
    verbose_name_plural = _("organisational unit")

    # The membership is part of the user: whoever may change users sets their unit.
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("auth.view_user") or request.user.has_perm("auth.change_user")

    def has_add_permission(self, request, obj=None):
        return request.user.has_perm("auth.change_user") or request.user.has_perm("auth.add_user")

    def has_change_permission(self, request, obj=None):
        return request.user.has_perm("auth.change_user")

    def has_delete_permission(self, request, obj=None):
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "unit":
            kwargs["queryset"] = units_writable(user=request.user)
            own = user_unit(user=request.user)
            kwargs.setdefault("initial", own.pk if own is not None else None)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)

        class MembershipFormSet(formset):
            def save(self, commit=True):
                # Through the service, one membership per user.
                saved = []
                for form in self.forms:
                    if (form.cleaned_data and form.has_changed()) or form.instance.pk is None:
                        unit = form.cleaned_data.get("unit")
                        if unit is not None:
                            saved.append(membership_set(user=self.instance, unit=unit))
                            user_unit_forget(user=self.instance)
                self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
                return saved

        return formset


class UnitScopedUserAdminMixin:
    """A User admin that lists and edits only the users of the editor's unit and below, and does
    not let an administrator of one unit raise anyone (itself included) above it."""

    def get_queryset(self, request):
        return super().get_queryset(request).filter(users_managed_q(user=request.user))

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += [name for name in ("is_superuser", "user_permissions") if name not in readonly]
        return readonly

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not user_sees_every_unit(user=request.user):
            kwargs["queryset"] = db_field.related_model.objects.exclude(name=ADMINISTRATORS_ALL_UNITS)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        from django.http import Http404

        raise Http404(_("No such object."))
