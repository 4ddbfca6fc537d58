"""Reads of API credentials: the authentication of every trigger call."""

import hashlib
import hmac

from django.db import DEFAULT_DB_ALIAS

from fastpath.rowcache import rowcache_get
from fastpath.rows import row_get

from .models import Integration

# What every trigger call reads of its credentials (the rest loads on access).
_AUTH_FIELDS = ("id", "token_hash", "all_events", "rate_limit", "callback_url")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _integration_row(client_id: str) -> tuple | None:
    integration = row_get(Integration, fields=_AUTH_FIELDS, client_id=client_id, revoked_at__isnull=True)
    if integration is None:
        return None
    allowed = (
        None if integration.all_events else frozenset(integration.allowed_events.values_list("pk", flat=True))
    )
    # The path of its unit (never changes): it triggers the events of that unit and below.
    unit_path = Integration.objects.filter(pk=integration.pk).values_list("unit__path", flat=True).first()
    return tuple(getattr(integration, name) for name in _AUTH_FIELDS), allowed, unit_path


def integration_authenticate(*, client_id: str, token: str) -> Integration | None:
    """The active integration these credentials belong to, or None, with what every trigger call
    reads loaded, `allowed_configuration_ids` (None when it may use every event) and `unit_path`
    (the path of its organisational unit). Read from the
    process's row cache (fastpath/rowcache.py) when it holds them."""
    row = rowcache_get(("integration", client_id), lambda: _integration_row(client_id))
    if row is None:
        return None
    values, allowed, unit_path = row
    integration = Integration.from_db(DEFAULT_DB_ALIAS, _AUTH_FIELDS, values)
    if not hmac.compare_digest(integration.token_hash, token_digest(token)):
        return None
    integration.allowed_configuration_ids = allowed
    integration.unit_path = unit_path
    return integration
