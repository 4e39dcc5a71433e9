"""Every retry delay of the engine: one exponential formula with jitter, a token bucket, and the
per-key requeue limiter that takes the longer of the two (client-go's MaxOf of its
ItemExponentialFailureRateLimiter and BucketRateLimiter)."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Backoff:
    """``base * 2**attempt`` seconds, at most ``cap``, less up to ``jitter`` of it.

    Jitter only shortens, so the cap stays a cap; below a half it keeps every delay short of the
    cap longer than any the attempt before could have drawn. With ``jitter=0`` this is the
    ``min(cap, base * 2**attempt)`` of a kopf handler's retries.
    """

    base: float
    cap: float
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.cap:
            raise ValueError(f"backoff needs 0 < base <= cap, not base={self.base} cap={self.cap}")
        if not 0 <= self.jitter < 0.5:
            raise ValueError(f"backoff jitter must be in [0, 0.5), not {self.jitter}")

    def delay(self, attempt: int, draw: float = 0.0) -> float:
        """The delay after ``attempt`` earlier failures (0: the first retry); ``draw`` in [0, 1)
        picks how much jitter takes off."""
        # Past this exponent the cap applies: clamping keeps 2**attempt from overflowing a float.
        exponent = min(attempt, math.ceil(math.log2(self.cap / self.base)))
        return min(self.cap, self.base * 2.0**exponent) * (1.0 - self.jitter * draw)


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved. Taking a token the bucket lacks books one
    from the future: the caller waits the delay returned (golang.org/x/time/rate's Reserve)."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, not rate={rate} burst={burst}")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = now  # the moment self._tokens is counted at; may lie ahead (empty_until)

    def reserve(self, now: float) -> float:
        """Take a token; the seconds from ``now`` until it is there (0 if it is)."""
        if now > self._at:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
        self._tokens -= 1.0
        ready = self._at + max(0.0, -self._tokens) / self._rate
        return max(0.0, ready - now)

    def empty_until(self, moment: float) -> None:
        """No token before ``moment``, none saved at it, and what was booked is forgiven: takers
        then go at the rate, not in a burst."""
        self._tokens = 0.0
        self._at = max(self._at, moment)


# A failed pass: 2 s doubling to 5 minutes (the delays of vmop's kopf retries), a fifth of jitter
# so that keys failing together (an unreachable platform) come back apart.
PASS_BACKOFF = Backoff(base=2.0, cap=300.0, jitter=0.2)
# All failed passes together: client-go's default, 10 requeues a second after a burst of 100.
REQUEUE_RATE = 10.0
REQUEUE_BURST = 100


class RequeueLimiter(Generic[K]):
    """When a failed key may run again: the longer of its own backoff (by its failures so far) and
    the turn the shared bucket gives it, so that many keys failing at once come back at the rate."""

    def __init__(self, backoff: Backoff, bucket: TokenBucket, draw: Callable[[], float]) -> None:
        self._backoff = backoff
        self._bucket = bucket
        self._draw = draw
        self._failures: dict[K, int] = {}

    def when(self, key: K, now: float) -> float:
        """Count a failure of ``key``; the seconds until it may run again."""
        attempt = self._failures.get(key, 0)
        self._failures[key] = attempt + 1
        return max(self._backoff.delay(attempt, self._draw()), self._bucket.reserve(now))

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)
