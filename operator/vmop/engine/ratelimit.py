"""One client-side limit on the operator's Kubernetes writes (client-go's flowcontrol: qps with a
burst), and one backoff for all of them when the apiserver is overloaded.

At 10,000 VMs the apiserver timed out 88,366 requests and kopf retried each patch up to 9 times
(issue 19): each write backed off alone, so a burst became a retry storm. Here every write takes
a token first (``acquire``) and says how it went (``report``). An overload answer (429, with its
Retry-After, or a timeout) pauses every write: for the longer of Retry-After and a backoff that
doubles with each overload in a row and starts again after a write succeeds. When the pause ends
writes go at the rate, not in a burst.

A pause counts once however many writes under way report it: only a write let through after the
latest pause began can lengthen the backoff (or reset it); one let through before can only make
the pause last until its own Retry-After.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass

from vmop.engine.backoff import Backoff, TokenBucket
from vmop.engine.clock import Clock, MonotonicClock

# 1 s doubling to a minute: the apiserver's priority and fairness asks for 1 s in its 429s; a
# fifth of jitter so that several operator processes (shards) come back apart.
OVERLOAD_BACKOFF = Backoff(base=1.0, cap=60.0, jitter=0.2)
# The apiserver's answers that mean "too much": 429 (priority and fairness, max in flight) and 504
# (its own "request did not complete within requested timeout", status reason Timeout).
OVERLOAD_STATUSES = frozenset({429, 504})


@dataclass(frozen=True)
class Answered:
    """The apiserver answered with anything but overload (a conflict or a 404 included)."""


@dataclass(frozen=True)
class Overloaded:
    """A 429 or 504 (``retry_after``: its Retry-After, in seconds), or no answer in time."""

    retry_after: float | None = None


WriteOutcome = Answered | Overloaded


def outcome_of_status(status: int, retry_after: str | None = None) -> WriteOutcome:
    """The outcome of a write the apiserver answered with ``status`` (and a Retry-After header)."""
    if status not in OVERLOAD_STATUSES:
        return Answered()
    try:
        seconds = float(retry_after) if retry_after is not None else None
    except ValueError:  # the HTTP-date form: the apiserver sends seconds
        seconds = None
    return Overloaded(seconds if seconds is not None and seconds >= 0 else None)


@dataclass(frozen=True)
class Permit:
    """A write let through; ``pauses``: how many overload pauses had begun by then."""

    pauses: int


class WriteLimiter:
    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        clock: Clock | None = None,
        backoff: Backoff = OVERLOAD_BACKOFF,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._clock = clock or MonotonicClock()
        self._bucket = TokenBucket(qps, burst, self._clock.now())
        self._backoff = backoff
        self._draw = draw
        self._turn = asyncio.Lock()  # one writer waits for a token at a time, the others in line
        self._paused_until = self._clock.now()
        self._pauses = 0
        self._overloads = 0  # in a row: the backoff's attempt

    async def acquire(self) -> Permit:
        """Wait for a token and for any pause to end."""
        async with self._turn:
            now = self._clock.now()
            ready = now + self._bucket.reserve(now)
            # A pause may begin while this writer waits for its token: then it waits for both.
            while (wait := max(ready, self._paused_until) - self._clock.now()) > 0:
                await self._clock.sleep(wait)
            return Permit(self._pauses)

    def report(self, permit: Permit, outcome: WriteOutcome) -> None:
        """How the write let through with ``permit`` went."""
        fresh = permit.pauses == self._pauses  # let through after the latest pause began
        match outcome:
            case Answered():
                if fresh:
                    self._overloads = 0
            case Overloaded(retry_after=retry_after):
                pause = retry_after or 0.0
                if fresh:
                    pause = max(pause, self._backoff.delay(self._overloads, self._draw()))
                    self._overloads += 1
                    self._pauses += 1
                self._pause_until(self._clock.now() + pause)

    def _pause_until(self, moment: float) -> None:
        if moment > max(self._paused_until, self._clock.now()):
            self._paused_until = moment
            self._bucket.empty_until(moment)
