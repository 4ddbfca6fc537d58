from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    """The delivery engine: turns stored events into sent messages (processing, channels,
    attempts, feedback) and keeps the local outbox of development."""

    name = "delivery"
    verbose_name = _("Delivery")

    def ready(self):
        from typologies.conditions import message_engagement_register

        from . import signals  # noqa: F401 - connects the anymail tracking receiver
        from .selectors import engagement_message_problem, engagement_profile_q
        from .typology import address_filters_register

        address_filters_register()
        message_engagement_register(q=engagement_profile_q, problem=engagement_message_problem)
