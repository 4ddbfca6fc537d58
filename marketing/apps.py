from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    """Marketing deliveries: one content to an audience of profiles, prepared through a typology,
    confirmed, then sent on the bulk queue behind transactional traffic."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "marketing"
    verbose_name = _("Marketing")
