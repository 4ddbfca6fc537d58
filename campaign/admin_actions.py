"""Buttons on an admin change page that run one service on the object (publish, revoke, ...).

Each action runs on POST only, checks the user's permission (the button is hidden without it),
calls the service and reports its domain error as an admin message. An action with a `confirm`
question is a link to a confirmation page (GET) whose form posts it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

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
    # The question of the confirmation page; empty: the button runs the action at once.
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

    def _object_action_url(self, obj, action: ObjectAction) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse(
            "admin:{}_{}_object_action".format(*info),
            args=[obj.pk, action.name],
            current_app=self.admin_site.name,
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "object_actions": [
                {
                    "name": action.name,
                    "label": action.label,
                    "confirm": bool(action.confirm),
                    "url": self._object_action_url(obj, action),
                }
                for action in self.allowed_object_actions(request, obj)
            ]
            if obj is not None
            else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def object_action_view(self, request, object_id, action):
        chosen = next((a for a in self.object_actions if a.name == action), None)
        if request.method != "POST" and not (request.method == "GET" and chosen and chosen.confirm):
            return HttpResponseNotAllowed(["POST"])
        obj = get_object_or_404(self.get_queryset(request), pk=object_id)
        if chosen is None or not request.user.has_perm(chosen.permission):
            raise PermissionDenied(_("Your role does not allow this action."))
        if not self.object_writable(request, obj):
            raise PermissionDenied(_("This belongs to a unit above yours: you may read it, not change it."))
        if request.method == "GET":
            return self._object_action_confirmation(request, obj, chosen)
        try:
            self.message_user(request, chosen.run(obj, request.user), messages.SUCCESS)
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(self._change_url(obj))

    def _change_url(self, obj) -> str:
        info = self.opts.app_label, self.opts.model_name
        return reverse("admin:{}_{}_change".format(*info), args=[obj.pk], current_app=self.admin_site.name)

    def _object_action_confirmation(self, request, obj, action: ObjectAction) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": _("%(action)s %(object)s?") % {"action": action.label, "object": obj},
            "question": action.confirm,
            "action": action,
            "action_url": self._object_action_url(obj, action),
            "change_url": self._change_url(obj),
            "available": action.available(obj),
        }
        return TemplateResponse(request, "admin/object_action_confirm.html", context)


class EventLogAdminMixin:
    """The admin of a log of an event's sending (delivery attempts, exclusions, provider feedback,
    status callbacks), which outlives the event: its PKey, a link to the event while it is there."""

    @admin.display(description=_lazy("event"), ordering="event_pkey")
    def event_label(self, obj):
        if obj.event_id is not None:
            url = reverse("admin:events_event_change", args=[obj.event_id])
            return format_html('<a href="{}">{}</a>', url, obj.event_pkey or obj.event_id)
        if obj.event_pkey:
            return _("{pkey} (event deleted)").format(pkey=obj.event_pkey)
        return "-"
