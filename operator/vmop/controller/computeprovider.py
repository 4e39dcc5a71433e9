"""A ComputeProvider's own pass: vmop's finalizer, a cheap look at its platform for the status
(compute/reach.py), and a deletion that waits while objects still use the provider, naming them.

Its platform is built by whichever pass needs it first (controller/platforms.py); this pass only
looks. It posts no Events: a cluster-scoped object's would go to the default namespace, where vmop
may post none. Its status and Ready condition say it all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vmop.api.annotations import FINALIZER
from vmop.compute.reach import reach
from vmop.controller.objects import ObjectView
from vmop.controller.passes import run_pass
from vmop.controller.platforms import Platforms
from vmop.controller.writes import ObjectWrites
from vmop.engine.queue import Done, RequeueAfter, Result
from vmop.engine.store import Key, Store
from vmop.reconcile.providers import Refusal, provider_status

log = logging.getLogger(__name__)

# A deletion waiting for its users looks again this often (their deletions take seconds each).
IN_USE_POLL_SECONDS = 5.0
MAX_USERS_SHOWN = 20  # status.inUseBy names at most this many, then says how many more

Users = Callable[[str], list[str]]  # a provider's name -> the objects using it ("Kind namespace/name")


def shown(users: list[str]) -> list[str]:
    if len(users) <= MAX_USERS_SHOWN:
        return users
    return [*users[:MAX_USERS_SHOWN], f"and {len(users) - MAX_USERS_SHOWN} more"]


@dataclass
class ComputeProviderPasses:
    platforms: Platforms
    providers: Store[ObjectView]
    users: Users
    writes: ObjectWrites
    clock: Callable[[], float] = time.time

    async def __call__(self, key: Key) -> Result:
        return await run_pass(self.providers.get(key), self._sync, self._delete)

    async def _look(self, provider: ObjectView, users: list[str]) -> dict[str, Any]:
        platform = await self.platforms.of(provider)
        seen = platform if isinstance(platform, Refusal) else await reach(platform.client)
        return provider_status(
            provider.status,
            seen,
            shown(users),
            deleting=provider.deleting,
            generation=provider.generation,
            now=self.clock(),
        )

    async def _write(self, provider: ObjectView, status: dict[str, Any]) -> None:
        if any(provider.status.get(key) != value for key, value in status.items()):
            await self.writes.status(provider, status)

    async def _sync(self, provider: ObjectView) -> Result:
        finalized = await self.writes.finalize(provider)
        await self._write(finalized, await self._look(finalized, []))
        return Done()  # the resync brings the next look

    async def _delete(self, provider: ObjectView) -> Result:
        if FINALIZER not in provider.finalizers:
            return Done()
        users = sorted(self.users(provider.name))
        if users:
            log.info("ComputeProvider %s: deletion waits: still used by %s", provider.name, ", ".join(shown(users)))
            await self._write(provider, await self._look(provider, users))
            return RequeueAfter(IN_USE_POLL_SECONDS)
        self.platforms.forget(provider.name)
        await self.writes.release(provider)
        return Done()
