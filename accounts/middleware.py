from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from .selectors import user_has_two_factor, user_needs_two_factor_enrolment


class TwoFactorMiddleware:
    """After the password: a user who enrolled an authenticator gives its code before anything
    else, and an administrator required to use one enrols first."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.exempt = None

    def __call__(self, request):
        if self.exempt is None:
            self.exempt = (
                reverse("accounts:two_factor_verify"),
                reverse("accounts:two_factor"),
                reverse("admin:logout"),
                reverse("admin:login"),
                settings.STATIC_URL if settings.STATIC_URL.startswith("/") else f"/{settings.STATIC_URL}",
            )
        if settings.SESSION_COOKIE_NAME not in request.COOKIES or request.path.startswith(self.exempt):
            # No session, no login (the API's calls): nothing to look up.
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            if user_has_two_factor(user=user):
                if not user.is_verified():
                    query = urlencode({"next": request.get_full_path()})
                    return redirect(f"{reverse('accounts:two_factor_verify')}?{query}")
            elif user_needs_two_factor_enrolment(user=user):
                return redirect("accounts:two_factor")
        return self.get_response(request)
