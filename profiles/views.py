"""The unsubscribe link of profile-based messages (SPEC MSG-7): a page that works without login
or JavaScript, and the one-click POST of RFC 8058 that mail clients send.

The signed token in the URL is the only credential (there is no session to forge a request
with), so the views are exempt from CSRF: a mail client's POST has no CSRF token."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .models import Profile, Service, SubscriptionSource
from .selectors import profile_active_subscriptions, profile_by_id, profile_subscription, service_by_id
from .services import profile_unsubscribe, profile_unsubscribe_undo
from .unsubscribe import ONE_CLICK_BODY, PROOF_TOKEN, UnsubscribeTarget, unsubscribe_target

ALL_EMAIL = "all"


def _masked(email: str) -> str:
    """The address as the page shows it: enough for its owner to recognise, little for anyone
    the email was forwarded to."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}" if domain else ""


def _page(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    response = render(request, "profiles/unsubscribe.html", context, status=status)
    # The token is in the URL: keep it out of referrers and search engines.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _state(profile: Profile, token_service: Service | None) -> dict:
    """What the page offers: the services the profile receives (the link's own first), or
    leaving all email; and what it already left."""
    active = [subscription.service for subscription in profile_active_subscriptions(profile=profile)]
    active.sort(key=lambda service: service != token_service)
    left = None
    if token_service is not None and token_service not in active:
        subscription = profile_subscription(profile=profile, service=token_service)
        if subscription is not None and subscription.unsubscribed_at is not None:
            left = subscription
    return {
        "email": _masked(profile.email),
        "services": active,
        "selected": str(active[0].pk) if active and active[0] == token_service else ALL_EMAIL,
        "email_opted_out_at": profile.email_opted_out_at,
        "left": left,
        "all_email": ALL_EMAIL,
    }


def _chosen(profile: Profile, token_service: Service | None, choice: str) -> tuple[bool, Service | None]:
    """(valid, service) of the page's choice: a service the link or the profile's subscriptions
    name, or None for all email."""
    if choice == ALL_EMAIL:
        return True, None
    if token_service is not None and choice == str(token_service.pk):
        return True, token_service
    for subscription in profile_active_subscriptions(profile=profile):
        if choice == str(subscription.service_id):
            return True, subscription.service
    service = service_by_id(service_id=int(choice)) if choice.isdigit() else None
    if service is not None and profile_subscription(profile=profile, service=service) is not None:
        return True, service
    return False, None


def _language(profile: Profile) -> str:
    """The language of the page: the profile's own when the admin speaks it (fr-CA: fr), else
    LANGUAGE_CODE. A page for recipients, not for the admin's users (docs/translations.md)."""
    try:
        return translation.get_supported_language_variant(profile.language or "")
    except LookupError:
        return settings.LANGUAGE_CODE


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    if token == PROOF_TOKEN:
        return _page(request, {"proof": True})
    target = unsubscribe_target(token=token)
    profile = profile_by_id(profile_id=target.profile_id) if target is not None else None
    if profile is not None:
        with translation.override(_language(profile)):
            return _unsubscribe(request, profile, target)
    if request.method == "POST" and "action" not in request.POST:
        return HttpResponse(
            gettext("This unsubscribe link is not valid."), status=404, content_type="text/plain"
        )
    return _page(request, {"invalid": True}, status=404)


def _unsubscribe(request: HttpRequest, profile: Profile, target: UnsubscribeTarget) -> HttpResponse:
    token_service = service_by_id(service_id=target.service_id)
    if request.method != "POST":
        return _page(request, _state(profile, token_service))
    action = request.POST.get("action")
    if action is None:
        # RFC 8058: the mail client POSTs List-Unsubscribe=One-Click, and shows no page.
        if request.POST.get("List-Unsubscribe") != ONE_CLICK_BODY.partition("=")[2]:
            return HttpResponse(
                gettext("Expected the body List-Unsubscribe=One-Click."),
                status=400,
                content_type="text/plain",
            )
        profile_unsubscribe(profile=profile, service=token_service, source=SubscriptionSource.ONE_CLICK)
        return HttpResponse(gettext("You are unsubscribed."), content_type="text/plain")
    valid, service = _chosen(profile, token_service, request.POST.get("choice", ""))
    if action not in {"leave", "undo"} or not valid:
        context = _state(profile, token_service)
        context["error"] = gettext("Choose what to unsubscribe from.")
        return _page(request, context, status=400)
    if action == "leave":
        profile_unsubscribe(profile=profile, service=service, source=SubscriptionSource.UNSUBSCRIBE_PAGE)
    else:
        profile_unsubscribe_undo(profile=profile, service=service, source=SubscriptionSource.UNSUBSCRIBE_PAGE)
    profile.refresh_from_db()
    context = _state(profile, token_service)
    context.update(done=action, done_service=service, choice=str(service.pk) if service else ALL_EMAIL)
    return _page(request, context)
