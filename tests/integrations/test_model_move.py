"""The move of the credentials' models from `campaign` to `integrations` keeps their rows, their
links to events and the permissions granted on them (run on a database that holds data)."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("campaign", "0004_rowcache_notify"), ("events", "0005_event_insert_defaults_fewer_indexes")]
AFTER_APPS = ("campaign", "events", "integrations")


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor.migrate(targets).apps


def latest():
    executor = MigrationExecutor(connection)
    return [key for key in executor.loader.graph.leaf_nodes() if key[0] in AFTER_APPS]


@pytest.fixture
def schema_restored():
    """Every app migrated to its latest again afterwards: going back unapplies the migrations of
    other apps that depend on the old ones, and going forward to the moved apps' latest applies
    only what those need, which would leave the next tests without the newer migrations of other
    apps."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("schema_restored")
def test_rows_links_and_permissions_survive_the_move(django_user_model):
    old = migrate([*BEFORE, ("integrations", None)])
    OldIntegration = old.get_model("campaign", "Integration")
    ContentType = old.get_model("contenttypes", "ContentType")
    user = django_user_model.objects.create(username="admin")
    integration = OldIntegration.objects.create(
        name="Shop", client_id="mc_shop", token_hash="h" * 64, token_hint="abc", created_by_id=user.pk
    )
    config = old.get_model("events", "EventConfiguration").objects.create(
        event_id="EVTmoved", label="Moved", channel="email", targeting="event"
    )
    integration.allowed_events.add(config)
    version = old.get_model("events", "EventConfigurationVersion").objects.create(
        configuration=config, number=1, structure={}, ctx_schema={}
    )
    event = old.get_model("events", "Event").objects.create(
        pkey="moved-1", configuration=config, configuration_version=version, integration_id=integration.pk
    )
    old.get_model("campaign", "CallbackAttempt").objects.create(
        integration=integration, event=event, event_status="processed", url="https://x.test/", result="failed"
    )
    old.get_model("campaign", "IdempotencyKey").objects.create(
        integration=integration, key="k1", request_hash="r" * 64, created_at="2026-12-01T00:00:00Z"
    )
    content_type, _ = ContentType.objects.get_or_create(app_label="campaign", model="integration")
    OldPermission = old.get_model("auth", "Permission")
    revoke, _ = OldPermission.objects.get_or_create(
        content_type=content_type, codename="revoke_integration", defaults={"name": "Can revoke"}
    )
    group = old.get_model("auth", "Group").objects.create(name="Integrators")
    group.permissions.add(revoke)

    new = migrate(latest())

    Integration = new.get_model("integrations", "Integration")
    moved = Integration.objects.get(client_id="mc_shop")
    assert moved.pk == integration.pk and moved.created_by_id == user.pk
    assert list(moved.allowed_events.values_list("event_id", flat=True)) == ["EVTmoved"]
    assert new.get_model("events", "Event").objects.get(pkey="moved-1").integration_id == moved.pk
    assert new.get_model("integrations", "CallbackAttempt").objects.get().integration_id == moved.pk
    assert new.get_model("integrations", "IdempotencyKey").objects.get().key == "k1"
    assert Group.objects.get(name="Integrators").permissions.get() == Permission.objects.get(
        content_type__app_label="integrations", codename="revoke_integration"
    )
