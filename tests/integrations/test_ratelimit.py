"""The trigger API's rate limiter (integrations/ratelimit.py): tokens leased from the shared count a
few at a time, never more requests let through than the limit, few refused early. Runs against
Redis when the broker is Redis (always under CI), else Django's cache."""

import secrets

import pytest

from integrations import ratelimit
from integrations.ratelimit import rate_limit_reset, rate_limit_take

NOW = 1_900_000_000.25  # a fixed instant: every call below falls in one window


@pytest.fixture
def credential() -> int:
    """An id no other run uses at the same time (the counts in Redis are shared)."""
    return 10**12 + secrets.randbelow(9 * 10**12)


@pytest.fixture
def round_trips(monkeypatch) -> list[int]:
    """The tokens asked of the shared count, one entry per round trip."""
    asked: list[int] = []
    count = ratelimit._count

    def counted(key, tokens):
        asked.append(tokens)
        return count(key, tokens)

    monkeypatch.setattr(ratelimit, "_count", counted)
    return asked


def take(credential: int, limit: int, times: int, now: float = NOW) -> int:
    return sum(rate_limit_take(integration_id=credential, limit=limit, now=now) for _ in range(times))


def test_exactly_the_limit_is_let_through_with_few_round_trips(credential, round_trips):
    assert take(credential, 1000, 1200) == 1000
    # Leases of 10 while the window is far from full (85 round trips for the first 850 requests),
    # then smaller ones near the limit (59 for the last 150), then one per refused request (200).
    assert len(round_trips) == 344
    assert round_trips[0] == 10 and round_trips[-1] == 1


def test_tokens_held_by_another_process_refuse_few_and_never_let_more_through(credential):
    assert take(credential, 1000, 1) == 1  # this process now holds 9 more tokens
    held = dict(ratelimit._leases)
    rate_limit_reset()  # another process, sharing the count
    assert take(credential, 1000, 1100) == 990
    ratelimit._leases.update(held)  # back in the first process: its 9 tokens, then nothing
    assert take(credential, 1000, 20) == 9


def test_low_limits_count_every_request(credential, round_trips):
    assert take(credential, 5, 8) == 5
    assert round_trips == [1] * 8


def test_a_new_window_starts_from_zero_and_drops_the_tokens_left(credential):
    assert take(credential, 1000, 1) == 1
    assert take(credential, 1000, 1100, now=NOW + 1) == 1000
