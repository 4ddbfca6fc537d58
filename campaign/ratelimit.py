"""Per-credential rate limiting of the trigger API (429 with Retry-After).

A fixed one-second window per credential, counted in Redis (INCR + EXPIRE in one round trip), so
that every web process shares the count. Without Redis (local runs on the file-system broker) the
count lives in Django's cache, per process. If Redis does not answer, requests are let through:
the limiter protects the service, it must not take it down.
"""

import logging
import time
from functools import cache

import redis
from django.conf import settings
from django.core.cache import cache as django_cache
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 1


@cache
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)


def rate_limit_hit(*, integration_id: int, now: float | None = None) -> int:
    """Count one request of this credential in the current window; returns the count so far."""
    window = int((now if now is not None else time.time()) // WINDOW_SECONDS)
    key = f"mc:rate:{integration_id}:{window}"
    url = settings.CAMPAIGN_RATE_LIMIT_REDIS_URL
    if not url:
        django_cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        return django_cache.incr(key)
    try:
        pipe = _redis_client(url).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS * 2)
        return pipe.execute()[0]
    except Exception as exc:  # redis-py raises others than RedisError mid-reconnect too
        logger.warning("rate limiter unavailable, letting the request through: %r", exc)
        return 0


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
        if rate_limit_hit(integration_id=integration.pk, now=now) <= limit:
            return True
        self._wait = WINDOW_SECONDS - (now % WINDOW_SECONDS)
        return False

    def wait(self) -> float:
        return max(1.0, self._wait)
