import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from campaign.exceptions import ApplicationError
from fastpath.rowcache import rowcache_get
from fastpath.rows import row_get

from .models import Integration

# What every trigger call reads of its credentials (the rest loads on access).
_AUTH_FIELDS = ("id", "token_hash", "all_events", "rate_limit", "callback_url")


@dataclass(frozen=True)
class IssuedCredentials:
    integration: Integration
    token: str  # shown once, never stored


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return secrets.token_urlsafe(32)


@transaction.atomic
def integration_create(*, name: str, user=None) -> IssuedCredentials:
    name = name.strip()
    if not name:
        raise ApplicationError("An integration needs a name.", code="name_required")
    token = _new_token()
    integration = Integration.objects.create(
        name=name,
        client_id=f"mc_{secrets.token_hex(12)}",
        token_hash=token_digest(token),
        token_hint=token[:6],
        created_by=user,
    )
    return IssuedCredentials(integration=integration, token=token)


@transaction.atomic
def integration_rotate_token(*, integration: Integration) -> IssuedCredentials:
    """Replace the secret token (the old one stops working at once) and reactivate."""
    token = _new_token()
    integration.token_hash = token_digest(token)
    integration.token_hint = token[:6]
    integration.revoked_at = None
    integration.save(update_fields=["token_hash", "token_hint", "revoked_at"])
    return IssuedCredentials(integration=integration, token=token)


def integration_revoke(*, integration: Integration) -> Integration:
    if integration.revoked_at is not None:
        raise ApplicationError(f"{integration} is already revoked.", code="already_revoked")
    integration.revoked_at = timezone.now()
    integration.save(update_fields=["revoked_at"])
    return integration


def _integration_row(client_id: str) -> tuple | None:
    integration = row_get(Integration, fields=_AUTH_FIELDS, client_id=client_id, revoked_at__isnull=True)
    if integration is None:
        return None
    allowed = (
        None if integration.all_events else frozenset(integration.allowed_events.values_list("pk", flat=True))
    )
    return tuple(getattr(integration, name) for name in _AUTH_FIELDS), allowed


def integration_authenticate(*, client_id: str, token: str) -> Integration | None:
    """The active integration these credentials belong to, or None, with what every trigger call
    reads loaded, and `allowed_configuration_ids` (None when it may use every event). Read from the
    process's row cache (fastpath/rowcache.py) when it holds them."""
    row = rowcache_get(("integration", client_id), lambda: _integration_row(client_id))
    if row is None:
        return None
    values, allowed = row
    integration = Integration.from_db(DEFAULT_DB_ALIAS, _AUTH_FIELDS, values)
    if not hmac.compare_digest(integration.token_hash, token_digest(token)):
        return None
    integration.allowed_configuration_ids = allowed
    return integration


def integration_callback_secret_rotate(*, integration: Integration) -> Integration:
    """A new HMAC secret for status callbacks; the receiver must switch to it."""
    integration.callback_secret = secrets.token_hex(32)
    integration.save(update_fields=["callback_secret"])
    return integration
