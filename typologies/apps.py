from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TypologiesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "typologies"
    verbose_name = _("Typologies")
