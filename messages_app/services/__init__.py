"""Writes and state transitions of messages: authoring, versions, pause and test profiles
(messages.py), publication together with the event configuration (publication.py) and packages
(packages.py)."""

from .messages import (
    message_ensure_for_configuration,
    message_pause,
    message_preview,
    message_publish,
    message_resume,
    message_rollback,
    message_test_profile_delete,
    message_test_profile_errors,
    message_test_profile_save,
    message_tracking_set,
    message_update,
    message_validate,
    message_variants_set,
    message_warnings,
    message_withdraw,
)
from .packages import package_check, package_export, package_import
from .publication import (
    configuration_duplicate,
    configuration_publish,
    configuration_unpublish,
    message_unpublish,
)

__all__ = [
    "configuration_duplicate",
    "configuration_publish",
    "configuration_unpublish",
    "message_ensure_for_configuration",
    "message_pause",
    "message_preview",
    "message_publish",
    "message_resume",
    "message_rollback",
    "message_test_profile_delete",
    "message_test_profile_errors",
    "message_test_profile_save",
    "message_tracking_set",
    "message_unpublish",
    "message_update",
    "message_validate",
    "message_variants_set",
    "message_warnings",
    "message_withdraw",
    "package_check",
    "package_export",
    "package_import",
]
