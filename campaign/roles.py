"""The role groups and the model permissions each one holds.

The groups are created by a data migration; their permissions are kept in line with
this table after every `migrate` (permissions themselves only exist after migrate).
"""

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

ADMINISTRATORS = "Administrators"
MARKETERS = "Marketers"

# Marketers edit, preview, proof, publish and pause messages; unpublishing closes the event's
# endpoint, so it stays with the administrators.
MARKETER_PERMISSIONS = [
    "messages_app.view_transactionalmessage",
    "messages_app.change_transactionalmessage",
    "messages_app.publish_transactionalmessage",
    "messages_app.view_messageversion",
    "delivery.view_capturedemail",
    "messages_app.pause_transactionalmessage",
    "messages_app.send_proof_transactionalmessage",
    "messages_app.view_messagevariant",
    "messages_app.add_messagevariant",
    "messages_app.change_messagevariant",
    "messages_app.delete_messagevariant",
    "messages_app.view_testprofile",
    "messages_app.add_testprofile",
    "messages_app.change_testprofile",
    "messages_app.delete_testprofile",
    "messages_app.view_proofsend",
    "delivery.view_capturedmessage",
    "typologies.view_typology",
    "typologies.view_typologyrule",
    "marketing.view_marketingdelivery",
    "marketing.add_marketingdelivery",
    "marketing.change_marketingdelivery",
    "marketing.delete_marketingdelivery",
    "marketing.send_marketingdelivery",
]
# Administrators can do everything marketers can, plus event configurations, profiles, API
# credentials, users and the delivery logs.
ADMINISTRATOR_PERMISSIONS = [
    "auth.view_user",
    "auth.add_user",
    "auth.change_user",
    "auth.delete_user",
    "auth.view_group",
    "integrations.view_integration",
    "integrations.add_integration",
    "integrations.change_integration",
    "integrations.revoke_integration",
    "integrations.view_callbackattempt",
    "integrations.view_idempotencykey",
    "events.view_eventconfiguration",
    "events.add_eventconfiguration",
    "events.change_eventconfiguration",
    "events.delete_eventconfiguration",
    "events.publish_eventconfiguration",
    "events.view_eventfield",
    "events.add_eventfield",
    "events.change_eventfield",
    "events.delete_eventfield",
    "events.view_event",
    "events.view_eventcollection",
    "events.add_eventcollection",
    "events.change_eventcollection",
    "events.delete_eventcollection",
    "events.view_eventenrichment",
    "events.add_eventenrichment",
    "events.change_eventenrichment",
    "events.delete_eventenrichment",
    "events.view_publicationlog",
    "profiles.view_profile",
    "profiles.add_profile",
    "profiles.change_profile",
    "profiles.delete_profile",
    "profiles.view_service",
    "profiles.add_service",
    "profiles.change_service",
    "profiles.delete_service",
    "profiles.view_attributedefinition",
    "profiles.add_attributedefinition",
    "profiles.change_attributedefinition",
    "profiles.delete_attributedefinition",
    "profiles.view_subscription",
    "profiles.add_subscription",
    "profiles.change_subscription",
    "profiles.delete_subscription",
    "profiles.view_appsubscription",
    "profiles.add_appsubscription",
    "profiles.change_appsubscription",
    "profiles.delete_appsubscription",
    "messages_app.unpublish_transactionalmessage",
    "delivery.view_deliveryattempt",
    "delivery.view_exclusion",
    "delivery.view_trackingevent",
    "delivery.view_addressquarantine",
    "delivery.change_addressquarantine",
    "delivery.view_denylistentry",
    "delivery.add_denylistentry",
    "delivery.delete_denylistentry",
    "typologies.add_typology",
    "typologies.change_typology",
    "typologies.delete_typology",
    "typologies.add_typologyrule",
    "typologies.change_typologyrule",
    "typologies.delete_typologyrule",
    "typologies.view_contact",
    *MARKETER_PERMISSIONS,
]
ROLE_PERMISSIONS: dict[str, list[str]] = {
    ADMINISTRATORS: ADMINISTRATOR_PERMISSIONS,
    MARKETERS: MARKETER_PERMISSIONS,
}


def sync_role_permissions(sender=None, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs) -> None:
    """Give each role group exactly the permissions of ROLE_PERMISSIONS (post_migrate handler)."""
    # post_migrate is sent once per app, each creating its own permissions: act on the
    # last app's signal, when every permission exists.
    with_models = [config for config in global_apps.get_app_configs() if config.models_module is not None]
    if sender is not None and sender.label != with_models[-1].label:
        return
    try:
        group_model = apps.get_model("auth", "Group")
        permission_model = apps.get_model("auth", "Permission")
    except LookupError:
        return
    for group_name, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.using(using).get_or_create(name=group_name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(
                permission_model.objects.using(using).filter(
                    content_type__app_label=app_label, codename=codename
                )
            )
        group.permissions.set(wanted)
