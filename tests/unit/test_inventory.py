"""The inventory's single flight: passes waiting at once share one list of a scope, and share its
failure too, rather than each waiting for a retry run of its own behind the others."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from vmop.compute.errors import ComputeUnavailable
from vmop.compute.inventory import Inventory
from vmop.compute.models import VmList

SCOPE = ("cluster", "tenant")


class SlowPlatform:
    """A list takes a while (a retry run); while ``down`` it then fails."""

    def __init__(self) -> None:
        self.lists = 0
        self.down = False

    async def list_all_vms(self, *_: Any, **__: Any) -> VmList:
        self.lists += 1
        await asyncio.sleep(0.05)
        if self.down:
            raise ComputeUnavailable("/v1/compute/list", "ConnectError")
        return VmList()


class Ticks:
    """A clock that moves on every read: each caller arrives, and each list starts, at its own moment."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def inventory(platform: SlowPlatform) -> Inventory:
    return Inventory(platform, max_age=0.0, clock=Ticks())  # type: ignore[arg-type]


async def test_passes_waiting_together_share_one_list() -> None:
    platform = SlowPlatform()
    shared = inventory(platform)
    await asyncio.gather(*(shared.snapshot(SCOPE, newer_than=0.0) for _ in range(10)))
    assert platform.lists == 1


async def test_passes_waiting_together_share_one_failure_and_a_later_pass_lists_again() -> None:
    platform = SlowPlatform()
    platform.down = True
    shared = inventory(platform)
    results = await asyncio.gather(*(shared.snapshot(SCOPE) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, ComputeUnavailable) for r in results), results
    assert platform.lists == 1, "each waiter listed (and retried) again, one after the other"
    platform.down = False
    await shared.snapshot(SCOPE)  # arrived after the failure: a list of its own
    assert platform.lists == 2


@pytest.mark.parametrize("down", [False, True])
async def test_a_lone_pass_lists_every_time_it_needs_to(down: bool) -> None:
    platform = SlowPlatform()
    platform.down = down
    shared = inventory(platform)
    for _ in range(3):
        with contextlib.suppress(ComputeUnavailable):
            await shared.snapshot(SCOPE)
    assert platform.lists == 3
