from base64 import b32encode

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.views import PasswordChangeView
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_otp import devices_for_user
from django_otp import login as otp_login

from campaign.exceptions import ApplicationError

from .forms import OwnPasswordChangeForm, TokenForm
from .selectors import user_has_two_factor, user_is_administrator, user_needs_two_factor_enrolment
from .services import user_totp_confirm, user_totp_device, user_totp_remove


def _qr_svg(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


@staff_member_required
@require_http_methods(["GET", "POST"])
def two_factor_view(request):
    """Enrol an authenticator app (QR code, then a code of it), or remove it."""
    user = request.user
    context = {**admin.site.each_context(request), "title": _("Two-factor authentication")}
    if user_has_two_factor(user=user):
        if not user.is_verified():
            # The password alone never turns the second factor off.
            query = urlencode({"next": reverse("accounts:two_factor")})
            return redirect(f"{reverse('accounts:two_factor_verify')}?{query}")
        if request.method == "POST" and request.POST.get("action") == "remove":
            if _required(user):
                messages.error(request, _("Two-factor authentication is required for administrators."))
            else:
                user_totp_remove(user=user)
                messages.success(
                    request, _("Two-factor authentication is off: you log in with your password.")
                )
            return redirect("accounts:two_factor")
        return TemplateResponse(request, "accounts/two_factor.html", {**context, "enrolled": True})
    device = user_totp_device(user=user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user_totp_confirm(device=device, token=form.cleaned_data["token"])
        except ApplicationError as exc:
            form.add_error("token", exc.message)
        else:
            device.refresh_from_db()
            otp_login(request, device)
            messages.success(
                request, _("Two-factor authentication is on: you will give a code at each login.")
            )
            return redirect("admin:index")
    return TemplateResponse(
        request,
        "accounts/two_factor.html",
        {
            **context,
            "enrolled": False,
            "form": form,
            "qr_svg": mark_safe(_qr_svg(device.config_url)),  # noqa: S308 - SVG made by qrcode from our URL
            "secret": _base32(device),
            "required": user_needs_two_factor_enrolment(user=user),
        },
    )


def _required(user) -> bool:
    return settings.TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS and user_is_administrator(user=user)


def _base32(device) -> str:
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@require_http_methods(["GET", "POST"])
def two_factor_verify_view(request):
    """The second step of the login, for users who enrolled an authenticator."""
    user = request.user
    if not user.is_authenticated:
        return redirect("admin:login")
    next_url = request.POST.get("next") or request.GET.get("next") or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = reverse("admin:index")
    if user.is_verified() or not user_has_two_factor(user=user):
        return redirect(next_url)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"].strip().replace(" ", "")
        for device in devices_for_user(user, confirmed=True):
            allowed, _why = device.verify_is_allowed()
            if not allowed:
                form.add_error("token", _("Too many wrong codes: wait a moment, then try again."))
                break
            if device.verify_token(token):
                otp_login(request, device)
                return redirect(next_url)
        else:
            form.add_error("token", _("The code is not valid: type the 6 digits the app shows now."))
    context = {
        **admin.site.each_context(request),
        "title": _("Two-factor authentication"),
        "form": form,
        "next": next_url,
    }
    return TemplateResponse(request, "accounts/two_factor_verify.html", context)


def own_password_change_view(request):
    """The admin's "Change password" page, its form writing through `user_password_set` (audited)."""
    view = PasswordChangeView.as_view(
        form_class=OwnPasswordChangeForm,
        success_url=reverse("admin:password_change_done"),
        extra_context=admin.site.each_context(request),
    )
    request.current_app = admin.site.name
    return view(request)
