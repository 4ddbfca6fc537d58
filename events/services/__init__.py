"""Writes and state transitions of events: configurations (configuration.py) and the trigger
path (trigger.py)."""

from .configuration import (
    event_config_create,
    event_config_delete,
    event_config_duplicate,
    event_config_publish,
    event_config_structure_set,
    event_config_unpublish,
    event_config_update,
    event_id_normalize,
)
from .trigger import event_trigger, events_trigger_batch

__all__ = [
    "event_config_create",
    "event_config_delete",
    "event_config_duplicate",
    "event_config_publish",
    "event_config_structure_set",
    "event_config_unpublish",
    "event_config_update",
    "event_id_normalize",
    "event_trigger",
    "events_trigger_batch",
]
