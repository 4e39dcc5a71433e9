"""A keyed work queue: the passes of one kind, one key at a time (client-go's workqueue and
controller-runtime's controller loop, on asyncio).

- The queue holds keys, not bodies: a pass reads the newest view of its object itself, so a key
  added ten times before its pass runs once.
- A key added while its pass runs is marked dirty and runs once more after it, never beside it:
  at most one pass per key, with no lock per object.
- ``max_in_flight`` workers run the passes. A pass answers ``Done``, ``RequeueAfter(s)`` (look
  again then; not a failure) or ``Failed`` (again after the key's backoff, at the shared rate;
  backoff.py); an exception is a failure, logged once, and the worker goes on.
- One loop re-adds every key of a key source each resync period, spread over the period: no
  timer per object.
- A paused queue (``pause``: this process does not hold its shard's Lease) begins no pass; keys
  added meanwhile wait, deduplicated, for ``resume``.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from vmop.engine.backoff import PASS_BACKOFF, REQUEUE_BURST, REQUEUE_RATE, Backoff, RequeueLimiter, TokenBucket
from vmop.engine.clock import Clock, MonotonicClock

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Done:
    """Nothing left to do until the object changes or its resync comes."""


@dataclass(frozen=True)
class RequeueAfter:
    """Look again after ``seconds`` (the platform is still busy, a guest still stopping)."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError(f"a requeue cannot be in the past: {self.seconds} s")


@dataclass(frozen=True)
class Failed:
    """The pass failed: run again after the key's backoff."""


Result = Done | RequeueAfter | Failed
Reconcile = Callable[[K], Awaitable[Result]]


@dataclass(frozen=True)
class Resync(Generic[K]):
    """Every ``period`` seconds, re-add each key ``keys()`` returns (e.g. a kopf index's keys)."""

    keys: Callable[[], Iterable[K]]
    period: float

    def __post_init__(self) -> None:
        if self.period <= 0:
            raise ValueError(f"a resync period must be positive, not {self.period}")


@dataclass
class _Waiting(Generic[K]):
    """Keys to add at a moment (add_after, rate-limited requeues): the earliest moment per key."""

    at: dict[K, float] = field(default_factory=dict)
    heap: list[tuple[float, int, K]] = field(default_factory=list)
    added: int = 0  # a tie-breaker: keys need not be ordered


class WorkQueue(Generic[K]):
    """The passes of one kind, by key (the module's docstring says how)."""

    def __init__(
        self,
        reconcile: Reconcile[K],
        *,
        max_in_flight: int,
        resync: Resync[K] | None = None,
        clock: Clock | None = None,
        backoff: Backoff = PASS_BACKOFF,
        requeue_rate: float = REQUEUE_RATE,
        requeue_burst: int = REQUEUE_BURST,
        draw: Callable[[], float] = random.random,
        name: str = "queue",
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        self._reconcile = reconcile
        self._max_in_flight = max_in_flight
        self._resync = resync
        self._clock = clock or MonotonicClock()
        self._limiter: RequeueLimiter[K] = RequeueLimiter(
            backoff, TokenBucket(requeue_rate, requeue_burst, self._clock.now()), draw
        )
        self._draw = draw
        self._name = name
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._dirty: set[K] = set()  # added and not yet begun: in _ready, or waiting for its pass to end
        self._processing: set[K] = set()
        self._waiting: _Waiting[K] = _Waiting()
        self._waiting_changed = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[None]] = set()  # workers inside a pass
        self._loops: list[asyncio.Task[None]] = []
        self._stopped = False
        self._running = asyncio.Event()
        self._running.set()

    def start(self) -> None:
        """Start the workers, the timer of delayed keys and the resync loop (in a running loop)."""
        if self._workers or self._stopped:
            raise RuntimeError(f"{self._name} was started already")
        workers = range(self._max_in_flight)
        self._workers = [asyncio.create_task(self._work(), name=f"{self._name}-worker-{i}") for i in workers]
        self._loops = [asyncio.create_task(self._release_waiting(), name=f"{self._name}-after")]
        if self._resync is not None:
            self._loops.append(asyncio.create_task(self._resync_loop(self._resync), name=f"{self._name}-resync"))

    def add(self, key: K) -> None:
        if self._stopped or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:  # else it goes back to _ready when its pass ends
            self._ready.put_nowait(key)

    def add_after(self, key: K, seconds: float) -> None:
        """Add ``key`` in ``seconds``; a key already due sooner keeps its moment. Counts no failure."""
        if self._stopped:
            return
        if seconds <= 0:
            self.add(key)
            return
        at = self._clock.now() + seconds
        waiting = self._waiting
        due = waiting.at.get(key)
        if due is not None and due <= at:
            return
        waiting.at[key] = at
        waiting.added += 1
        heapq.heappush(waiting.heap, (at, waiting.added, key))
        if waiting.heap[0][0] == at:
            self._waiting_changed.set()

    def add_rate_limited(self, key: K) -> None:
        """Count a failure of ``key`` and add it after its backoff (and its turn at the shared rate)."""
        if not self._stopped:
            self.add_after(key, self._limiter.when(key, self._clock.now()))

    def pause(self) -> None:
        """Begin no pass until ``resume``; the passes under way end as they would."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def forget(self, key: K) -> None:
        """Start ``key``'s backoff again from the first delay."""
        self._limiter.forget(key)

    def failures(self, key: K) -> int:
        """Failures of ``key`` since it last passed (or was forgotten)."""
        return self._limiter.failures(key)

    async def shutdown(self, grace: float) -> None:
        """Stop taking keys and drop those not begun (the next start resumes every object anyway);
        let the passes under way end within ``grace`` seconds, then cancel them."""
        if self._stopped:
            return
        self._stopped = True
        while not self._ready.empty():
            self._ready.get_nowait()
        self._dirty.clear()
        self._waiting = _Waiting()
        running = set(self._busy)
        for task in [*self._loops, *(worker for worker in self._workers if worker not in running)]:
            task.cancel()
        if running:
            timer = asyncio.ensure_future(self._clock.sleep(grace))
            while running and not timer.done():
                done, _ = await asyncio.wait({*running, timer}, return_when=asyncio.FIRST_COMPLETED)
                running -= done
            timer.cancel()
            for task in running:
                task.cancel()
        await asyncio.gather(*self._loops, *self._workers, return_exceptions=True)

    async def _work(self) -> None:
        worker = asyncio.current_task()
        assert worker is not None
        while not self._stopped:
            await self._running.wait()
            key = await self._ready.get()
            if not self._running.is_set():  # paused while this worker waited for a key
                self._ready.put_nowait(key)
                continue
            self._dirty.discard(key)
            self._processing.add(key)
            self._busy.add(worker)
            try:
                result = await self._pass(key)
            finally:
                self._busy.discard(worker)
                self._processing.discard(key)
                if key in self._dirty:
                    self._ready.put_nowait(key)
            self._settle(key, result)

    async def _pass(self, key: K) -> Result:
        logger.debug("%s: pass of %s", self._name, key)
        try:
            return await self._reconcile(key)
        except Exception:
            logger.exception("%s: the pass of %s failed", self._name, key)
            return Failed()

    def _settle(self, key: K, result: Result) -> None:
        match result:
            case Done():
                self._limiter.forget(key)
            case RequeueAfter(seconds=seconds):
                self._limiter.forget(key)
                self.add_after(key, seconds)
            case Failed():
                self.add_rate_limited(key)

    async def _release_waiting(self) -> None:
        """Add each delayed key at its moment: one timer for all of them."""
        while True:
            waiting = self._waiting
            now = self._clock.now()
            while waiting.heap and waiting.heap[0][0] <= now:
                at, _, key = heapq.heappop(waiting.heap)
                if waiting.at.get(key) == at:  # else moved sooner, and added then
                    del waiting.at[key]
                    self.add(key)
            self._waiting_changed.clear()
            pending: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._waiting_changed.wait())}
            if waiting.heap:
                pending.add(asyncio.ensure_future(self._clock.sleep(waiting.heap[0][0] - now)))
            try:
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in pending:
                    task.cancel()

    async def _resync_loop(self, resync: Resync[K]) -> None:
        """Each period, the keys at that moment, each in its own slice of the period at a random
        point of it: spread evenly, each key once. The first round begins one period after the
        start (at the start, every object is added by kopf's resume handlers)."""
        begins = self._clock.now() + resync.period
        while True:
            await self._sleep_until(begins)
            keys = list(resync.keys())
            slot = resync.period / max(1, len(keys))
            for index, key in enumerate(keys):
                await self._sleep_until(begins + (index + self._draw()) * slot)
                self.add(key)
            begins += resync.period

    async def _sleep_until(self, moment: float) -> None:
        seconds = moment - self._clock.now()
        if seconds > 0:
            await self._clock.sleep(seconds)
