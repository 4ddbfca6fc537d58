from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    """Stored profiles (SPEC PRF-1) for profile-based targeting and enrichment; its models
    arrive with the event-configuration enrichment work."""

    name = "profiles"
    verbose_name = "Profiles"
