"""One VmMigration pass: see (its VirtualMachine, the platform VM) -> plan (pure) -> claim the VM,
record the start, call -> the status to show. No Kubernetes here: controller/passes.py runs it.

Crash safety: the VM is claimed (its vmop.io/migration annotation) and the start time written to
the VmMigration (vmop.io/migration-started) before the start call. From then on the migration is
only ever observed, aborted or finished, never started again: a restart right after the call finds
the VM migrating (in flight) or settled (success or failure by where it is).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from vmop.api.annotations import (
    ANNOTATION_FORCE_RELEASE,
    ANNOTATION_MIGRATION,
    ANNOTATION_MIGRATION_STARTED,
    ANNOTATION_UUID,
)
from vmop.api.vmmigration import FINISHED, CrossCluster, VmMigrationSpec, VmMigrationStatus
from vmop.compute.client import ComputeClient
from vmop.compute.dispatch import perform
from vmop.compute.errors import ComputeError
from vmop.compute.models import ComputeIdentifier
from vmop.compute.requests import ListQuery
from vmop.controller.objects import ObjectView, Outcome
from vmop.reconcile.observed import Observed, from_inspect, from_list
from vmop.reconcile.status import rfc3339
from vmop.reconcile.vmmigration import (
    Context,
    Memory,
    Plan,
    Seen,
    Target,
    after_call,
    memory_from_status,
    plan_migration,
    render_status,
    waiting_events,
)

log = logging.getLogger(__name__)

PLURAL = "vmmigrations"
VIRTUAL_MACHINES = "virtualmachines"

# (plural, namespace, name, annotations): KubeAccess.annotate
Annotate = Callable[[str, str, str, dict[str, str | None]], Awaitable[None]]
# (namespace, name, uid, status fields) of a VirtualMachine: where its VM is now, written to its status
HandOver = Callable[[str, str, str, dict[str, Any]], Awaitable[None]]
VmKey = tuple[str, str]  # (namespace, VirtualMachine name)


@dataclass
class VmMigrationController:
    client: ComputeClient
    annotate: Annotate
    hand_over: HandOver
    clock: Callable[[], float] = time.time
    # The migration holding each VM, from the claim on: the VM's annotation reaches the index a
    # moment later, and a second migration of the same VM must not slip in between.
    _claims: dict[VmKey, str] = field(default_factory=dict)

    async def sync(
        self, obj: ObjectView, target: Target | None, rivals: frozenset[str], *, deleting: bool = False
    ) -> Outcome:
        """``target``: the VirtualMachine (None: not found); ``rivals``: the other unfinished
        VmMigrations of the same VM. ``deleting``: abort if running; done once finished."""
        if deleting and obj.annotations.get(ANNOTATION_FORCE_RELEASE) == "true":
            return Outcome(None, events=[("Warning", "Released", "finalizer released without touching the platform")])
        spec = VmMigrationSpec.model_validate(obj.spec)
        previous, started = self._previous(obj)
        if previous.phase in FINISHED:  # history: not even read (plan_migration agrees)
            return Outcome(None)
        key = (obj.namespace, spec.vm_ref.name)
        ctx = Context(now=self.clock(), deleting=deleting)
        memory = memory_from_status(previous, started)
        seen = await self._see(spec, memory, target, self._holder(key, obj.name, target, rivals))
        plan = plan_migration(spec, previous.phase, memory, seen, ctx)
        if plan is None:
            return Outcome(None)
        if plan.hold == "claim":
            holder = self._claim(key, obj.name, target, rivals)
            if holder is not None:  # another migration of the VM claimed it while this one looked
                seen = Seen(seen.target, holder=holder)
                plan = plan_migration(spec, previous.phase, memory, seen, ctx)
                assert plan is not None
        plan = await self._act(obj, key, plan, target, ctx)
        status = render_status(previous, plan, generation=obj.generation, now=self.clock())
        annotations = {
            ANNOTATION_MIGRATION_STARTED: rfc3339(plan.memory.started_at) if plan.memory.started_at else None
        }
        body_status = VmMigrationStatus.model_validate(obj.status)
        return Outcome(
            None if status == body_status else status.model_dump(mode="json", by_alias=True),
            annotations=annotations,
            events=[*plan.events, *waiting_events(previous, plan)],
            error=plan.error,
            done=plan.phase in FINISHED,
        )

    def _previous(self, obj: ObjectView) -> tuple[VmMigrationStatus, str | None]:
        """The status and start mark as the engine's store has them: with this process's own
        writes, even before the watch echoes them."""
        return VmMigrationStatus.model_validate(obj.status), obj.annotations.get(ANNOTATION_MIGRATION_STARTED)

    # ------------------------------------------------------------ holding the VM

    def _holder(self, key: VmKey, name: str, target: Target | None, rivals: frozenset[str]) -> str | None:
        """Another unfinished migration that holds the VM. A claim left by a migration that is
        finished or gone (say, its finalizer was removed by hand) holds nothing."""
        for holder in (self._claims.get(key), target.migration if target else None):
            if holder is not None and holder != name and holder in rivals:
                return holder
        return None

    def _claim(self, key: VmKey, name: str, target: Target | None, rivals: frozenset[str]) -> str | None:
        """Claim the VM, or say who holds it. No await in here: check and claim are one step."""
        holder = self._holder(key, name, target, rivals)
        if holder is None:
            self._claims[key] = name
        return holder

    def _holds(self, key: VmKey, name: str, target: Target | None) -> bool:
        return self._claims.get(key) == name or (target is not None and target.migration == name)

    async def _act(self, obj: ObjectView, key: VmKey, plan: Plan, target: Target | None, ctx: Context) -> Plan:
        if plan.hold == "claim" and target is not None:
            await self.annotate(VIRTUAL_MACHINES, obj.namespace, target.name, {ANNOTATION_MIGRATION: obj.name})
        if plan.starts:
            started = rfc3339(ctx.now)
            await self.annotate(PLURAL, obj.namespace, obj.name, {ANNOTATION_MIGRATION_STARTED: started})
        error: ComputeError | None = None
        for call in plan.calls:
            try:
                await perform(self.client, call.operation, call.request)
            except ComputeError as failed:
                log.warning("%s/%s: %s failed: %s", obj.namespace, obj.name, call.operation, failed)
                error = failed
                break
        plan = after_call(plan, error, ctx)
        vm_annotations: dict[str, str | None] = {}
        if plan.moved_to is not None and target is not None:
            # Where the VM is now, with its uuid there, in one status write, while the migration
            # annotation still holds the VirtualMachine still: its next pass starts from there.
            cluster, tenant = plan.moved_to
            moved: dict[str, Any] = {"cluster": cluster, "tenant": tenant, "uuid": plan.new_uuid or target.uuid}
            await self.hand_over(obj.namespace, target.name, target.uid, moved)
            if plan.new_uuid is not None:
                vm_annotations[ANNOTATION_UUID] = plan.new_uuid
        holds = plan.hold == "release" and self._holds(key, obj.name, target)
        if holds:
            vm_annotations[ANNOTATION_MIGRATION] = None
        if vm_annotations and target is not None:
            await self.annotate(VIRTUAL_MACHINES, obj.namespace, target.name, vm_annotations)
        if holds:  # only once the annotation is gone, so the next claim cannot be overwritten
            self._claims.pop(key, None)
        return plan

    # ------------------------------------------------------------ observation

    async def _see(self, spec: VmMigrationSpec, memory: Memory, target: Target | None, holder: str | None) -> Seen:
        try:
            if memory.started_at is None:
                return await self._see_pending(target, holder)
            source = _source(memory, target)
            if source is None:  # neither the status nor the VirtualMachine says which VM: it is gone
                return Seen(target)
            return await self._see_running(spec, source, target)
        except ComputeError as error:
            return Seen(target, read_error=error)

    async def _see_pending(self, target: Target | None, holder: str | None) -> Seen:
        if target is None or holder is not None or not (target.uuid and target.cluster and target.tenant):
            return Seen(target, holder=holder)  # nothing to ask the platform yet
        ident = ComputeIdentifier(cluster_uuid=target.cluster, tenant=target.tenant, compute_uuid=target.uuid)
        return Seen(target, vm=await self._find(ident))

    async def _see_running(self, spec: VmMigrationSpec, ident: ComputeIdentifier, target: Target | None) -> Seen:
        vm = await self._find(ident)
        progress_error: ComputeError | None = None
        if vm is not None and vm.action == "migrating":
            if spec.cross_cluster is None:
                return Seen(target, vm=vm)
            try:
                return Seen(target, vm=vm, progress=await self.client.cross_cluster_progress(ident))
            except ComputeError as error:
                if error.transient:
                    return Seen(target, vm=vm, progress_error=error)
                progress_error = error
            vm = await self._find(ident)  # a failure the progress reports may have moved the VM back
            if vm is not None and vm.action == "migrating":
                return Seen(target, vm=vm, progress_error=progress_error)
        arrived = None
        if spec.cross_cluster is not None:
            arrived = await self._arrived(spec.cross_cluster, ident.compute_uuid, target)
        return Seen(target, vm=vm, arrived=arrived, progress_error=progress_error)

    async def _find(self, ident: ComputeIdentifier) -> Observed | None:
        """The VM, fresh from the platform; None if it is not there."""
        try:
            return from_inspect(await self.client.inspect(ident))
        except ComputeError as error:
            if error.transient:
                raise
            # Which scode means "no such VM" is the platform's to choose: ask the list instead.
            query = ListQuery(cluster_uuid=ident.cluster_uuid, tenant=ident.tenant, filter_uuid=ident.compute_uuid)
            if any(vm.uuid == ident.compute_uuid for vm in (await self.client.list_vms(query)).domains):
                raise
            return None

    async def _arrived(self, destination: CrossCluster, uuid: str, target: Target | None) -> Observed | None:
        """The VM in the destination cluster: by its uuid, or by its name should the platform have
        given it a new uuid there (only when exactly one VM has that name)."""
        found = await self._find(
            ComputeIdentifier(cluster_uuid=destination.cluster, tenant=destination.tenant, compute_uuid=uuid)
        )
        if found is not None or target is None or not target.platform_name:
            return found
        query = ListQuery(cluster_uuid=destination.cluster, tenant=destination.tenant, filter_name=target.platform_name)
        named = [vm for vm in (await self.client.list_vms(query)).domains if vm.name == target.platform_name]
        return from_list(named[0]) if len(named) == 1 else None


def _source(memory: Memory, target: Target | None) -> ComputeIdentifier | None:
    """The VM where the migration found it; from the VirtualMachine if the status lost it."""
    source = memory.source
    uuid = memory.vm_uuid or (target.uuid if target else None)
    cluster = (source.cluster if source else None) or (target.cluster if target else None)
    tenant = (source.tenant if source else None) or (target.tenant if target else None)
    if not (uuid and cluster and tenant):
        return None
    return ComputeIdentifier(cluster_uuid=cluster, tenant=tenant, compute_uuid=uuid)
