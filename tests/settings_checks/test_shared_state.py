"""State shared between processes lives in Redis (REDIS_URL, by default the broker's Redis): Django's
cache and the rate limiter's counts."""

import uuid

import redis
from django.conf import settings
from django.core.cache import cache


def test_the_cache_and_the_rate_limiter_use_the_shared_redis(redis_broker):
    assert redis_broker == settings.REDIS_URL
    assert settings.CAMPAIGN_RATE_LIMIT_REDIS_URL == settings.REDIS_URL
    key = f"settings-check-{uuid.uuid4().hex}"
    cache.set(key, {"seen": 1}, timeout=30)
    try:
        # In Redis itself, where another process finds it.
        assert redis.Redis.from_url(settings.REDIS_URL).exists(f"mc-cache:1:{key}") == 1
        assert cache.get(key) == {"seen": 1}
    finally:
        cache.delete(key)
