"""Pages of the project itself: the 403 page, drawn in the admin's style."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponseForbidden
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _


def _back_url(request: HttpRequest) -> str:
    """Where the refused user came from, when that is a page of this site; else the admin's home."""
    referer = request.META.get("HTTP_REFERER", "")
    if (
        referer
        and referer != request.build_absolute_uri()
        and url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return referer
    return reverse("admin:index")


def _reason(request: HttpRequest, exception: Exception | None) -> str:
    given = str(exception or "").strip()
    if given:
        return given
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return _("This page is for signed-in users of the admin.")
    roles = ", ".join(sorted(user.groups.values_list("name", flat=True)))
    if roles:
        return _(
            "Your account (%(username)s, %(roles)s) does not have the permission this page needs. "
            "Ask an administrator if you need it."
        ) % {"username": user.get_username(), "roles": roles}
    return _(
        "Your account (%(username)s) does not have the permission this page needs. "
        "Ask an administrator if you need it."
    ) % {"username": user.get_username()}


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponseForbidden:
    """handler403: the reason and a way back, in the admin's page (not a bare "403 Forbidden")."""
    context = {
        **admin.site.each_context(request),
        "title": _("You cannot open this page"),
        "reason": _reason(request, exception),
        "back_url": _back_url(request),
    }
    return HttpResponseForbidden(render_to_string("403.html", context, request=request))
