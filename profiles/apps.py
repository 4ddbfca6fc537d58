from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProfilesConfig(AppConfig):
    """Stored profiles (SPEC PRF-1) for profile-based targeting and enrichment."""

    name = "profiles"
    verbose_name = _("Profiles")

    def ready(self):
        from . import checks  # noqa: F401 - registers the system checks
