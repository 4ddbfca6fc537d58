import secrets
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from campaign.exceptions import ApplicationError

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
    *, name: str, user: AbstractBaseUser | None = None, token: str | None = None
) -> IssuedCredentials:
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
    return IssuedCredentials(integration=integration, token=token)


def integration_revoke(*, integration: Integration) -> Integration:
    if integration.revoked_at is not None:
        raise ApplicationError(
            gettext("{integration} is already revoked.").format(integration=integration),
            code="already_revoked",
        )
    integration.revoked_at = timezone.now()
    integration.save(update_fields=["revoked_at"])
    return integration


def integration_callback_secret_rotate(*, integration: Integration) -> Integration:
    """A new HMAC secret for status callbacks; the receiver must switch to it."""
    integration.callback_secret = secrets.token_hex(32)
    integration.save(update_fields=["callback_secret"])
    return integration
