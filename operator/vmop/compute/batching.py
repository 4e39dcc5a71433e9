"""Starts, shutdowns and deletes asked for at about the same moment go out as one batch call.

A thousand VMs applied at once all ask to start within milliseconds of each other; the platform
has batch endpoints for exactly that (batch_start, batch_shutdown, batch_delete). Each caller
still awaits its own VM: its item's error is raised to it alone, and a call that came alone is
sent to the single endpoint as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from vmop.compute.client import BatchResults, ComputeClient
from vmop.compute.errors import ComputeProtocolError
from vmop.compute.models import BatchItem, ComputeIdentifier
from vmop.compute.requests import BatchDeleteRequest, DeleteRequest

IDENTITY = frozenset(ComputeIdentifier.model_fields)
# The batch endpoint of each operation, and the request options it carries for all its VMs.
OPTIONS: dict[str, tuple[str, ...]] = {
    "start": ("cloud_init",),
    "shutdown": (),
    "delete": ("real_delete", "is_delete_volumes"),
}
Key = tuple[str, str, str, tuple[Any, ...]]  # operation, cluster, tenant, option values


@dataclass
class _Pending:
    requests: list[ComputeIdentifier] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


class Batcher:
    def __init__(self, client: ComputeClient, *, window: float = 0.01, max_size: int = 100) -> None:
        """``window``: how long the first call of a batch waits for others; ``max_size``: VMs per batch."""
        self._client = client
        self._window = window
        self._max_size = max_size
        self._pending: dict[Key, _Pending] = {}
        self._sending: set[asyncio.Task[None]] = set()  # the loop keeps tasks only weakly

    def takes(self, operation: str, request: object) -> bool:
        """Whether this call may join a batch: only the options the batch endpoint carries for all."""
        if operation not in OPTIONS or not isinstance(request, ComputeIdentifier):
            return False
        fields = type(request).model_fields
        extra = set(fields) - IDENTITY - set(OPTIONS[operation])
        return all(getattr(request, name) == fields[name].default for name in extra)

    async def submit(self, operation: str, request: ComputeIdentifier) -> None:
        options = tuple(getattr(request, name, False) for name in OPTIONS[operation])
        key = (operation, request.cluster_uuid, request.tenant, options)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending()
            asyncio.get_running_loop().call_later(self._window, self._flush, key, pending)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pending.requests.append(request)
        pending.waiters.append(waiter)
        if len(pending.requests) >= self._max_size:
            self._flush(key, pending)
        await waiter

    def _flush(self, key: Key, pending: _Pending) -> None:
        if self._pending.get(key) is not pending:
            return  # sent already (full before its window ended)
        del self._pending[key]
        task = asyncio.get_running_loop().create_task(self._send(key[0], key[3], pending))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, operation: str, options: tuple[Any, ...], pending: _Pending) -> None:
        try:
            try:
                errors = await self._outcomes(operation, options, pending.requests)
            except Exception as error:  # the whole call failed: so did each VM's part of it
                errors = [error] * len(pending.requests)
            for waiter, outcome in zip(pending.waiters, errors, strict=True):
                _settle(waiter, outcome)
        finally:  # cancelled (the operator stops): no caller waits forever
            for waiter in pending.waiters:
                if not waiter.done():
                    waiter.cancel()

    async def _outcomes(
        self, operation: str, options: tuple[Any, ...], requests: list[ComputeIdentifier]
    ) -> list[Exception | None]:
        """Each request's error, or None where its VM's part succeeded."""
        if len(requests) == 1:
            await self._single(operation, requests[0])
            return [None]
        vms = [ComputeIdentifier.of(request) for request in requests]
        results = await self._batch(operation, vms, dict(zip(OPTIONS[operation], options, strict=True)))
        by_uuid = {item.data.compute_uuid: item.error for item in results.items if item.data is not None}
        missing = ComputeProtocolError(f"batch_{operation}", "the platform answered nothing about this VM")
        return [by_uuid.get(r.compute_uuid, missing) for r in requests]

    def _single(self, operation: str, request: ComputeIdentifier) -> Awaitable[None]:
        if operation == "delete" and isinstance(request, DeleteRequest):
            return self._client.delete(request)
        if operation == "start":
            return self._client.start(ComputeIdentifier.of(request), cloud_init=getattr(request, "cloud_init", False))
        single: Callable[[ComputeIdentifier], Awaitable[None]] = getattr(self._client, operation)
        return single(ComputeIdentifier.of(request))

    def _batch(
        self, operation: str, vms: list[ComputeIdentifier], options: dict[str, Any]
    ) -> Awaitable[BatchResults[BatchItem]]:
        if operation == "start":
            return self._client.batch_start(vms, **options)
        if operation == "delete":
            return self._client.batch_delete(BatchDeleteRequest(vms=vms, **options))
        return self._client.batch_shutdown(vms)


def _settle(waiter: asyncio.Future[None], error: Exception | None) -> None:
    if waiter.done():  # its caller gave up (cancelled): nobody to tell
        return
    if error is None:
        waiter.set_result(None)
    else:
        waiter.set_exception(error)
