"""The engine's one backoff formula, its token bucket, and the requeue limiter made of both."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vmop.engine import Backoff, RequeueLimiter, TokenBucket

BASES = st.floats(0.001, 10.0)
CAP_FACTORS = st.floats(1.0, 1e6)
ATTEMPTS = st.integers(0, 10_000)
DRAWS = st.floats(0.0, 1.0, exclude_max=True)
JITTERS = st.floats(0.0, 0.5, exclude_max=True)


@given(base=BASES, factor=CAP_FACTORS, attempt=st.integers(0, 60))
def test_without_jitter_the_delay_is_base_doubled_per_attempt_up_to_the_cap(
    base: float, factor: float, attempt: int
) -> None:
    cap = base * factor
    assert Backoff(base, cap).delay(attempt) == pytest.approx(min(cap, base * 2**attempt))


@given(base=BASES, factor=CAP_FACTORS, jitter=JITTERS, attempt=ATTEMPTS, draw=DRAWS, previous_draw=DRAWS)
def test_jitter_only_shortens_and_each_delay_short_of_the_cap_outgrows_the_one_before(
    base: float, factor: float, jitter: float, attempt: int, draw: float, previous_draw: float
) -> None:
    backoff = Backoff(base, base * factor, jitter)
    exact = Backoff(base, base * factor).delay(attempt)
    delay = backoff.delay(attempt, draw)
    assert exact * (1 - jitter) <= delay * (1 + 1e-12) and delay <= exact
    if attempt > 0 and exact < backoff.cap:
        assert delay > backoff.delay(attempt - 1, previous_draw)


def test_backoff_refuses_what_would_not_be_a_backoff() -> None:
    for base, cap, jitter in [(0.0, 1.0, 0.0), (2.0, 1.0, 0.0), (1.0, 2.0, 0.5), (1.0, 2.0, -0.1)]:
        with pytest.raises(ValueError, match="backoff"):
            Backoff(base, cap, jitter)


def test_a_bucket_gives_its_burst_then_a_token_per_interval() -> None:
    bucket = TokenBucket(rate=4.0, burst=2, now=0.0)
    assert [bucket.reserve(0.0) for _ in range(5)] == pytest.approx([0, 0, 0.25, 0.5, 0.75])
    assert bucket.reserve(0.75) == pytest.approx(0.25), "the bookings are still owed"


def test_a_bucket_saves_at_most_its_burst() -> None:
    bucket = TokenBucket(rate=4.0, burst=2, now=0.0)
    bucket.reserve(0.0)
    assert [bucket.reserve(100.0) for _ in range(3)] == pytest.approx([0, 0, 0.25])


def test_an_emptied_bucket_forgives_bookings_and_fills_from_the_moment_given() -> None:
    bucket = TokenBucket(rate=4.0, burst=10, now=0.0)
    for _ in range(20):
        bucket.reserve(0.0)  # 10 booked ahead: the next would wait 2.75 s
    bucket.empty_until(5.0)
    assert bucket.reserve(1.0) == pytest.approx(4.25)
    assert bucket.reserve(6.0) == pytest.approx(0.0)  # 4 tokens came in since 5 s, less the one booked
    assert [bucket.reserve(6.0) for _ in range(3)] == pytest.approx([0, 0, 0.25])


def test_the_requeue_limiter_takes_the_longer_of_backoff_and_bucket_and_forgets() -> None:
    limiter: RequeueLimiter[str] = RequeueLimiter(Backoff(1.0, 100.0), TokenBucket(1.0, 2, now=0.0), lambda: 0.0)
    assert [limiter.when("a", 0.0) for _ in range(3)] == pytest.approx([1, 2, 4])  # the backoff is longer
    assert limiter.failures("a") == 3
    assert [limiter.when(key, 0.0) for key in "bcd"] == pytest.approx([2, 3, 4])  # the bucket is
    limiter.forget("a")
    assert limiter.failures("a") == 0
    assert limiter.when("a", 100.0) == pytest.approx(1)
