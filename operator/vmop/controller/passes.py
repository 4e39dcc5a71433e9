"""One pass of a key, per kind, as the engine's queue runs it: the newest view from the store ->
the kind's controller (observe, plan, perform) -> the writes -> what the queue does next.

- A pass adds vmop's finalizer before anything is made on the platform for its object, and
  removes it once the deletion is done: kopf writes nothing (handlers/ only watch).
- ``result_of``: transient failures and refusals back off (the queue's one backoff); a refusal
  of a call planned from an observation means that observation was stale or the platform busy,
  so the next pass looks again first; the doc names too few scodes to tell a lasting refusal
  apart. Other failures wait for the resync or a change. A platform mid-transition, or a look
  the pass asked for (a new VM's host and guest agent), comes back after its delay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from vmop import metrics
from vmop.api.annotations import (
    ANNOTATION_CREATE_PENDING,
    ANNOTATION_DELETION_POLICY,
    ANNOTATION_FORCE_RELEASE,
    FINALIZER,
)
from vmop.compute.errors import is_transient
from vmop.controller.kube import KubeError, NamespacePolicies
from vmop.controller.objects import ObjectView, Outcome, body_of
from vmop.controller.platforms import Platform, Platforms
from vmop.controller.relations import (
    BY_PARENT,
    BY_UUID,
    BY_VM,
    child_groups,
    claims,
    group_entries,
    group_uuid,
    migrations_of,
    named_uuids,
    parent_index,
    rivals,
    target_of,
    uuid_index,
    vm_index,
    vm_key,
)
from vmop.controller.virtualmachine import Relations, VirtualMachineController
from vmop.controller.vmgroup import VmGroupController
from vmop.controller.vmmigration import VmMigrationController
from vmop.controller.vmpool import VmPoolController
from vmop.controller.writes import ObjectGone, ObjectWrites, WriteFailed
from vmop.engine.freshness import PassHistory
from vmop.engine.queue import Done, Failed, RequeueAfter, Result
from vmop.engine.store import Key, Store
from vmop.reconcile.providers import Refusal, mismatch, refused_status

log = logging.getLogger(__name__)

# A deletion waits for a guest to stop in polls this far apart, holding its status and the Events
# of its calls in memory for up to STOP_WAIT_SECONDS: a guest stops in seconds, and a status write
# and an Event per call would triple a deletion's writes (bench/). Once done, its calls are told in
# one Event; past the wait, or on an error, the status (phase Deleting) and the Events are written.
STOP_POLL_SECONDS = 2.0
STOP_WAIT_SECONDS = 30.0
# Running migrations are polled this often (progress, outcome, timeout); progress is written at
# most once per poll and only when it moved a step (reconcile/vmmigration.py).
MIGRATION_POLL_SECONDS = 2.0
# Pending ones re-check their preconditions this often.
MIGRATION_PENDING_SECONDS = 5.0


def failed(failure: WriteFailed) -> Result:
    """A write the apiserver did not take: logged (an ERROR when vmop may not make it), retried."""
    log.log(logging.ERROR if failure.forbidden else logging.WARNING, "%s", failure)
    return Failed()


async def run_pass(
    obj: ObjectView | None,
    sync: Callable[[ObjectView], Awaitable[Result]],
    delete: Callable[[ObjectView], Awaitable[Result]],
) -> Result:
    """One pass of a key: its object's sync or deletion; an object gone meanwhile is done (the
    watch's deletion event follows), a write the apiserver did not take is retried."""
    if obj is None:
        return Done()
    try:
        return await (delete(obj) if obj.deleting else sync(obj))
    except ObjectGone:
        return Done()
    except WriteFailed as failure:
        return failed(failure)


async def released(writes: ObjectWrites, obj: ObjectView, events: list[tuple[str, str, str]]) -> Result:
    """The deletion is done: vmop's finalizer goes, then the Events of its calls."""
    await writes.release(obj)
    await writes.announce(obj, events)
    metrics.PHASES.set(writes.kind, obj.uid, None)
    return Done()


async def refuse(writes: ObjectWrites, obj: ObjectView, refusal: Refusal) -> None:
    """The object may not use its provider: Synced=False says why (a Warning Event once), and
    nothing is called on any platform. A change of the provider or of the object queues it again."""
    await writes.apply(obj, Outcome(refused_status(obj.status, refusal, now=time.time(), generation=obj.generation)))
    log.info("%s %s/%s: %s: %s", writes.kind, obj.namespace, obj.name, refusal.reason, refusal.message)


def stamped(outcome: Outcome, platform: Platform | None, obj: ObjectView) -> Outcome:
    """The provider the object's platform objects are on goes into the status it writes anyway."""
    if platform is not None and outcome.status is not None and obj.status.get("provider") != platform.name:
        outcome.status["provider"] = platform.name
    return outcome


async def platform_of(platforms: Platforms | None, obj: ObjectView) -> Platform | Refusal | None:
    """None: this process serves only its own platform (the controllers the passes were given)."""
    return await platforms.resolve(obj) if platforms is not None else None


def names_a_vm(vm: ObjectView) -> bool:
    """The VirtualMachine has (or may have) a platform VM: recorded, asked to adopt, or a create
    sent (its mark)."""
    return bool(named_uuids(vm) or ANNOTATION_CREATE_PENDING in vm.annotations or vm.status.get("createPendingSince"))


def result_of(outcome: Outcome) -> Result:
    if outcome.error is not None:
        return Failed() if is_transient(outcome.error) or outcome.error.refused else Done()
    delays = [delay for delay in (outcome.requeue_after, outcome.refresh_after) if delay is not None]
    # A look only for news waits in the background lane for every change queued (engine/queue.py).
    return RequeueAfter(min(delays), background=outcome.requeue_after is None) if delays else Done()


def record(kind: str, obj: ObjectView, outcome: Outcome, seconds: float) -> None:
    """Metrics for one pass: its result, its duration, and the object's phase afterwards."""
    result = "error" if outcome.error is not None else ("waiting" if outcome.requeue_after else "success")
    metrics.RECONCILES.labels(kind, result).inc()
    metrics.RECONCILE_SECONDS.labels(kind).observe(seconds)
    status = outcome.status if outcome.status is not None else obj.status
    metrics.PHASES.set(kind, obj.uid, status.get("phase"))


@dataclass
class Stores:
    """Each kind's store, with the indexes the passes look things up by."""

    vms: Store[ObjectView] = field(default_factory=lambda: Store({BY_UUID: uuid_index}))
    groups: Store[ObjectView] = field(default_factory=lambda: Store({BY_PARENT: parent_index}))
    migrations: Store[ObjectView] = field(default_factory=lambda: Store({BY_VM: vm_index}))
    pools: Store[ObjectView] = field(default_factory=Store)

    def relations(self, vm: ObjectView) -> Relations:
        return Relations(
            group=lambda name: group_uuid(self.groups, vm.namespace, name),
            claims=lambda uuid: claims(self.vms, uuid),
            migrations=migrations_of(self.migrations, vm.namespace, vm.name),
        )


@dataclass
class _Deleting:
    since: float
    status: dict[str, Any] | None = None  # not written yet
    events: list[tuple[str, str, str]] = field(default_factory=list)  # its warnings, not posted yet

    def held(self) -> list[tuple[str, str, str]]:
        events, self.events = self.events, []
        return events


@dataclass
class VirtualMachinePasses:
    controller: VirtualMachineController
    stores: Stores
    writes: ObjectWrites
    history: PassHistory[Key]
    policies: NamespacePolicies
    platforms: Platforms | None = None  # with ComputeProviders: each object's controller is its platform's
    _deleting: dict[Key, _Deleting] = field(default_factory=dict)

    async def __call__(self, key: Key) -> Result:
        obj = self.stores.vms.get(key)
        if obj is None:
            self._deleting.pop(key, None)
        return await run_pass(obj, self._sync, self._delete)

    async def _sync(self, obj: ObjectView) -> Result:
        started = time.monotonic()
        platform = await platform_of(self.platforms, obj)
        if isinstance(platform, Refusal):
            await refuse(self.writes, obj, platform)
            return Done()
        controller = platform.vms if platform is not None else self.controller
        fresh_after = self.history.list_needed_after(obj.key)
        # An object that names no VM yet gets the finalizer with its create mark, in one write.
        finalized = await self.writes.finalize(obj) if names_a_vm(obj) else obj
        outcome = await controller.sync(finalized, self.stores.relations(finalized), fresh_after=fresh_after)
        stamped(outcome, platform, obj)
        look_in = outcome.refresh_after if outcome.requeue_after is None else None  # a look only for news
        self.history.ended(obj.key, acted=outcome.acted, look_in=look_in)
        record("VirtualMachine", obj, outcome, time.monotonic() - started)
        latest = self.stores.vms.get(obj.key) or finalized  # after the create mark, if one was written
        if latest.deleting:  # deleted meanwhile: the status is the deletion's now
            outcome.status, outcome.requeue_after = None, None
        await self.writes.apply(finalized, outcome, latest)
        return result_of(outcome)

    async def _delete(self, obj: ObjectView) -> Result:
        if FINALIZER not in obj.finalizers:
            return Done()  # released already, or never vmop's
        force = obj.annotations.get(ANNOTATION_FORCE_RELEASE) == "true"
        platform = await platform_of(self.platforms, obj)
        if isinstance(platform, Refusal):
            if not force:
                await refuse(self.writes, obj, platform)
                return Failed()
            platform = None  # a force-release calls no platform: any controller lets it go
        controller = platform.vms if platform is not None else self.controller
        policy = None
        # A force-release needs nothing read: not even the namespace may stand in its way.
        if not obj.spec.get("deletionPolicy") and not force:
            policy = await self.policies.annotation(obj.namespace, ANNOTATION_DELETION_POLICY)
        deleting = self._deleting.setdefault(obj.key, _Deleting(time.monotonic()))
        seen = replace(obj, status=deleting.status) if deleting.status is not None else obj
        outcome = await controller.delete(
            seen, policy, self.stores.relations(seen), fresh_after=self.history.list_needed_after(obj.key)
        )
        self.history.ended(obj.key, acted=outcome.acted)
        deleting.events += outcome.events
        if outcome.done:
            self._deleting.pop(obj.key, None)
            return await released(self.writes, obj, deleting.held())
        deleting.status = outcome.status if outcome.status is not None else deleting.status
        waited = time.monotonic() - deleting.since
        if outcome.error is not None or waited >= STOP_WAIT_SECONDS:  # a person may look now: show it all
            if deleting.status is not None:
                await self.writes.status(obj, deleting.status)
                deleting.status = None
            await self.writes.announce(obj, deleting.held())
        if outcome.error is not None:
            log.warning("VirtualMachine %s/%s: deleting: %s", obj.namespace, obj.name, outcome.error)
            return Failed()
        if waited >= STOP_WAIT_SECONDS:
            log.info("VirtualMachine %s/%s: deleting: waiting for the platform", obj.namespace, obj.name)
        return RequeueAfter(outcome.requeue_after or STOP_POLL_SECONDS)


@dataclass
class VmGroupPasses:
    controller: VmGroupController
    stores: Stores
    writes: ObjectWrites
    platforms: Platforms | None = None

    async def __call__(self, key: Key) -> Result:
        return await run_pass(self.stores.groups.get(key), self._sync, self._delete)

    async def _sync(self, obj: ObjectView) -> Result:
        started = time.monotonic()
        platform = await platform_of(self.platforms, obj)
        if isinstance(platform, Refusal):
            await refuse(self.writes, obj, platform)
            return Done()
        controller = platform.groups if platform is not None else self.controller
        finalized = await self.writes.finalize(obj)
        outcome = stamped(await controller.sync(finalized, group_entries(self.stores.groups)), platform, obj)
        record("VmGroup", obj, outcome, time.monotonic() - started)
        await self.writes.apply(finalized, outcome, self.stores.groups.get(obj.key))
        return result_of(outcome)

    async def _delete(self, obj: ObjectView) -> Result:
        if FINALIZER not in obj.finalizers:
            return Done()
        platform = await platform_of(self.platforms, obj)
        if isinstance(platform, Refusal):
            await refuse(self.writes, obj, platform)
            return Failed()
        controller = platform.groups if platform is not None else self.controller
        outcome = await controller.delete(obj, child_groups(self.stores.groups, obj))
        if outcome.done:
            return await released(self.writes, obj, outcome.events)
        await self.writes.apply(obj, outcome)
        waiting = outcome.error or "waiting to delete (the Synced condition says for what)"
        log.log(
            logging.WARNING if outcome.error else logging.INFO, "VmGroup %s/%s: %s", obj.namespace, obj.name, waiting
        )
        return RequeueAfter(outcome.requeue_after) if outcome.requeue_after else Failed()


@dataclass
class VmMigrationPasses:
    controller: VmMigrationController
    stores: Stores
    writes: ObjectWrites
    platforms: Platforms | None = None

    async def __call__(self, key: Key) -> Result:
        return await run_pass(self.stores.migrations.get(key), self._sync, self._delete)

    async def _sync(self, obj: ObjectView) -> Result:
        started = time.monotonic()
        controller = await self._controller(obj)
        if isinstance(controller, Refusal):
            await refuse(self.writes, obj, controller)
            return Done()
        finalized = await self.writes.finalize(obj)
        outcome = await self._pass(controller, finalized, deleting=False)
        record("VmMigration", obj, outcome, time.monotonic() - started)
        await self.writes.apply(finalized, outcome, self.stores.migrations.get(obj.key))
        phase = (outcome.status or finalized.status).get("phase")
        if phase == "Running":
            return RequeueAfter(MIGRATION_POLL_SECONDS)
        if phase in (None, "Pending"):
            return RequeueAfter(MIGRATION_PENDING_SECONDS)
        return Done()

    async def _controller(self, obj: ObjectView) -> VmMigrationController | Refusal:
        """The controller of the migration's platform, which must be its VirtualMachine's."""
        platform = await platform_of(self.platforms, obj)
        if platform is None or isinstance(platform, Refusal):
            return platform or self.controller
        vm = self.stores.vms.get(vm_key(obj))
        theirs = self.platforms.home(vm) if self.platforms is not None and vm is not None else platform.name
        refusal = mismatch(platform.name, theirs) if isinstance(theirs, str) else None
        return refusal or platform.migrations

    async def _pass(self, controller: VmMigrationController, obj: ObjectView, *, deleting: bool) -> Outcome:
        vm = self.stores.vms.get(vm_key(obj))
        target = target_of(vm) if vm is not None else None
        return await controller.sync(obj, target, rivals(self.stores.migrations, obj), deleting=deleting)

    async def _delete(self, obj: ObjectView) -> Result:
        if FINALIZER not in obj.finalizers:
            return Done()
        controller = await self._controller(obj)
        if isinstance(controller, Refusal):
            if obj.annotations.get(ANNOTATION_FORCE_RELEASE) != "true":
                await refuse(self.writes, obj, controller)
                return Failed()
            controller = self.controller  # a force-release calls no platform
        outcome = await self._pass(controller, obj, deleting=True)
        if outcome.done:
            return await released(self.writes, obj, outcome.events)
        await self.writes.apply(obj, outcome)  # still running: the abort did not go through yet
        log.info("VmMigration %s/%s: aborting the migration", obj.namespace, obj.name)
        return Failed()


@dataclass
class VmPoolPasses:
    """A pool makes, changes and deletes VirtualMachine objects, never platform VMs, and needs no
    finalizer: Kubernetes' garbage collector deletes its VirtualMachines after it."""

    controller: VmPoolController
    stores: Stores
    writes: ObjectWrites

    async def __call__(self, key: Key) -> Result:
        pool = self.stores.pools.get(key)
        if pool is None or pool.deleting:
            return Done()
        started = time.monotonic()
        try:
            outcome = await self.controller.sync(body_of(pool))
        except KubeError as error:
            log.warning("VmPool %s/%s: pass failed: %s", pool.namespace, pool.name, error)
            return Failed()
        metrics.RECONCILE_SECONDS.labels("VmPool").observe(time.monotonic() - started)
        await self.writes.announce(pool, outcome.events)
        return RequeueAfter(outcome.requeue_after) if outcome.requeue_after else Done()
