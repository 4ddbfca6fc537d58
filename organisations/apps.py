from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class OrganisationsConfig(AppConfig):
    name = "organisations"
    verbose_name = _("Organisational units")

    def ready(self) -> None:
        from .services import unit_root_ensure_after_migrate

        # A flush (transactional tests) empties the table: the root comes back after it too.
        post_migrate.connect(unit_root_ensure_after_migrate, sender=self, dispatch_uid="organisations.root")
