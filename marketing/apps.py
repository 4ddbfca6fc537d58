from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    """Marketing deliveries: one content to an audience of profiles, prepared through a typology,
    confirmed, then sent on the bulk queue behind transactional traffic."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "marketing"
    verbose_name = _("Marketing")

    def ready(self):
        # Entry-point imports: the signal lives in messages_app (below), the receiver in our services.
        from messages_app.signals import configuration_published

        from .services import follow_up_on_publish

        configuration_published.connect(follow_up_on_publish, dispatch_uid="marketing.follow_up_on_publish")
