"""kopf wiring for VmPool: one loop per pool (a kopf daemon) that runs a pass, then sleeps until
the pool or one of its VirtualMachines changes, or its next look is due. Self-contained: the
pool's controller is built here on first use, from the client configuration vmop logged in with."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Any

import kopf
from kubernetes import client as k8s

from vmop.api import GROUP, VERSION
from vmop.controller.vmpool import KubePools, VmPoolController
from vmop.engine.backoff import PASS_BACKOFF
from vmop.handlers.objects import announce

RESOURCE = (GROUP, VERSION, "vmpools")
VMS = (GROUP, VERSION, "virtualmachines")
MEMO_KEY = "vm_pools"
log = logging.getLogger(__name__)


@dataclass
class Pools:
    controller: VmPoolController
    wakers: dict[str, asyncio.Event] = field(default_factory=dict)  # pool uid -> its loop's alarm

    def wake(self, uid: str) -> None:
        waker = self.wakers.get(uid)
        if waker is not None:
            waker.set()


def _pools(memo: kopf.Memo) -> Pools:
    pools: Pools | None = getattr(memo, MEMO_KEY, None)
    if pools is None:  # vmop's start-up loaded the client configuration (KubeAccess): reuse it
        api = k8s.ApiClient(k8s.Configuration.get_default_copy())
        pools = Pools(VmPoolController(KubePools(api)))
        setattr(memo, MEMO_KEY, pools)
    return pools


def _snapshot(body: kopf.Body) -> dict[str, Any]:
    """The pool as this pass reads it (a daemon's body is live: it changes under the pass)."""
    return {"metadata": dict(body.metadata), "spec": dict(body.spec), "status": dict(body.status)}


async def run(body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, **_: Any) -> None:
    pools = _pools(memo)
    uid = body.metadata.uid or ""
    waker = pools.wakers.setdefault(uid, asyncio.Event())
    resync: float = memo.runtime.config.resync_seconds
    failures = 0
    try:
        while not stopped:
            waker.clear()
            delay = resync
            try:
                outcome = await pools.controller.sync(_snapshot(body))
            except Exception as error:  # the apiserver refused or failed: back off, then look again
                failures += 1
                delay = PASS_BACKOFF.delay(failures, random.random())
                log.warning("%s/%s: pool pass failed: %s", body.metadata.namespace, body.metadata.name, error)
            else:
                failures = 0
                announce(outcome.events, body)
                delay = outcome.requeue_after or resync
            await _sleep(waker, stopped, delay)
    finally:
        pools.wakers.pop(uid, None)


async def _sleep(waker: asyncio.Event, stopped: kopf.DaemonStopped, delay: float) -> None:
    """Until the alarm, the daemon's stop, or ``delay`` seconds."""
    waits = [asyncio.ensure_future(waker.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def pool_changed(uid: str | None, memo: kopf.Memo, **_: Any) -> None:
    _pools(memo).wake(uid or "")


async def vm_changed(meta: kopf.Meta, memo: kopf.Memo, **_: Any) -> None:
    """A pool's VirtualMachine changed (made, Ready, deleted): its pool looks again."""
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == "VmPool" and ref.get("controller"):
            _pools(memo).wake(ref.get("uid", ""))


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.daemon(*RESOURCE, id="pool", registry=registry, cancellation_timeout=10.0)(run)
    kopf.on.event(*RESOURCE, id="pool-changed", registry=registry)(pool_changed)
    kopf.on.event(*VMS, id="pool-member-changed", registry=registry)(vm_changed)
