"""A shared, cached view of the platform's VMs: one paged list per (cluster, tenant) per refresh,
serving every VirtualMachine object, instead of one inspect per object per resync.

Notes written after vmop's own calls override older list entries until a list fetched later
arrives, so a stale page never makes vmop repeat a call it has just made.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from vmop.compute.client import ComputeClient
from vmop.compute.errors import ComputeError
from vmop.compute.models import ComputeInfo

Scope = tuple[str, str]  # (cluster uuid, tenant uuid)


@dataclass
class Snapshot:
    fetched_at: float
    by_uuid: dict[str, ComputeInfo]
    by_name: dict[str, list[ComputeInfo]] = field(default_factory=dict)
    # Entries of the list that could not be read (uuid, or "#index"): such a VM is not missing,
    # only unreadable; its object can say so instead of calling it lost.
    unreadable: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for vm in self.by_uuid.values():
            self.by_name.setdefault(vm.name, []).append(vm)


class Inventory:
    def __init__(
        self,
        client: ComputeClient,
        *,
        max_age: float,
        page_size: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._max_age = max_age
        self._page_size = page_size
        self._clock = clock
        self._snapshots: dict[Scope, Snapshot] = {}
        self._locks: dict[Scope, asyncio.Lock] = {}
        self._touched: dict[str, float] = {}  # vm uuid -> when vmop last changed it
        # The last failed list of each scope: (when it failed, its error).
        self._failures: dict[Scope, tuple[float, ComputeError]] = {}

    def now(self) -> float:
        return self._clock()

    @property
    def page_size(self) -> int:
        return self._page_size

    async def snapshot(
        self, scope: Scope, *, max_age: float | None = None, newer_than: float | None = None
    ) -> Snapshot:
        """The VMs of a scope, listed at most ``max_age`` seconds ago, or (``newer_than``) by a list
        that started after that moment. Concurrent callers share one refresh (single flight), so
        a burst of creates costs one list, not one each; and its failure: callers that waited
        for a list that failed get its error at once, not one retry run each after the other
        (during an outage that queue made objects wait for minutes)."""
        limit = self._max_age if max_age is None else max_age
        lock = self._locks.setdefault(scope, asyncio.Lock())
        arrived = self._clock()
        async with lock:
            failed = self._failures.get(scope)
            if failed is not None and failed[0] > arrived:  # it failed while this caller waited for it
                raise failed[1]
            current = self._snapshots.get(scope)
            if current is not None and (
                current.fetched_at > newer_than
                if newer_than is not None
                else self._clock() - current.fetched_at <= limit
            ):
                return current
            started = self._clock()
            try:
                listing = await self._client.list_all_vms(scope[0], scope[1], page_size=self._page_size)
            except ComputeError as error:
                self._failures[scope] = (self._clock(), error)
                raise
            self._failures.pop(scope, None)
            fresh = Snapshot(started, {vm.uuid: vm for vm in listing.domains}, unreadable=frozenset(listing.unreadable))
            self._snapshots[scope] = fresh
            return fresh

    def touched(self, vm_uuid: str) -> None:
        """vmop just changed this VM: list entries fetched before now are stale for it."""
        self._touched[vm_uuid] = self._clock()

    def is_fresh(self, snapshot: Snapshot, vm_uuid: str) -> bool:
        return snapshot.fetched_at > self._touched.get(vm_uuid, float("-inf"))

    def stale_since(self, vm_uuid: str, *, missing: bool) -> float:
        """The moment a list must have started after to be trusted about this VM: when vmop last
        changed it, or now when it is missing from the cached list. Passed as ``newer_than``, so that
        every pass waiting at the same time shares one list (a forced refresh per pass would list
        the whole scope once per object: O(N^2) when many VMs change at once)."""
        if missing or vm_uuid not in self._touched:
            return self._clock()
        return self._touched[vm_uuid]

    def invalidate(self, scope: Scope) -> None:
        self._snapshots.pop(scope, None)
