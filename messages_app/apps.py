from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MessagesAppConfig(AppConfig):
    name = "messages_app"
    # The section of the admin: its model is "Transactional messages" (no doubled breadcrumb).
    verbose_name = _("Messages")
