"""Time for async tests: it moves only when a test advances it, waking each sleeper at its moment."""

from __future__ import annotations

import asyncio
import heapq

# Loop turns that let every task woken so far run up to its next sleep: the engine's hops
# (a worker taking a key, a pass awaiting, a timer adding a key) are a few turns each.
SETTLE_TURNS = 50


async def settle() -> None:
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)


class VirtualClock:
    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._slept = 0

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._slept += 1
        heapq.heappush(self._sleepers, (self._now + seconds, self._slept, wake))
        await wake

    async def advance(self, seconds: float) -> None:
        """Move ``seconds`` on, one sleeper's moment at a time, letting the loop run at each."""
        target = self._now + seconds
        await settle()
        while self._sleepers and self._sleepers[0][0] <= target:
            at, _, wake = heapq.heappop(self._sleepers)
            if wake.done():  # its sleeper was cancelled
                continue
            self._now = max(self._now, at)
            wake.set_result(None)
            await settle()
        self._now = target
        await settle()
