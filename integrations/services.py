import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from audit.models import AuditAction
from audit.services import audit_changes, audit_record
from campaign.exceptions import ApplicationError
from organisations.models import Unit

from .models import Integration
from .selectors import token_digest


@dataclass(frozen=True)
class IssuedCredentials:
    integration: Integration
    token: str  # shown once, never stored


def _new_token() -> str:
    return secrets.token_urlsafe(32)


def _checked_token(token: str | None) -> str:
    """A new random token, or the one given (the demo seed's, derived from a secret it keeps)."""
    if token is None:
        return _new_token()
    if len(token) < 32:
        raise ApplicationError(gettext("A token needs at least 32 characters."), code="token_too_short")
    return token


@transaction.atomic
def integration_create(
    *,
    name: str,
    user: AbstractBaseUser | None = None,
    token: str | None = None,
    unit: Unit | None = None,
) -> IssuedCredentials:
    """New credentials of `unit` (by default the root, "All"): they trigger the events of that unit
    and of the units below it."""
    name = name.strip()
    if not name:
        raise ApplicationError(gettext("An integration needs a name."), code="name_required")
    token = _checked_token(token)
    integration = Integration.objects.create(
        name=name,
        client_id=f"mc_{secrets.token_hex(12)}",
        token_hash=token_digest(token),
        token_hint=token[:6],
        created_by=user,
        **({"unit": unit} if unit is not None else {}),
    )
    audit_record(
        action=AuditAction.INTEGRATION_CREATED,
        obj=integration,
        after={
            "name": integration.name,
            "client_id": integration.client_id,
            "token_hint": integration.token_hint,
        },
        user=user,
    )
    return IssuedCredentials(integration=integration, token=token)


@transaction.atomic
def integration_rotate_token(*, integration: Integration, token: str | None = None) -> IssuedCredentials:
    """Replace the secret token (the old one stops working at once) and reactivate."""
    token = _checked_token(token)
    integration.token_hash = token_digest(token)
    integration.token_hint = token[:6]
    integration.revoked_at = None
    integration.save(update_fields=["token_hash", "token_hint", "revoked_at"])
    audit_record(
        action=AuditAction.INTEGRATION_TOKEN_ROTATED,
        obj=integration,
        after={"token_hint": integration.token_hint},
    )
    return IssuedCredentials(integration=integration, token=token)


@transaction.atomic
def integration_revoke(*, integration: Integration) -> Integration:
    revoked_at = timezone.now()
    if not Integration.objects.filter(pk=integration.pk, revoked_at__isnull=True).update(
        revoked_at=revoked_at
    ):
        raise ApplicationError(
            gettext("{integration} is already revoked.").format(integration=integration),
            code="already_revoked",
        )
    integration.revoked_at = revoked_at
    audit_record(
        action=AuditAction.INTEGRATION_REVOKED,
        obj=integration,
        before={"revoked_at": None},
        after={"revoked_at": revoked_at},
    )
    return integration


@transaction.atomic
def integration_callback_secret_rotate(*, integration: Integration) -> Integration:
    """A new HMAC secret for status callbacks; the receiver must switch to it."""
    integration.callback_secret = secrets.token_hex(32)
    integration.save(update_fields=["callback_secret"])
    # That it changed, never the secret.
    audit_record(action=AuditAction.INTEGRATION_CALLBACK_SECRET_ROTATED, obj=integration)
    return integration


UPDATABLE_FIELDS = ("name", "unit", "all_events", "rate_limit", "callback_url")


@transaction.atomic
def integration_update(
    *, integration: Integration, allowed_events: Iterable | None = None, **changes
) -> Integration:
    """Change the name, the event scope, the rate limit or the callback URL of the credentials."""
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ApplicationError(f"Cannot change {', '.join(sorted(unknown))}.", code="not_editable")
    stored = Integration.objects.select_for_update().get(pk=integration.pk)
    before = {name: getattr(stored, name) for name in UPDATABLE_FIELDS}
    before["allowed_events"] = sorted(stored.allowed_events.values_list("event_id", flat=True))
    for name, value in changes.items():
        setattr(integration, name, value)
    if changes:
        integration.save(update_fields=list(changes))
    if allowed_events is not None:
        integration.allowed_events.set(allowed_events)
    after = {name: getattr(integration, name) for name in UPDATABLE_FIELDS}
    after["allowed_events"] = sorted(integration.allowed_events.values_list("event_id", flat=True))
    before, after = audit_changes(before=before, after=after)
    if after:
        audit_record(action=AuditAction.INTEGRATION_CHANGED, obj=integration, before=before, after=after)
    return integration
