from django.apps import AppConfig
from django.db.models.signals import post_migrate

from fastpath.rowcache import rowcache_connect


class CampaignConfig(AppConfig):
    name = "campaign"
    verbose_name = "Message Center"

    def ready(self) -> None:
        # Imported once the models are: roles reads the permissions of every app.
        from . import roles

        rowcache_connect()
        post_migrate.connect(roles.sync_role_permissions, dispatch_uid="campaign.sync_role_permissions")
