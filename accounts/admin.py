from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from campaign.exceptions import ApplicationError
from organisations.admin import MembershipInline, UnitScopedUserAdminMixin

from .services import (
    user_create,
    user_deactivate,
    user_groups_set,
    user_password_set,
    user_totp_remove,
    user_update,
)

User = get_user_model()


class PasswordChangeForm(AdminPasswordChangeForm):
    """The admin's "change password" page, writing through the service (policy checked, audited)."""

    def save(self, commit=True):
        usable = self.cleaned_data.get("set_usable_password", True)
        user_password_set(user=self.user, password=self.cleaned_data["password1"] if usable else None)
        return self.user


class UserAdmin(UnitScopedUserAdminMixin, DjangoUserAdmin):
    """Users are created, changed, given roles and deactivated through the accounts services (each
    audited), within the editor's unit and below (with their unit, inline). Roles are the groups;
    per-user permissions are not used."""

    inlines = [MembershipInline]
    change_password_form = PasswordChangeForm
    list_display = ["username", "email", "first_name", "last_name", "is_active", "is_staff", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups"]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Roles"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ["last_login", "date_joined"]
    actions = ["deactivate_selected", "two_factor_remove_selected"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Only a superuser makes superusers.
            fields.append("is_superuser")
        return fields

    def has_delete_permission(self, request, obj=None):
        # Users are deactivated, not deleted: the audit log and the objects they changed keep naming them.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            editable = [name for name in form.changed_data if name not in ("password", "groups")]
            user_update(user=obj, **{name: getattr(obj, name) for name in editable})
            return
        usable = form.cleaned_data.get("set_usable_password", True)
        created = user_create(
            username=obj.username,
            password=form.cleaned_data.get("password1") if usable else None,
            email=obj.email,
            first_name=obj.first_name,
            last_name=obj.last_name,
            is_staff=obj.is_staff if "is_staff" in form.fields else True,
        )
        obj.pk = created.pk
        obj.__dict__.update(created.__dict__)

    def save_related(self, request, form, formsets, change):
        if "groups" in form.changed_data:
            user_groups_set(user=form.instance, groups=form.cleaned_data["groups"])
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description=_("Deactivate selected users"), permissions=["change"])
    def deactivate_selected(self, request, queryset):
        for user in queryset.order_by("pk"):
            try:
                user_deactivate(user=user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.WARNING)
            else:
                self.message_user(request, _("%(user)s is deactivated.") % {"user": user})

    @admin.action(description=_("Remove the two-factor devices of selected users"), permissions=["change"])
    def two_factor_remove_selected(self, request, queryset):
        """For a user who lost the phone: the next login asks for the password only (and, when two-factor
        is required, for a new enrolment)."""
        for user in queryset.order_by("pk"):
            if user_totp_remove(user=user):
                self.message_user(request, _("%(user)s logs in without a code now.") % {"user": user})


admin.site.unregister(User)
admin.site.register(User, UserAdmin)
# Devices are enrolled by their user and removed by the action above (both audited); their admin
# would show the secret keys.
admin.site.unregister(TOTPDevice)
