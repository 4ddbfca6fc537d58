"""The one write path of the audit log."""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models, transaction

from .context import audit_context_current, audit_is_quiet
from .models import AuditAction, AuditEntry


class AuditOutsideTransaction(RuntimeError):
    """An entry must be written in the transaction of the change it records, never after it."""


def _label(value: object, limit: int) -> str:
    return str(value)[:limit]


def audit_record(
    *,
    action: AuditAction,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: object = "",
    object_label: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    diff: list[dict[str, Any]] | None = None,
    user: AbstractBaseUser | None = None,
) -> AuditEntry | None:
    """Record one change of `obj` (or of the object named by type, id and label) by the actor of
    the current audit context (`audit.context`); `user` names the actor where no context does (a
    service called from a shell or a test). `before`/`after` hold the changed fields' values,
    `diff` a content diff. Must run inside the change's transaction. Returns None inside
    `audit_quiet()`, where the enclosing service records the whole action."""
    if audit_is_quiet():
        return None
    if not transaction.get_connection().in_atomic_block:
        raise AuditOutsideTransaction(f"{action}: record the audit entry inside the change's transaction.")
    context = audit_context_current()
    actor = context.user
    if actor is None or not getattr(actor, "is_authenticated", False):
        actor = user if user is not None and user.is_authenticated else None
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
        object_label = object_label or str(obj)
    changes: dict[str, Any] = {}
    if before is not None:
        changes["before"] = before
    if after is not None:
        changes["after"] = after
    if diff is not None:
        changes["diff"] = diff
    return AuditEntry.objects.create(
        source=context.source,
        actor=actor,
        actor_integration_id=context.integration_id,
        actor_label=_label(
            actor.get_username() if actor is not None else context.integration_label or context.command, 200
        ),
        ip_network=context.ip_network,
        action=action,
        object_type=_label(object_type, 100),
        object_id=_label("" if object_id is None else object_id, 100),
        object_label=_label(object_label, 300),
        changes=changes,
    )


def audit_changes(*, before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    """The fields whose value differs, as (before, after) restricted to them."""
    names = [name for name in after if before.get(name) != after.get(name)]
    return {name: before.get(name) for name in names}, {name: after.get(name) for name in names}
