"""Report reads on a read replica (DATABASE_REPLICA_URL): the rollup tables are read there; every
write, and the rollup job's reads, stay on the primary."""

from django.conf import settings

READ_ON_REPLICA = frozenset({"reports.HourlyRollup", "reports.DailyRollup", "reports.DomainRollup"})


class ReportsReplicaRouter:
    def db_for_read(self, model, **hints):
        if settings.REPORTS_READ_REPLICA and model._meta.label in READ_ON_REPLICA:
            return "replica"
        return None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        # The replica holds the primary's rows: objects of either are the same rows.
        return True
