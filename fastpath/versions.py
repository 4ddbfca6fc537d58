"""The one keying rule for caches of published versions.

A published version (of an event configuration or of a message) never changes: a new publish makes
a new version. What is derived from one (its compiled contract, its content) can therefore be kept
for the life of the process without invalidation, under a key that names the version: its primary
key *and* its publish time. The primary key alone is not enough where a database hands an id out
again after a rollback (SQLite does, in the tests), which would serve another version's data.
"""

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache, wraps
from typing import TypeVar

T = TypeVar("T")


def per_version(maxsize: int = 512) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Cache `load(*, version_pk, published_at)` per process under (version_pk, published_at)."""

    def decorate(load: Callable[..., T]) -> Callable[..., T]:
        cached = lru_cache(maxsize=maxsize)(load)

        @wraps(load)
        def get(*, version_pk: int, published_at: datetime) -> T:
            return cached(version_pk=version_pk, published_at=published_at)

        get.cache_clear = cached.cache_clear
        return get

    return decorate
