"""Per-credential rate limiting of the trigger API (429 with Retry-After).

A fixed one-second window per credential, counted in Redis, so that every web process shares the
count. A round trip to Redis cost 80 µs of CPU per request on the benchmark machine, as much as the
rest of the trigger's own work, so each process takes its requests' tokens from Redis a few at a
time (INCRBY in one round trip with its EXPIRE) and spends them locally:

- a lease is at most 1/100 of the credential's limit (10 of 1,000 per second), and shrinks to one
  token as the window's count nears the limit, so that tokens held by processes that do not use
  them can refuse little: a credential at its limit may be refused a little early, never let
  through beyond it;
- below 100 per second, every request is counted in Redis, as before.

Without Redis (local runs on the file-system broker) the count lives in Django's cache, per
process. If Redis does not answer, requests are let through: the limiter protects the service, it
must not take it down.
"""

import logging
import threading
import time
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 1
# A process leases at most this fraction of a credential's limit at a time.
LEASE_FRACTION = 100
# Leases shrink once what is left of the window's limit is less than this many leases.
LEASE_HEADROOM = 16


@cache
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)


def _count(key: str, tokens: int) -> int | None:
    """Add `tokens` to the window's count; the count after them, or None when the limiter's store
    does not answer."""
    url = settings.CAMPAIGN_RATE_LIMIT_REDIS_URL
    if not url:
        django_cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        return django_cache.incr(key, tokens)
    try:
        pipe = _redis_client(url).pipeline(transaction=False)
        pipe.incrby(key, tokens)
        pipe.expire(key, WINDOW_SECONDS * 2)
        return pipe.execute()[0]
    except Exception as exc:  # redis-py raises others than RedisError mid-reconnect too
        logger.warning("rate limiter unavailable, letting the request through: %r", exc)
        return None


class _Lease:
    """The tokens this process holds for one credential in one window, and the highest count of
    the window it has seen in Redis."""

    __slots__ = ("left", "seen", "window")

    def __init__(self, window: int):
        self.window, self.left, self.seen = window, 0, 0


_leases: dict[int, _Lease] = {}
_leases_lock = threading.Lock()


def rate_limit_take(*, integration_id: int, limit: int, now: float | None = None) -> bool:
    """Whether one more request of this credential fits `limit` requests in the current window."""
    window = int((now if now is not None else time.time()) // WINDOW_SECONDS)
    with _leases_lock:
        lease = _leases.get(integration_id)
        if lease is None or lease.window != window:
            lease = _leases[integration_id] = _Lease(window)
        if lease.left > 0:
            lease.left -= 1
            return True
        seen = lease.seen
    size = max(1, min(limit // LEASE_FRACTION, (limit - seen) // LEASE_HEADROOM))
    total = _count(f"mc:rate:{integration_id}:{window}", size)
    if total is None:
        return True
    granted = max(0, min(size, limit - (total - size)))
    with _leases_lock:
        # (If a later window replaced this lease meanwhile, what is added here is dropped with it.)
        lease.seen = max(lease.seen, total)
        lease.left += max(0, granted - 1)
    return granted > 0


def rate_limit_reset() -> None:
    """Forget this process's leases (for tests: as a new process would start)."""
    with _leases_lock:
        _leases.clear()


class IntegrationRateThrottle(BaseThrottle):
    """DRF throttle: CAMPAIGN_API_RATE_LIMIT requests per second per credential (or the
    integration's own `rate_limit`); 0 means unlimited."""

    def allow_request(self, request, view) -> bool:
        integration = request.auth
        if integration is None:
            return True
        limit = (
            integration.rate_limit if integration.rate_limit is not None else settings.CAMPAIGN_API_RATE_LIMIT
        )
        if not limit:
            return True
        now = time.time()
        if rate_limit_take(integration_id=integration.pk, limit=limit, now=now):
            return True
        self._wait = WINDOW_SECONDS - (now % WINDOW_SECONDS)
        return False

    def wait(self) -> float:
        return max(1.0, self._wait)
