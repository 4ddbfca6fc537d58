import pytest
from django.conf import settings

from tests.plugins import IN_CI


@pytest.fixture
def redis_broker():
    """The test broker, which must be a reachable Redis: skipped without one, failed under CI."""
    import redis

    url = settings.CELERY_BROKER_URL
    problem = None
    if not url.startswith(("redis://", "rediss://")):
        problem = f"needs a Redis broker (CELERY_BROKER_URL is {url})"
    else:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            problem = f"Redis at {url} is unreachable: {exc}"
    if problem:
        if IN_CI:
            pytest.fail(problem)
        pytest.skip(problem)
    return url
