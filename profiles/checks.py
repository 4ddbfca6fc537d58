"""System checks of the consent settings (shown by `manage.py check --deploy` and at start)."""

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def public_url_is_https(app_configs, **kwargs):
    """RFC 8058: mail providers only offer one-click unsubscribe for an https link."""
    if settings.CAMPAIGN_PUBLIC_URL.startswith("https://"):
        return []
    return [
        Warning(
            f"CAMPAIGN_PUBLIC_URL is {settings.CAMPAIGN_PUBLIC_URL!r}: the unsubscribe links of "
            "profile-based emails point there, and mail providers offer one-click unsubscribe only for "
            "an https URL.",
            hint="Set CAMPAIGN_PUBLIC_URL to the https address recipients reach this installation at.",
            id="profiles.W001",
        )
    ]
