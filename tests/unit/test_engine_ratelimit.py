"""The limit on Kubernetes writes (engine/ratelimit.py) on a virtual clock: qps and burst, one
pause for every write on overload, its backoff counted once per overload and reset by a success."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from tests.support.clock import VirtualClock
from vmop.engine import Answered, Backoff, Overloaded, Permit, WriteLimiter, outcome_of_status

START = 1000.0
QPS = 1000.0
# After a pause the bucket starts empty: the first write waits the pause and one token's time.
TOKEN = 1 / QPS


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


def limiter(clock: VirtualClock, qps: float = QPS, burst: int = 1000) -> WriteLimiter:
    """No jitter; a backoff of 1 s doubling to 4 s."""
    return WriteLimiter(qps, burst, clock=clock, backoff=Backoff(base=1.0, cap=4.0, jitter=0.2), draw=lambda: 0.0)


async def granted(writes: WriteLimiter, clock: VirtualClock, count: int, within: float = 100.0) -> list[float]:
    """When each of ``count`` writers asking together is let through, in seconds from now."""
    asked = clock.now()

    async def write() -> float:
        await writes.acquire()
        return clock.now() - asked

    tasks = [asyncio.create_task(write()) for _ in range(count)]
    await clock.advance(within)
    assert all(task.done() for task in tasks)
    return [task.result() for task in tasks]


async def pause_after(writes: WriteLimiter, clock: VirtualClock, permit: Permit, outcome: Overloaded) -> float:
    """Report ``outcome`` for ``permit``; how long the next write then waits, less a token's time."""
    writes.report(permit, outcome)
    (wait,) = await granted(writes, clock, 1)
    return wait - TOKEN


async def test_writes_go_at_the_burst_then_at_qps(clock: VirtualClock) -> None:
    writes = limiter(clock, qps=10, burst=5)
    assert await granted(writes, clock, 20) == pytest.approx([0] * 5 + [0.1 * n for n in range(1, 16)])


async def test_an_idle_limiter_saves_only_its_burst(clock: VirtualClock) -> None:
    writes = limiter(clock, qps=10, burst=5)
    await granted(writes, clock, 5)
    await clock.advance(100)
    assert await granted(writes, clock, 6) == pytest.approx([0] * 5 + [0.1])


async def test_a_429_pauses_every_write_for_its_retry_after_then_writes_go_at_the_rate(clock: VirtualClock) -> None:
    writes = limiter(clock, qps=10, burst=5)
    permit = await writes.acquire()
    writes.report(permit, Overloaded(retry_after=3.0))
    # no burst when the pause ends: the tokens saved before it are gone, none saved during it
    assert await granted(writes, clock, 5) == pytest.approx([3.1, 3.2, 3.3, 3.4, 3.5])


async def test_writers_waiting_in_line_when_a_pause_begins_go_at_the_rate_after_it(clock: VirtualClock) -> None:
    writes = limiter(clock, qps=10, burst=5)
    asked = clock.now()
    let_through: list[float] = []

    async def write() -> None:
        permit = await writes.acquire()
        let_through.append(clock.now() - asked)
        if len(let_through) == 8:  # at 0.3 s; 12 writers still in line
            writes.report(permit, Overloaded(retry_after=2.0))

    tasks = [asyncio.create_task(write()) for _ in range(20)]
    await clock.advance(10)
    assert all(task.done() for task in tasks)
    after = let_through[8:]
    assert after[0] == pytest.approx(2.3 + 0.1)  # the pause, then a token
    assert [later - earlier for earlier, later in pairwise(after)] == pytest.approx([0.1] * 11)


async def test_overloads_in_a_row_double_the_pause_up_to_the_cap_and_a_success_resets_it(
    clock: VirtualClock,
) -> None:
    writes = limiter(clock)
    pauses = [await pause_after(writes, clock, await writes.acquire(), Overloaded()) for _ in range(4)]
    assert pauses == pytest.approx([1, 2, 4, 4])
    writes.report(await writes.acquire(), Answered())
    assert await pause_after(writes, clock, await writes.acquire(), Overloaded()) == pytest.approx(1)


async def test_the_backoff_pause_is_longer_than_a_short_retry_after(clock: VirtualClock) -> None:
    writes = limiter(clock)
    await pause_after(writes, clock, await writes.acquire(), Overloaded())
    assert await pause_after(writes, clock, await writes.acquire(), Overloaded(retry_after=0.5)) == pytest.approx(2)


async def test_writes_under_way_when_a_pause_begins_count_it_once(clock: VirtualClock) -> None:
    writes = limiter(clock)
    under_way = [await writes.acquire() for _ in range(10)]
    for permit in under_way[:-1]:
        writes.report(permit, Overloaded())
    assert await pause_after(writes, clock, under_way[-1], Overloaded()) == pytest.approx(1)
    assert await pause_after(writes, clock, await writes.acquire(), Overloaded()) == pytest.approx(2)


async def test_a_success_let_through_before_the_pause_does_not_reset_its_backoff(clock: VirtualClock) -> None:
    writes = limiter(clock)
    before, also_before = await writes.acquire(), await writes.acquire()
    await pause_after(writes, clock, before, Overloaded())
    writes.report(also_before, Answered())
    assert await pause_after(writes, clock, await writes.acquire(), Overloaded()) == pytest.approx(2)


async def test_a_late_retry_after_lengthens_the_pause_without_doubling_the_backoff(clock: VirtualClock) -> None:
    writes = limiter(clock)
    before, also_before = await writes.acquire(), await writes.acquire()
    writes.report(before, Overloaded())
    assert await pause_after(writes, clock, also_before, Overloaded(retry_after=5.0)) == pytest.approx(5)
    assert await pause_after(writes, clock, await writes.acquire(), Overloaded()) == pytest.approx(2)


async def test_a_late_timeout_after_the_pause_changes_nothing(clock: VirtualClock) -> None:
    writes = limiter(clock, qps=10, burst=5)
    before, also_before = await writes.acquire(), await writes.acquire()
    writes.report(before, Overloaded())
    await clock.advance(10)
    writes.report(also_before, Overloaded())
    assert await granted(writes, clock, 5) == [0] * 5


async def test_a_writer_that_gives_up_waiting_lets_the_next_one_through(clock: VirtualClock) -> None:
    writes = limiter(clock, qps=1, burst=1)
    await writes.acquire()
    first, second = asyncio.create_task(writes.acquire()), asyncio.create_task(writes.acquire())
    await clock.advance(0.5)
    first.cancel()
    await clock.advance(2)
    assert second.done() and not second.cancelled()


@pytest.mark.parametrize(
    ("status", "retry_after", "outcome"),
    [
        (429, "5", Overloaded(5.0)),
        (429, None, Overloaded()),
        (429, "Wed, 21 Oct 2015 07:28:00 GMT", Overloaded()),
        (429, "-1", Overloaded()),
        (504, None, Overloaded()),
        (200, None, Answered()),
        (409, "5", Answered()),
        (500, None, Answered()),
    ],
)
def test_only_429_and_504_are_overload(status: int, retry_after: str | None, outcome: object) -> None:
    assert outcome_of_status(status, retry_after) == outcome
