"""The unit rule in the admin: one mixin for every admin whose rows belong to a unit.

- lists, search, autocomplete, raw-id pickers and related filters show only the rows the user
  sees (organisations/selectors.py `visible_q`);
- an object it does not see answers 404 on every page (change, delete, history, extra pages),
  as an object that does not exist;
- an object it reads but does not write (a unit above its own) opens read-only: no save or
  delete button, no object action; posting anyway answers 403;
- bulk actions refuse (403) a selection holding a row it does not write, unless the action only
  reads (`permissions=["view"]`);
- the unit field offers the units it writes, its own first by default.
"""

from functools import wraps
from operator import attrgetter

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from .models import Unit
from .selectors import unit_writable_by, units_writable, user_unit, visible_q, writable_q


class UnitScopedAdminMixin:
    # The lookup from this admin's model to its unit ("unit", "configuration__unit", ...).
    unit_field = "unit"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(visible_q(user=request.user, field=self.unit_field))

    def object_unit(self, obj) -> Unit | None:
        try:
            return attrgetter(self.unit_field.replace("__", "."))(obj)
        except AttributeError:
            return None

    def object_writable(self, request, obj) -> bool:
        if obj is None or obj.pk is None:
            return True
        unit = self.object_unit(obj)
        return unit is not None and unit_writable_by(user=request.user, unit=unit)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self.object_writable(request, obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self.object_writable(request, obj)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects to the index with a notice; an object of another unit does not exist
        # for this user: 404, as for an unknown id.
        raise Http404(_("No such object."))

    def get_action(self, action):
        found = super().get_action(action)
        if found is None:
            return None
        func, name, description = found
        if getattr(func, "allowed_permissions", None) == ("view",):
            return found

        @wraps(func)
        def writable_only(modeladmin, request, queryset):
            if queryset.exclude(writable_q(user=request.user, field=self.unit_field)).exists():
                raise PermissionDenied
            return func(modeladmin, request, queryset)

        return writable_only, name, description

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "unit" and db_field.related_model is Unit:
            kwargs["queryset"] = units_writable(user=request.user)
            own = user_unit(user=request.user)
            kwargs.setdefault("initial", own.pk if own is not None else None)
            # Always a unit in the select; left out of a post, the object keeps its unit (a new
            # one takes its author's).
            kwargs.update(required=False, empty_label=None)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "unit" not in form.base_fields:
            return form
        own = user_unit(user=request.user)

        class UnitForm(form):
            def clean_unit(self):
                unit = self.cleaned_data.get("unit")
                if unit is None:
                    unit = self.instance.unit if self.instance.pk is not None else own
                return unit

        return UnitForm

    def save_form(self, request, form, change):
        obj = super().save_form(request, form, change)
        unit = form.cleaned_data.get("unit")
        if unit is not None:
            obj.unit = unit
        return obj


class UnitScopedInlineMixin:
    """An inline whose rows belong to a unit of their own (test profiles): it holds only the rows
    the user writes (no field or delete box it could not use; those of the units above are read
    elsewhere, e.g. in the preview), and refuses (403) a change to any other."""

    unit_field = "unit"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(writable_q(user=request.user, field=self.unit_field))

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        user = request.user

        class UnitScopedFormSet(formset):
            def clean(self):
                super().clean()
                for form in self.initial_forms:
                    instance = form.instance
                    if instance.pk is None or unit_writable_by(user=user, unit=instance.unit):
                        continue
                    if form.has_changed() or self._should_delete_form(form):
                        raise PermissionDenied

        return UnitScopedFormSet
