"""A keyed work queue: the passes of one kind, one key at a time (client-go's workqueue and
controller-runtime's controller loop, on asyncio).

- The queue holds keys, not bodies: a pass reads the newest view of its object itself, so a key
  added ten times before its pass runs once.
- A key added while its pass runs is marked dirty and runs once more after it, never beside it:
  at most one pass per key, with no lock per object.
- Two lanes: a key added for a change (a new object, an edit, a retry, a requeue a pass waits on)
  runs before every key added in the background (the resync, a look for what the platform shows
  by now), as controller-runtime's priority queue puts its resyncs last, and a background key
  begins only once no change has arrived (``add``; requeues and retries do not count) for
  ``BACKGROUND_QUIET_SECONDS`` and none waits, or once it has waited ``BACKGROUND_HOLD_SECONDS``:
  a burst of creates is not slowed by looks at the VMs it just made, nor an edit by a resync of
  10,000 objects. A key's lane is the more urgent of its adds.
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
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from vmop.engine.backoff import PASS_BACKOFF, REQUEUE_BURST, REQUEUE_RATE, Backoff, RequeueLimiter, TokenBucket
from vmop.engine.clock import Clock, MonotonicClock

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

CHANGES, BACKGROUND = 0, 1  # the lanes, the more urgent first
# While changes keep coming, background keys wait: until none came for this long, at most that long.
# Creating 1,000 VMs, the looks for their guest agents (a status write each) then come after the
# creates instead of among them (bench/).
BACKGROUND_QUIET_SECONDS = 1.0
BACKGROUND_HOLD_SECONDS = 30.0


@dataclass(frozen=True)
class Done:
    """Nothing left to do until the object changes or its resync comes."""


@dataclass(frozen=True)
class RequeueAfter:
    """Look again after ``seconds`` (the platform is still busy, a guest still stopping);
    ``background``: only to see news (a new VM's host and guest agent), after every change queued."""

    seconds: float
    background: bool = False

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
    background: set[K] = field(default_factory=set)  # keys whose every delayed add is a background one


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
        self._lanes: tuple[deque[K], deque[K]] = (deque(), deque())
        # One token per key put into a lane: a worker takes one, then the first key due of the most
        # urgent lane (a key moved to a more urgent lane leaves a stale entry, and a spare token).
        self._tokens: asyncio.Queue[None] = asyncio.Queue()
        self._dirty: dict[K, int] = {}  # added and not yet begun, with its lane: in it, or waiting for its pass to end
        self._processing: set[K] = set()
        self._waiting: _Waiting[K] = _Waiting()
        self._waiting_changed = asyncio.Event()
        self._held: deque[tuple[K, float]] = deque()  # background keys waiting for quiet, since when
        self._held_changed = asyncio.Event()
        self._last_arrival = float("-inf")  # when a change last arrived
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
        self._loops = [
            asyncio.create_task(self._release_waiting(), name=f"{self._name}-after"),
            asyncio.create_task(self._release_held(), name=f"{self._name}-background"),
        ]
        if self._resync is not None:
            self._loops.append(asyncio.create_task(self._resync_loop(self._resync), name=f"{self._name}-resync"))

    def add(self, key: K, *, background: bool = False) -> None:
        """Queue ``key`` for a change (a watch event, another kind's news), or in the background."""
        if not background:
            self._last_arrival = self._clock.now()
        self._add(key, BACKGROUND if background else CHANGES)

    def _add(self, key: K, lane: int) -> None:
        queued = self._dirty.get(key)
        if self._stopped or (queued is not None and queued <= lane):
            return
        self._dirty[key] = lane
        if key not in self._processing:  # else it goes back to its lane when its pass ends
            self._put(key, lane)

    def add_after(self, key: K, seconds: float, *, background: bool = False) -> None:
        """Add ``key`` in ``seconds``; a key already due sooner keeps its moment, and the more urgent
        lane. Counts no failure."""
        if self._stopped:
            return
        if seconds <= 0:
            self._add(key, BACKGROUND if background else CHANGES)
            return
        at = self._clock.now() + seconds
        waiting = self._waiting
        due = waiting.at.get(key)
        if not background:
            waiting.background.discard(key)
        elif due is None:
            waiting.background.add(key)
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
        for lane in self._lanes:
            lane.clear()
        self._held.clear()
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
            await self._tokens.get()
            if not self._running.is_set():  # paused while this worker waited for a key
                self._tokens.put_nowait(None)
                continue
            key = self._take()
            if key is None:  # a stale entry's token
                continue
            self._processing.add(key)
            self._busy.add(worker)
            try:
                result = await self._pass(key)
            finally:
                self._busy.discard(worker)
                self._processing.discard(key)
                lane = self._dirty.get(key)
                if lane is not None:
                    self._put(key, lane)
            self._settle(key, result)

    def _put(self, key: K, lane: int) -> None:
        now = self._clock.now()
        if lane == BACKGROUND and (self._held or not self._quiet(now)):
            self._held.append((key, now))
            self._held_changed.set()
            return
        self._lanes[lane].append(key)
        self._tokens.put_nowait(None)

    def _quiet(self, now: float) -> bool:
        """No change arrived for a while, and none waits (an entry may be stale: then it waits a poll)."""
        return now - self._last_arrival >= BACKGROUND_QUIET_SECONDS and not self._lanes[CHANGES]

    async def _release_held(self) -> None:
        """Background keys into their lane once changes are quiet, or after they waited long enough."""
        while True:
            self._held_changed.clear()
            if not self._held:
                await self._held_changed.wait()
                continue
            now = self._clock.now()
            quiet = self._quiet(now)
            while self._held and (quiet or self._held[0][1] + BACKGROUND_HOLD_SECONDS <= now):
                self._lanes[BACKGROUND].append(self._held.popleft()[0])
                self._tokens.put_nowait(None)
            if self._held:
                quiet_from = max(self._last_arrival + BACKGROUND_QUIET_SECONDS, now + BACKGROUND_QUIET_SECONDS / 10)
                await self._clock.sleep(min(quiet_from, self._held[0][1] + BACKGROUND_HOLD_SECONDS) - now)

    def _take(self) -> K | None:
        """The first key due of the most urgent lane (entries left by a move to a more urgent lane,
        or of a key whose pass runs, are dropped: it is in its lane, or goes back when its pass ends)."""
        for lane, keys in enumerate(self._lanes):
            while keys:
                key = keys.popleft()
                if self._dirty.get(key) == lane and key not in self._processing:
                    del self._dirty[key]
                    return key
        return None

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
            case RequeueAfter(seconds=seconds, background=background):
                self._limiter.forget(key)
                self.add_after(key, seconds, background=background)
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
                    background = key in waiting.background
                    waiting.background.discard(key)
                    self._add(key, BACKGROUND if background else CHANGES)
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
                self.add(key, background=True)
            begins += resync.period

    async def _sleep_until(self, moment: float) -> None:
        seconds = moment - self._clock.now()
        if seconds > 0:
            await self._clock.sleep(seconds)
