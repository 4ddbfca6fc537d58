"""Buttons on an admin change page that run one service on the object (publish, revoke, ...).

Each action is POST-only, checks the user's permission (the button is hidden without it),
calls the service and reports its domain error as an admin message.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from .exceptions import ApplicationError


class ReadOnlyAdmin(admin.ModelAdmin):
    """An append-only log or a record written by the system: shown, never added, edited or deleted
    from the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@dataclass(frozen=True)
class ObjectAction:
    name: str
    label: str
    permission: str
    run: Callable[[Any, Any], str]  # (obj, user) -> success message
    available: Callable[[Any], bool] = lambda obj: True
    confirm: str = ""


class ObjectActionsMixin:
    change_form_template = "admin/object_actions_change_form.html"
    object_actions: tuple[ObjectAction, ...] = ()

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        extra = [
            path(
                "<path:object_id>/action/<str:action>/",
                self.admin_site.admin_view(self.object_action_view),
                name="{}_{}_object_action".format(*info),
            )
        ]
        return extra + super().get_urls()

    def object_writable(self, request, obj) -> bool:
        """Whether the user may act on this object (organisational units narrow it)."""
        return True

    def allowed_object_actions(self, request, obj) -> list[ObjectAction]:
        if obj is None or not self.object_writable(request, obj):
            return []
        return [a for a in self.object_actions if request.user.has_perm(a.permission) and a.available(obj)]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        info = self.opts.app_label, self.opts.model_name
        extra_context = {
            **(extra_context or {}),
            "object_actions": [
                {
                    "label": action.label,
                    "confirm": action.confirm,
                    "url": reverse(
                        "admin:{}_{}_object_action".format(*info),
                        args=[obj.pk, action.name],
                        current_app=self.admin_site.name,
                    ),
                }
                for action in self.allowed_object_actions(request, obj)
            ]
            if obj is not None
            else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def object_action_view(self, request, object_id, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        chosen = next((a for a in self.object_actions if a.name == action), None)
        if (
            chosen is None
            or not request.user.has_perm(chosen.permission)
            or not self.object_writable(request, obj)
        ):
            raise PermissionDenied
        try:
            self.message_user(request, chosen.run(obj, request.user), messages.SUCCESS)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        info = self.opts.app_label, self.opts.model_name
        return HttpResponseRedirect(
            reverse("admin:{}_{}_change".format(*info), args=[obj.pk], current_app=self.admin_site.name)
        )
