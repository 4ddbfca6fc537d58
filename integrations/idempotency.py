"""Idempotency-Key (API-6): the first accepted answer to a request is kept, per credential, and
replayed byte for byte to retries of the same request.

The unique constraint on (integration, key) decides which of concurrent identical requests runs:
the row is inserted (in flight) in its own transaction before the work starts, so exactly one
request wins; the others see the row and answer 409 (still in flight) or replay it (done).
Only 2xx answers are kept: an error answer releases the key, so that a retry runs again.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from campaign.exceptions import ApplicationError

from .models import IdempotencyKey, Integration

MAX_KEY_LENGTH = 255
# An in-flight key older than this belongs to a request whose process died: it may be taken over.
IN_FLIGHT_TIMEOUT = timedelta(minutes=2)


class IdempotencyConflict(ApplicationError):
    status = 409
    code = "idempotency_in_flight"


class IdempotencyMismatch(ApplicationError):
    status = 422
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class Replay:
    status: int
    content_type: str
    body: bytes


def request_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def idempotency_begin(*, integration: Integration, key: str, request_hash: str) -> IdempotencyKey | Replay:
    """Claim the key for this request (returns the claimed row), or return the stored answer to
    replay; raises 409 while the first request is in flight and 422 for another request."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApplicationError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.",
            code="invalid_idempotency_key",
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            return IdempotencyKey.objects.create(
                integration=integration, key=key, request_hash=request_hash, created_at=now
            )
    except IntegrityError:
        pass
    existing = IdempotencyKey.objects.filter(integration=integration, key=key).first()
    if existing is None:
        # Released by the first request between our insert and this read: let the caller retry.
        raise IdempotencyConflict("A request with this Idempotency-Key is in progress; retry shortly.")
    if existing.request_hash != request_hash:
        raise IdempotencyMismatch("This Idempotency-Key was already used for a different request.")
    if existing.response_status is not None:
        return Replay(existing.response_status, existing.response_content_type, bytes(existing.response_body))
    stale = existing.created_at < now - IN_FLIGHT_TIMEOUT
    if stale and IdempotencyKey.objects.filter(
        pk=existing.pk, response_status__isnull=True, created_at=existing.created_at
    ).update(created_at=now):
        existing.created_at = now
        return existing
    raise IdempotencyConflict("A request with this Idempotency-Key is in progress; retry shortly.")


def idempotency_finish(*, claim: IdempotencyKey, status: int, content_type: str, body: bytes) -> None:
    """Keep a 2xx answer for replay; release the key for any other answer."""
    if 200 <= status < 300:
        IdempotencyKey.objects.filter(pk=claim.pk, response_status__isnull=True).update(
            response_status=status, response_content_type=content_type, response_body=body
        )
    else:
        IdempotencyKey.objects.filter(pk=claim.pk, response_status__isnull=True).delete()


def idempotency_keys_purge(*, hours: int | None = None) -> int:
    """Delete keys older than the retention (CAMPAIGN_IDEMPOTENCY_KEY_HOURS, at least 24 h)."""
    hours = max(24, hours if hours is not None else settings.CAMPAIGN_IDEMPOTENCY_KEY_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(
        created_at__lt=timezone.now() - timedelta(hours=hours)
    ).delete()
    return deleted
