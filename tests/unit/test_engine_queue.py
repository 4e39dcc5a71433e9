"""The keyed work queue (engine/queue.py) on a virtual clock: dedup, one pass per key at a time,
bounded passes, the change and background lanes, delayed and rate-limited requeues, resync spread,
deletion verdicts, failures and shutdown."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Iterator
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.clock import VirtualClock, settle
from vmop.engine import Backoff, Done, Failed, RequeueAfter, Result, Resync, WorkQueue
from vmop.engine.queue import BACKGROUND_HOLD_SECONDS, BACKGROUND_QUIET_SECONDS

START = 1000.0  # VirtualClock's start

ResultOf = Callable[[str, int], Result]  # (key, passes of it before this one) -> the pass's answer


class Passes:
    """A reconcile that records each pass and any two passes of one key at once; a key with a gate
    waits for it inside its pass."""

    def __init__(self, clock: VirtualClock, result_of: ResultOf | None = None) -> None:
        self.clock = clock
        self.result_of: ResultOf = result_of or (lambda key, before: Done())
        self.started: list[tuple[str, float]] = []
        self.running: set[str] = set()
        self.overlaps: list[str] = []
        self.cancelled: list[str] = []
        self.most_in_flight = 0
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, key: str) -> Result:
        if key in self.running:
            self.overlaps.append(key)
        before = len(self.times(key))
        self.running.add(key)
        self.started.append((key, self.clock.now()))
        self.most_in_flight = max(self.most_in_flight, len(self.running))
        try:
            if key in self.gates:
                await self.gates[key].wait()
            return self.result_of(key, before)
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        finally:
            self.running.discard(key)

    def hold(self, *keys: str) -> asyncio.Event:
        gate = asyncio.Event()
        for key in keys:
            self.gates[key] = gate
        return gate

    def keys(self) -> list[str]:
        return [key for key, _ in self.started]

    def times(self, key: str) -> list[float]:
        return [at for started, at in self.started if started == key]


MakeQueue = Callable[..., WorkQueue[str]]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
async def make_queue(clock: VirtualClock) -> AsyncIterator[MakeQueue]:
    """Started queues on the virtual clock, with no jitter unless asked; shut down after the test."""
    made: list[WorkQueue[str]] = []

    def make(passes: Passes, **options: object) -> WorkQueue[str]:
        options = {"max_in_flight": 4, "draw": lambda: 0.0, "backoff": Backoff(base=1.0, cap=8.0), **options}
        queue: WorkQueue[str] = WorkQueue(passes, clock=clock, **options)  # type: ignore[arg-type]
        queue.start()
        made.append(queue)
        return queue

    yield make
    for queue in made:
        await queue.shutdown(grace=0)


async def pass_under_way(passes: Passes, queue: WorkQueue[str], key: str) -> asyncio.Event:
    """Begin a pass of ``key`` that waits inside until the gate returned is set."""
    gate = passes.hold(key)
    queue.add(key)
    await settle()
    assert key in passes.running
    return gate


def failing(times: int) -> ResultOf:
    """Each key fails its first ``times`` passes, then is done."""
    return lambda key, before: Failed() if before < times else Done()


async def test_a_key_added_twice_while_queued_runs_once(clock: VirtualClock, make_queue: MakeQueue) -> None:
    passes = Passes(clock)
    queue = make_queue(passes, max_in_flight=1)
    gate = await pass_under_way(passes, queue, "a")
    queue.add("b")
    queue.add("b")
    gate.set()
    await clock.advance(1)
    assert passes.keys() == ["a", "b"]


async def test_a_key_added_during_its_pass_runs_once_more_after_it(clock: VirtualClock, make_queue: MakeQueue) -> None:
    passes = Passes(clock)
    queue = make_queue(passes, max_in_flight=4)
    gate = await pass_under_way(passes, queue, "a")
    queue.add("a")
    queue.add("a")
    await clock.advance(1)
    assert passes.keys() == ["a"], "a second pass of a key began beside the first"
    gate.set()
    await clock.advance(1)
    assert passes.keys() == ["a", "a"]
    assert not passes.overlaps


async def test_passes_run_side_by_side_up_to_max_in_flight(clock: VirtualClock, make_queue: MakeQueue) -> None:
    passes = Passes(clock)
    queue = make_queue(passes, max_in_flight=3)
    keys = [f"k{i}" for i in range(10)]
    gate = passes.hold(*keys)
    for key in keys:
        queue.add(key)
    await clock.advance(1)
    assert len(passes.running) == 3
    gate.set()
    await clock.advance(1)
    assert sorted(passes.keys()) == sorted(keys)
    assert passes.most_in_flight == 3


async def test_add_after_runs_the_key_then_and_the_soonest_moment_wins(
    clock: VirtualClock, make_queue: MakeQueue
) -> None:
    passes = Passes(clock)
    queue = make_queue(passes)
    queue.add_after("a", 10)
    await clock.advance(9.9)
    assert passes.keys() == []
    await clock.advance(0.2)
    assert passes.times("a") == [pytest.approx(START + 10)]

    queue.add_after("b", 10)
    queue.add_after("b", 5)  # sooner: moves it
    queue.add_after("b", 20)  # later: changes nothing
    await clock.advance(30)
    assert passes.times("b") == [pytest.approx(START + 10.1 + 5)]


async def test_requeue_after_runs_again_then_and_counts_no_failure(clock: VirtualClock, make_queue: MakeQueue) -> None:
    passes = Passes(clock, lambda key, before: RequeueAfter(30) if before == 0 else Done())
    queue = make_queue(passes)
    queue.add("a")
    await clock.advance(29)
    assert passes.times("a") == [START]
    assert queue.failures("a") == 0
    await clock.advance(100)
    assert passes.times("a") == [START, pytest.approx(START + 30)]


async def test_failures_back_off_exponentially_up_to_the_cap_and_done_forgets_them(
    clock: VirtualClock, make_queue: MakeQueue
) -> None:
    passes = Passes(clock, failing(7))
    queue = make_queue(passes, backoff=Backoff(base=1.0, cap=8.0))
    queue.add("a")
    await clock.advance(30)
    assert queue.failures("a") == 6
    await clock.advance(30)
    gaps = [later - earlier for earlier, later in pairwise(passes.times("a"))]
    assert gaps == pytest.approx([1, 2, 4, 8, 8, 8, 8])
    assert queue.failures("a") == 0  # the eighth pass was done


async def test_forget_starts_the_backoff_again(clock: VirtualClock, make_queue: MakeQueue) -> None:
    passes = Passes(clock, failing(5))
    queue = make_queue(passes, backoff=Backoff(base=1.0, cap=8.0))
    queue.add("a")
    await clock.advance(3.5)  # passes at +0, +1, +3; the next is due at +7
    assert queue.failures("a") == 3
    queue.forget("a")
    assert queue.failures("a") == 0
    await clock.advance(10)
    assert passes.times("a")[:5] == pytest.approx([START + t for t in (0, 1, 3, 7, 8)])


async def test_jitter_spreads_keys_that_fail_together(clock: VirtualClock, make_queue: MakeQueue) -> None:
    passes = Passes(clock, failing(1))
    queue = make_queue(passes, backoff=Backoff(base=10.0, cap=100.0, jitter=0.4), draw=random.Random(7).random)
    keys = [f"k{i}" for i in range(20)]
    for key in keys:
        queue.add(key)
    await clock.advance(20)
    retries = [passes.times(key)[1] - START for key in keys]
    assert all(6.0 <= retry <= 10.0 for retry in retries), retries
    assert len(set(retries)) == len(keys)


async def test_many_failures_at_once_come_back_at_the_shared_rate(clock: VirtualClock, make_queue: MakeQueue) -> None:
    passes = Passes(clock, failing(1))
    queue = make_queue(
        passes, max_in_flight=10, backoff=Backoff(base=0.001, cap=1.0), requeue_rate=2.0, requeue_burst=3
    )
    for i in range(10):
        queue.add(f"k{i}")
    await clock.advance(10)
    retries = sorted(at - START for key, at in passes.started[10:])
    # the bucket's three saved tokens, then one every half second
    assert retries == pytest.approx([0.001] * 3 + [0.5 * n for n in range(1, 8)])


async def test_an_exception_in_a_pass_is_logged_once_and_the_worker_goes_on(
    clock: VirtualClock, make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    def result_of(key: str, before: int) -> Result:
        if key == "a" and before == 0:
            raise RuntimeError("the platform said no")
        return Done()

    passes = Passes(clock, result_of)
    queue = make_queue(passes, max_in_flight=1)
    with caplog.at_level(logging.ERROR, logger="vmop.engine.queue"):
        queue.add("a")
        queue.add("b")
        await clock.advance(0.5)
        assert queue.failures("a") == 1
        await clock.advance(5)
    assert passes.keys() == ["a", "b", "a"]
    assert queue.failures("a") == 0
    (record,) = caplog.records
    assert "the pass of a failed" in record.getMessage()
    assert record.exc_info is not None and "the platform said no" in str(record.exc_info[1])


async def test_keys_added_for_a_change_run_before_every_background_key(
    clock: VirtualClock, make_queue: MakeQueue
) -> None:
    passes = Passes(clock)
    queue = make_queue(passes, max_in_flight=1)
    gate = await pass_under_way(passes, queue, "busy")
    for key in ("look-1", "look-2"):
        queue.add(key, background=True)
    queue.add("create-1")
    queue.add("look-1")  # a change of a key waiting in the background: it moves up, and runs once
    queue.add("create-2")
    queue.add("create-1", background=True)  # a background add leaves a change where it is
    gate.set()
    await clock.advance(1)
    assert passes.keys() == ["busy", "create-1", "look-1", "create-2", "look-2"]


async def test_background_keys_wait_for_a_burst_of_changes_to_end_even_with_workers_free(
    clock: VirtualClock, make_queue: MakeQueue
) -> None:
    passes = Passes(clock)
    queue = make_queue(passes, max_in_flight=8)
    for index in range(20):  # a change every 0.5 s for 10 s
        queue.add(f"create-{index}")
        if index == 2:
            queue.add("look", background=True)
        await clock.advance(0.5)
    assert passes.times("look") == []
    await clock.advance(BACKGROUND_QUIET_SECONDS)
    assert passes.times("look") == [pytest.approx(START + 9.5 + BACKGROUND_QUIET_SECONDS)]

    queue.add("alone", background=True)  # no change for a while: it runs at once
    await clock.advance(0.01)
    assert passes.times("alone") == [pytest.approx(START + 10 + BACKGROUND_QUIET_SECONDS)]


async def test_a_background_key_waits_no_longer_than_the_hold_for_changes_that_never_stop(
    clock: VirtualClock, make_queue: MakeQueue
) -> None:
    passes = Passes(clock)
    queue = make_queue(passes, max_in_flight=8)
    queue.add("create")
    queue.add("resync", background=True)
    for index in range(int(2 * BACKGROUND_HOLD_SECONDS / 0.5)):
        queue.add(f"create-{index}")
        await clock.advance(0.5)
    assert passes.times("resync") == [pytest.approx(START + BACKGROUND_HOLD_SECONDS)]


async def test_requeues_of_polling_passes_do_not_hold_background_keys(
    clock: VirtualClock, make_queue: MakeQueue
) -> None:
    passes = Passes(clock, lambda key, before: RequeueAfter(0.5) if key.startswith("poll") else Done())
    queue = make_queue(passes, max_in_flight=8)
    for index in range(3):
        queue.add(f"poll-{index}")
        await clock.advance(0.2)
    await clock.advance(BACKGROUND_QUIET_SECONDS)
    queue.add("resync", background=True)
    await clock.advance(0.2)
    assert passes.times("resync") == [pytest.approx(START + 0.6 + BACKGROUND_QUIET_SECONDS)]


async def test_a_key_added_in_the_background_during_its_pass_runs_after_the_changes(
    clock: VirtualClock, make_queue: MakeQueue
) -> None:
    passes = Passes(clock)
    queue = make_queue(passes, max_in_flight=1)
    gate = await pass_under_way(passes, queue, "a")
    queue.add("a", background=True)
    queue.add("b")
    gate.set()
    await clock.advance(1)
    assert passes.keys() == ["a", "b", "a"]
    assert not passes.overlaps


async def test_a_requeue_for_news_waits_in_the_background_and_a_delayed_change_keeps_its_lane(
    clock: VirtualClock, make_queue: MakeQueue
) -> None:
    answers = {"news": RequeueAfter(5, background=True), "poll": RequeueAfter(5)}
    passes = Passes(clock, lambda key, before: answers.get(key, Done()) if before == 0 else Done())
    queue = make_queue(passes, max_in_flight=1)
    queue.add("news")
    queue.add("poll")
    await clock.advance(1)
    gate = await pass_under_way(passes, queue, "busy")
    await clock.advance(10)  # both requeues are due while "busy" runs
    queue.add_after("moved", 1, background=True)
    queue.add_after("moved", 2)  # later, but a change: its moment stays, its lane is the change's
    await clock.advance(10)
    gate.set()
    await clock.advance(1)
    assert passes.keys() == ["news", "poll", "busy", "poll", "moved", "news"]


async def test_resync_adds_every_key_once_a_period_spread_over_it(clock: VirtualClock, make_queue: MakeQueue) -> None:
    keys = [f"k{i:02}" for i in range(100)]
    passes = Passes(clock)
    make_queue(passes, resync=Resync(lambda: keys, period=10.0), draw=random.Random(3).random)
    await clock.advance(9.99)
    assert passes.started == [], "the first round comes one period after the start"
    await clock.advance(20)  # two rounds: [+10, +20) and [+20, +30)
    for round_begins in (START + 10, START + 20):
        round_ = [(key, at) for key, at in passes.started if round_begins <= at < round_begins + 10]
        assert [key for key, _ in round_] == keys  # each key once, in its own tenth of a second
        offsets = [at - round_begins - index * 0.1 for index, (_, at) in enumerate(round_)]
        assert all(0 <= offset < 0.1 for offset in offsets)
        assert len({round(offset, 6) for offset in offsets}) > 50, "no jitter inside the slots"


async def test_resync_keys_wait_in_the_background_for_changes(clock: VirtualClock, make_queue: MakeQueue) -> None:
    passes = Passes(clock)
    queue = make_queue(passes, max_in_flight=1, resync=Resync(lambda: ["r"], period=10.0))
    gate = await pass_under_way(passes, queue, "busy")
    await clock.advance(11)  # the resync added "r" at +10
    queue.add("edited")
    gate.set()
    await clock.advance(1)
    assert passes.keys() == ["busy", "edited", "r"]


async def test_resync_follows_the_key_source(clock: VirtualClock, make_queue: MakeQueue) -> None:
    keys = ["a", "b"]
    passes = Passes(clock)
    make_queue(passes, resync=Resync(lambda: keys, period=10.0))  # no jitter: slots begin at +0 and +5
    await clock.advance(16)
    keys[:] = ["b", "c"]
    await clock.advance(10)
    assert passes.keys() == ["a", "b", "b", "c"]


async def test_a_paused_queue_begins_no_pass_and_resume_runs_each_key_added_meanwhile_once(
    clock: VirtualClock, make_queue: MakeQueue
) -> None:
    passes = Passes(clock)
    queue = make_queue(passes, max_in_flight=2)
    gate = await pass_under_way(passes, queue, "running")
    queue.pause()
    assert queue.paused
    for key in ("a", "b", "a"):
        queue.add(key)
    await clock.advance(60)
    assert passes.keys() == ["running"], "no pass begins while paused"
    gate.set()
    await settle()
    assert passes.keys() == ["running"], "the pass under way ended; still none begins"
    queue.resume()
    await settle()
    assert sorted(passes.keys()) == ["a", "b", "running"]


async def test_shutdown_lets_a_pass_end_within_grace_and_drops_the_rest(
    clock: VirtualClock, make_queue: MakeQueue
) -> None:
    passes = Passes(clock)
    queue = make_queue(passes, max_in_flight=1)
    gate = await pass_under_way(passes, queue, "a")
    queue.add("b")
    queue.add_after("c", 1)
    stopping = asyncio.create_task(queue.shutdown(grace=10))
    await clock.advance(2)
    assert not stopping.done()
    gate.set()
    await clock.advance(1)
    assert stopping.done() and stopping.exception() is None
    queue.add("d")
    await clock.advance(10)
    assert passes.keys() == ["a"]
    assert passes.cancelled == []
    with pytest.raises(RuntimeError):
        queue.start()


async def test_shutdown_cancels_a_pass_past_grace(clock: VirtualClock, make_queue: MakeQueue) -> None:
    passes = Passes(clock)
    queue = make_queue(passes)
    passes.hold("a")
    queue.add("a")
    stopping = asyncio.create_task(queue.shutdown(grace=10))
    await clock.advance(9)
    assert not stopping.done()
    await clock.advance(2)
    assert stopping.done()
    assert passes.cancelled == ["a"]


# Property: whatever adds come and whatever passes answer (and however long they take), a key
# never runs twice at once, passes stay within max_in_flight, every add is followed by a pass of
# its key, and no pass runs without a cause (an add, or a requeue a pass asked for).

KEYS = st.sampled_from("abcd")
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), KEYS, st.just(0.0)),
        st.tuples(st.just("add_background"), KEYS, st.just(0.0)),
        st.tuples(st.just("add_after_background"), KEYS, st.floats(0, 5)),
        st.tuples(st.just("add_after"), KEYS, st.floats(0, 5)),
        st.tuples(st.just("advance"), st.just(""), st.floats(0, 3)),
    ),
    max_size=40,
)
ANSWERS = st.lists(
    st.tuples(st.floats(0, 2), st.sampled_from(["done", "requeue", "news", "failed", "raise"])), max_size=30
)


def answers_in_turn(answers: list[tuple[float, str]]) -> Iterator[tuple[float, str]]:
    yield from answers
    while True:
        yield 0.0, "done"


@settings(max_examples=60, deadline=None)
@given(operations=OPERATIONS, answers=ANSWERS, max_in_flight=st.integers(1, 3))
def test_any_adds_and_answers_run_every_key_after_its_adds_never_twice_at_once(
    operations: list[tuple[str, str, float]], answers: list[tuple[float, str]], max_in_flight: int
) -> None:
    asyncio.run(scenario(operations, answers, max_in_flight))


async def scenario(
    operations: list[tuple[str, str, float]], answers: list[tuple[float, str]], max_in_flight: int
) -> None:
    clock = VirtualClock()
    events: list[tuple[str, str]] = []  # ("add" | "start", key), in order
    running: set[str] = set()
    overlaps: list[str] = []
    most_in_flight = 0
    requeues = 0
    next_answer = answers_in_turn(answers)

    async def reconcile(key: str) -> Result:
        nonlocal most_in_flight, requeues
        if key in running:
            overlaps.append(key)
        running.add(key)
        most_in_flight = max(most_in_flight, len(running))
        events.append(("start", key))
        duration, answer = next(next_answer)
        try:
            await clock.sleep(duration)
        finally:
            running.discard(key)
        requeues += answer != "done"
        if answer == "raise":
            raise RuntimeError("a failing pass")
        answers = {"done": Done(), "requeue": RequeueAfter(1.0), "news": RequeueAfter(1.0, background=True)}
        return answers.get(answer, Failed())

    queue: WorkQueue[str] = WorkQueue(
        reconcile, max_in_flight=max_in_flight, clock=clock, backoff=Backoff(base=0.5, cap=4.0), draw=lambda: 0.5
    )
    queue.start()
    try:
        for operation, key, value in operations:
            if operation == "advance":
                await clock.advance(value)
                continue
            events.append(("add", key))
            if operation.startswith("add_after"):
                queue.add_after(key, value, background=operation.endswith("background"))
            else:
                queue.add(key, background=operation.endswith("background"))
        await clock.advance(1000)  # long past every backoff: all answers now are "done"
    finally:
        await queue.shutdown(grace=0)

    assert not overlaps
    assert most_in_flight <= max_in_flight
    for key in {key for _, key in events}:
        last_add = max(i for i, event in enumerate(events) if event == ("add", key))
        assert any(event == ("start", key) for event in events[last_add:]), f"an add of {key} never ran"
    adds = sum(kind == "add" for kind, _ in events)
    assert sum(kind == "start" for kind, _ in events) <= adds + requeues
