"""Shard Leases (runtime/lease.py) against an in-memory Lease store with the apiserver's
optimistic concurrency, on a virtual clock: one holder per shard, a standby takes over after a
release or an expiry, and a change of shard count pauses everyone until the old Leases are gone."""

from __future__ import annotations

import copy
from typing import Any

from tests.support.clock import VirtualClock
from vmop.controller.kube import KubeError
from vmop.engine.shard import Shard
from vmop.runtime.lease import ShardLease

DURATION = 15.0


class Leases:
    """coordination.k8s.io Leases of one namespace: a PUT at a stale resourceVersion is a 409."""

    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}
        self.version = 0
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise KubeError(None, "ConnectError")

    def _store(self, body: dict[str, Any]) -> dict[str, Any]:
        self.version += 1
        body = copy.deepcopy(body)
        body["metadata"]["resourceVersion"] = str(self.version)
        self.stored[body["metadata"]["name"]] = body
        return copy.deepcopy(body)

    async def leases(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        self._check()
        label, _, value = selector.partition("=")
        return [copy.deepcopy(b) for b in self.stored.values() if b["metadata"]["labels"].get(label) == value]

    async def lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        found = self.stored.get(name)
        return copy.deepcopy(found) if found else None

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        if body["metadata"]["name"] in self.stored:
            raise KubeError(409, "Conflict")
        return self._store(body)

    async def replace_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._check()
        current = self.stored.get(body["metadata"]["name"])
        if current is None or current["metadata"]["resourceVersion"] != body["metadata"].get("resourceVersion"):
            raise KubeError(409, "Conflict")
        return self._store(body)

    def holder(self, name: str) -> str:
        return str(self.stored[name]["spec"]["holderIdentity"])


class Process:
    def __init__(self, leases: Leases, clock: VirtualClock, holder: str, shard: Shard) -> None:
        self.changes: list[bool] = []
        self.lease = ShardLease(
            leases, "vmop-system", "vmop", shard, clock, holder=holder, duration=DURATION, on_change=self.changes.append
        )

    @property
    def leading(self) -> bool:
        return self.lease.leading


async def test_one_process_per_shard_holds_its_lease_and_a_standby_takes_over_at_release() -> None:
    leases, clock = Leases(), VirtualClock()
    active, standby = (Process(leases, clock, holder, Shard(1, 0)) for holder in ("a", "b"))
    await active.lease.step()
    await standby.lease.step()
    assert active.leading and not standby.leading
    assert leases.holder("vmop-0") == "a"
    for _ in range(10):  # renewing: the standby never takes a Lease kept alive
        await clock.advance(3)
        await active.lease.step()
        await standby.lease.step()
    assert active.leading and not standby.leading
    await active.lease.release()
    assert active.changes == [True, False]
    await standby.lease.step()
    assert standby.leading and leases.holder("vmop-0") == "b"
    assert leases.stored["vmop-0"]["spec"]["leaseTransitions"] == 1


async def test_a_crashed_holders_lease_is_taken_once_unchanged_for_its_duration_on_the_standbys_clock() -> None:
    leases, clock = Leases(), VirtualClock()
    crashed, standby = Process(leases, clock, "a", Shard(1, 0)), Process(leases, clock, "b", Shard(1, 0))
    await crashed.lease.step()
    await standby.lease.step()  # first sight of a's record
    await clock.advance(DURATION - 1)
    await standby.lease.step()
    assert not standby.leading, "not yet expired by the standby's own clock"
    await clock.advance(1)
    await standby.lease.step()
    assert standby.leading and leases.holder("vmop-0") == "b"


async def test_a_holder_that_cannot_renew_stops_acting_before_its_lease_can_expire() -> None:
    leases, clock = Leases(), VirtualClock()
    holder = Process(leases, clock, "a", Shard(1, 0))
    await holder.lease.step()
    leases.down = True
    await clock.advance(3)
    await holder.lease.step()
    assert holder.leading, "one missed renewal: still within the deadline"
    await clock.advance(DURATION * 2 / 3)
    await holder.lease.step()
    assert not holder.leading and holder.changes == [True, False]
    leases.down = False
    await holder.lease.step()
    assert holder.leading, "it renews its own Lease again"


async def test_processes_with_another_shard_count_all_wait_until_the_old_leases_are_released() -> None:
    """1 -> 3 rolling out: while the process with --shards 1 holds its Lease, those with 3 wait,
    and it waits too once it sees them: some of its keys are theirs under the new count."""
    leases, clock = Leases(), VirtualClock()
    old = Process(leases, clock, "old", Shard(1, 0))
    new = [Process(leases, clock, f"new-{i}", Shard(3, i)) for i in range(3)]
    await old.lease.step()
    assert old.leading
    for process in new:
        await process.lease.step()
    assert [p.leading for p in new] == [False, False, False]
    await old.lease.step()
    assert not old.leading, "the old process sees Leases of another count held, and pauses"
    await old.lease.release()
    for process in new:
        await process.lease.step()
    assert [p.leading for p in new] == [True, True, True]
    assert {leases.holder(f"vmop-{i}") for i in range(3)} == {"new-0", "new-1", "new-2"}
    # ... and back to 1: the new single process waits for all three Leases to go.
    back = Process(leases, clock, "back", Shard(1, 0))
    for process in new[1:]:
        await process.lease.release()
    await back.lease.step()
    assert not back.leading, "shard 0's Lease is still held"
    await new[0].lease.release()
    await back.lease.step()
    assert back.leading


async def test_a_lease_of_another_count_left_by_a_crash_blocks_only_until_it_expires() -> None:
    leases, clock = Leases(), VirtualClock()
    crashed = Process(leases, clock, "crashed", Shard(3, 2))
    await crashed.lease.step()
    survivor = Process(leases, clock, "new", Shard(1, 0))
    await survivor.lease.step()
    assert not survivor.leading
    await clock.advance(DURATION)
    await survivor.lease.step()
    assert survivor.leading
