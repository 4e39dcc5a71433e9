"""plan_migration: what to call on the platform for one VmMigration, and what to say. Pure.

- Pending: waits, saying why, until its VirtualMachine has a platform VM that runs with no action
  and no other migration of that VM is active; then starts it (migrate, cross_cluster_migrate).
- Running: in flight while the platform shows the VM migrating; cancel, deletion and the timeout
  abort it (migrate/abort, cross_cluster_cancel). Once the VM no longer migrates, where it is
  decides: on the destination is success, anywhere else (or nowhere) is failure.
- Succeeded, Failed, Aborted: history. Nothing is read or called for it again.

At most once: the controller records the start before the start call, and a started migration is
never started again. After a crash right after the call the platform shows the VM migrating (in
flight) or settled (decided by where it is), so a migration is never run twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from vmop.api.conditions import SYNCED, Condition, LastError, Reason
from vmop.api.vmmigration import (
    COMPLETE,
    FAILED,
    FINISHED,
    UNSUCCESSFUL,
    Location,
    Phase,
    VmMigrationSpec,
    VmMigrationStatus,
)
from vmop.compute.errors import ComputeError, ComputeProtocolError, ComputeUnavailable
from vmop.compute.models import ComputeIdentifier
from vmop.compute.requests import CrossClusterMigrateRequest, MigrateRequest
from vmop.reconcile.calls import Call
from vmop.reconcile.conditions import set_condition
from vmop.reconcile.observed import Observed
from vmop.reconcile.status import last_error, parse_rfc3339, rfc3339

# Progress is written only when it moved forward by at least this many percent: with a poll every
# few seconds that is at most one status patch per step and poll.
PROGRESS_STEP = 5
DONE = 100

Event = tuple[str, str, str]  # (type, reason, message)
Hold = Literal["claim", "release"]


@dataclass(frozen=True)
class Target:
    """The VirtualMachine a migration names, as its object says (status and annotations)."""

    name: str
    uuid: str | None
    cluster: str | None
    tenant: str | None
    platform_name: str | None = None
    migration: str | None = None  # the VmMigration holding the VM (vmop.io/migration)
    uid: str = ""


@dataclass(frozen=True)
class Memory:
    """What a migration keeps between passes (status; the start time also in an annotation)."""

    started_at: float | None = None  # set before the start call; once set, never started again
    completed_at: float | None = None
    vm_uuid: str | None = None
    source: Location | None = None
    destination: Location | None = None
    progress: int = 0


@dataclass(frozen=True)
class Seen:
    """What the controller found for this pass."""

    target: Target | None  # None: no such VirtualMachine
    holder: str | None = None  # another active migration that holds the VM
    vm: Observed | None = None  # the VM where it was (the source cluster); None: not there
    arrived: Observed | None = None  # cross-cluster: the VM found in the destination cluster
    progress: int | None = None  # cross_cluster_pregress
    read_error: ComputeError | None = None  # the VM could not be read: decide nothing
    progress_error: ComputeError | None = None


@dataclass(frozen=True)
class Context:
    now: float
    deleting: bool = False  # the object is being deleted: abort, then let it go


@dataclass(frozen=True)
class Plan:
    phase: Phase
    reason: str  # of the Complete condition (and of Failed, once it failed)
    message: str
    memory: Memory
    calls: list[Call] = field(default_factory=list)
    starts: bool = False  # the call starts the migration: record the start first
    hold: Hold | None = None  # claim the VM before the calls, or release it after them
    moved_to: tuple[str, str] | None = None  # cross-cluster success: the VM's (cluster, tenant) now
    new_uuid: str | None = None  # ... and its uuid there, when the platform gave it a new one
    error: ComputeError | None = None  # the platform's words to show (lastError, Synced)
    events: list[Event] = field(default_factory=list)


def memory_from_status(status: VmMigrationStatus, started_annotation: str | None) -> Memory:
    """The annotation wins: it is written before the start call and survives a lost status."""
    return Memory(
        started_at=parse_rfc3339(started_annotation) or parse_rfc3339(status.start_time),
        completed_at=parse_rfc3339(status.completion_time),
        vm_uuid=status.vm_uuid,
        source=status.source,
        destination=status.destination,
        progress=status.progress or 0,
    )


def plan_migration(spec: VmMigrationSpec, phase: str | None, memory: Memory, seen: Seen, ctx: Context) -> Plan | None:
    """None for a finished migration: it is history, nothing is read, called or written."""
    if phase in FINISHED:
        return None
    if memory.started_at is None:
        return _plan_pending(spec, memory, seen, ctx)
    return _plan_running(spec, memory, seen, ctx)


def next_progress(previous: int, reported: int | None) -> int:
    """Never backwards, and only a whole step forward (throttles status writes). 100 is kept for
    the VM seen on its destination, whatever the platform's number says before."""
    if reported is None:
        return previous
    reported = min(reported, DONE - 1)
    return reported if reported >= previous + PROGRESS_STEP else previous


def after_call(plan: Plan, error: ComputeError | None, ctx: Context) -> Plan:
    """The plan once its call was made: a refused or lost call changes what it means."""
    if error is None:
        return plan
    operation = plan.calls[0].operation
    warning = ("Warning", Reason.COMPUTE_ERROR, f"{operation}: {error}")
    if not plan.starts:  # an abort that did not go through: still running, the next poll retries
        memory = replace(plan.memory, completed_at=None)
        return Plan("Running", Reason.MIGRATING, f"could not abort: {error}", memory, error=error, events=[warning])
    if not _answered(error):  # it may have reached the platform: where the VM goes decides
        return replace(plan, calls=[], hold=None, error=error, events=[warning])
    if error.transient:  # refused for now; nothing started, so starting later is safe
        memory = replace(plan.memory, started_at=None)
        message = f"the platform cannot start the migration now: {error}"
        return Plan("Pending", Reason.VM_NOT_READY, message, memory, hold="release", error=error, events=[warning])
    memory = replace(plan.memory, completed_at=ctx.now)
    message = f"the platform refused the migration: {error}"
    return Plan(
        "Failed",
        Reason.MIGRATION_FAILED,
        message,
        memory,
        hold="release",
        error=error,
        events=[("Warning", Reason.MIGRATION_FAILED, message)],
    )


def _answered(error: ComputeError) -> bool:
    """The platform answered with an scode, so it did not do what was asked. A lost connection or
    an unreadable answer says nothing about whether it did."""
    return not isinstance(error, ComputeUnavailable | ComputeProtocolError)


# ---------------------------------------------------------------- pending


def _plan_pending(spec: VmMigrationSpec, memory: Memory, seen: Seen, ctx: Context) -> Plan:
    memory = replace(memory, destination=_destination(spec, memory.source))
    name = spec.vm_ref.name
    if spec.cancel or ctx.deleting:
        why = "deleted" if ctx.deleting else "cancelled"
        return _finish(memory, "Aborted", Reason.ABORTED, f"{why} before it started", ctx, level="Normal")
    target = seen.target
    if target is None:
        if memory.vm_uuid is not None:  # it was there before: it is gone, not "not yet created"
            message = f"VirtualMachine {name} was deleted before the migration started"
            return _finish(memory, "Failed", Reason.VM_NOT_FOUND, message, ctx)
        return _wait(memory, Reason.VM_NOT_FOUND, f"VirtualMachine {name} not found")
    if not (target.uuid and target.cluster and target.tenant):
        return _wait(memory, Reason.VM_NOT_READY, f"VirtualMachine {name} has no VM on the platform yet")
    memory = replace(memory, vm_uuid=target.uuid)
    if seen.holder is not None:
        return _wait(memory, Reason.MIGRATION_ACTIVE, f"another migration {seen.holder} of {name} is active")
    if seen.read_error is not None:
        message = f"cannot read VM {target.uuid}: {seen.read_error}"
        return replace(_wait(memory, Reason.VM_NOT_READY, message), error=seen.read_error)
    vm = seen.vm
    if vm is None:
        return _wait(memory, Reason.VM_NOT_READY, f"VM {target.uuid} of {name} is not on the platform")
    source = Location(cluster=vm.cluster, tenant=vm.tenant, host=vm.host or None)
    memory = replace(memory, source=source, destination=_destination(spec, source))
    if vm.state != "running" or vm.action != "noaction":
        message = f"the VM is {vm.state} with action {vm.action}; migrating needs it running with no action"
        return _wait(memory, Reason.VM_NOT_READY, message)
    return _start(spec, memory, vm, ctx)


def _wait(memory: Memory, reason: str, message: str) -> Plan:
    """Pending holds nothing: a claim left from just before a crash or a refused start is let go."""
    return Plan("Pending", reason, message, memory, hold="release")


def _destination(spec: VmMigrationSpec, source: Location | None) -> Location:
    if spec.cross_cluster is not None:
        target = spec.cross_cluster
        return Location(cluster=target.cluster, tenant=target.tenant, host=target.host_uuid)
    return Location(
        cluster=source.cluster if source else None, tenant=source.tenant if source else None, host=spec.host
    )


def _start(spec: VmMigrationSpec, memory: Memory, vm: Observed, ctx: Context) -> Plan:
    ident = ComputeIdentifier(cluster_uuid=vm.cluster, tenant=vm.tenant, compute_uuid=vm.uuid, compute_name=vm.name)
    memory = replace(memory, started_at=ctx.now, progress=0)
    route = _route(memory)
    call: Call
    if spec.cross_cluster is not None:
        target = spec.cross_cluster
        request = CrossClusterMigrateRequest(
            **ident.model_dump(),
            destination_cluster=target.cluster,
            destination_host_uuid=target.host_uuid,
            destination_host_ip=target.host_ip,
            destination_tenant=target.tenant,
            pool_uuid=target.pool,
            zone_uuid=target.zone,
            object_group=target.group,
        )
        call = Call("cross_cluster_migrate", request, route)
    else:
        assert spec.host is not None  # the CRD requires host or crossCluster
        call = Call("migrate", MigrateRequest(**ident.model_dump(), destination=spec.host), route)
    events: list[Event] = [("Normal", Reason.MIGRATING, str(call))]
    return Plan("Running", Reason.MIGRATING, route, memory, [call], starts=True, hold="claim", events=events)


def _route(memory: Memory) -> str:
    source, destination = memory.source, memory.destination
    where = f"host {source.host}" if source else "its host"
    to = f"host {destination.host}" if destination else "the destination"
    if source and destination and source.cluster != destination.cluster:
        where, to = f"{where} (cluster {source.cluster})", f"{to} (cluster {destination.cluster})"
    return f"migrating from {where} to {to}"


# ---------------------------------------------------------------- running


def _plan_running(spec: VmMigrationSpec, memory: Memory, seen: Seen, ctx: Context) -> Plan:
    if seen.read_error is not None:  # unknown: change nothing, say why, look again
        message = f"cannot read the VM's state: {seen.read_error}"
        return Plan("Running", Reason.MIGRATING, message, memory, error=seen.read_error)
    vm = seen.vm
    if vm is not None and vm.action == "migrating":
        return _in_flight(spec, memory, vm, seen, ctx)
    return _settled(spec, memory, seen, ctx)


def _in_flight(spec: VmMigrationSpec, memory: Memory, vm: Observed, seen: Seen, ctx: Context) -> Plan:
    ident = ComputeIdentifier(cluster_uuid=vm.cluster, tenant=vm.tenant, compute_uuid=vm.uuid, compute_name=vm.name)
    operation = "cross_cluster_cancel" if spec.cross_cluster is not None else "migrate/abort"
    assert memory.started_at is not None
    if ctx.deleting or spec.cancel:
        why = "deleted" if ctx.deleting else "cancelled"
        abort = Call(operation, ident, why)
        message = f"{why} while running: aborted with {operation}"
        return _finish(memory, "Aborted", Reason.ABORTED, message, ctx, level="Normal", calls=[abort])
    if ctx.now - memory.started_at >= spec.timeout_seconds:
        message = f"timed out after {spec.timeout_seconds}s: aborted with {operation}"
        abort = Call(operation, ident, f"timed out after {spec.timeout_seconds}s")
        return _finish(memory, "Failed", Reason.TIMED_OUT, message, ctx, calls=[abort])
    reported = seen.progress if spec.cross_cluster is not None else None
    progress = next_progress(memory.progress, reported)
    return Plan(
        "Running", Reason.MIGRATING, _route(memory), replace(memory, progress=progress), error=seen.progress_error
    )


def _settled(spec: VmMigrationSpec, memory: Memory, seen: Seen, ctx: Context) -> Plan:
    arrived = _arrival(spec, seen)
    if arrived is not None:
        here = Location(cluster=arrived.cluster, tenant=arrived.tenant, host=arrived.host or None)
        memory = replace(memory, progress=DONE, destination=here)
        message = f"the VM runs on host {arrived.host}" + (
            f" in cluster {arrived.cluster}" if spec.cross_cluster is not None else ""
        )
        plan = _finish(memory, "Succeeded", Reason.SUCCEEDED, message, ctx, level="Normal")
        if spec.cross_cluster is None:
            return plan
        new_uuid = arrived.uuid if arrived.uuid != memory.vm_uuid else None
        return replace(plan, moved_to=(arrived.cluster, arrived.tenant), new_uuid=new_uuid)
    vm = seen.vm
    if vm is None:
        message = f"VM {memory.vm_uuid} no longer exists on the platform"
    else:
        message = (
            f"the VM is on host {vm.host} ({vm.state}, {vm.action}) and no longer migrating: "
            "the migration failed (or never reached the platform)"
        )
    return _finish(memory, "Failed", Reason.MIGRATION_FAILED, message, ctx, error=seen.progress_error)


def _arrival(spec: VmMigrationSpec, seen: Seen) -> Observed | None:
    """The VM, if it is where it was sent and the platform is done with it."""
    if spec.cross_cluster is not None:
        found = seen.arrived
        if found is not None and found.state == "running" and found.action == "noaction":
            return found
        return None
    vm = seen.vm
    return vm if vm is not None and vm.action == "noaction" and vm.host == spec.host else None


def _finish(
    memory: Memory,
    phase: Phase,
    reason: str,
    message: str,
    ctx: Context,
    *,
    level: str = "Warning",
    calls: list[Call] | None = None,
    error: ComputeError | None = None,
) -> Plan:
    memory = replace(memory, completed_at=ctx.now)
    return Plan(
        phase,
        reason,
        message,
        memory,
        calls or [],
        hold="release",
        error=error,
        events=[(level, reason, message)],
    )


# ---------------------------------------------------------------- status


def render_status(previous: VmMigrationStatus, plan: Plan, *, generation: int, now: float) -> VmMigrationStatus:
    """Pure: equal to ``previous`` when nothing worth writing changed (then nothing is written)."""
    when = rfc3339(now)
    conditions: list[Condition] = list(previous.conditions or [])
    # As a Job: Complete only on success, so `kubectl wait --for=condition=Complete` never passes a
    # migration that did not happen; Failed appears only once it failed.
    succeeded = plan.phase == "Succeeded"
    conditions = set_condition(
        conditions, COMPLETE, succeeded, plan.reason, plan.message, now=when, generation=generation
    )
    if plan.phase in UNSUCCESSFUL:
        conditions = set_condition(conditions, FAILED, True, plan.reason, plan.message, now=when, generation=generation)
    if plan.error is None:
        conditions = set_condition(conditions, SYNCED, True, Reason.RECONCILED, "", now=when, generation=generation)
    else:
        reason = Reason.UNAVAILABLE if isinstance(plan.error, ComputeUnavailable) else Reason.COMPUTE_ERROR
        conditions = set_condition(conditions, SYNCED, False, reason, str(plan.error), now=when, generation=generation)
    memory = plan.memory
    return previous.model_copy(
        update={
            "observed_generation": generation,
            "phase": plan.phase,
            "progress": memory.progress,
            "vm_uuid": memory.vm_uuid,
            "source": memory.source,
            "destination": memory.destination,
            "start_time": rfc3339(memory.started_at) if memory.started_at else None,
            "completion_time": rfc3339(memory.completed_at) if memory.completed_at else None,
            "message": plan.message,
            "conditions": conditions,
            "last_error": _last_error(previous, plan, now),
        }
    )


def _last_error(previous: VmMigrationStatus, plan: Plan, now: float) -> LastError | None:
    """The error of this pass (kept as it was while it repeats, so a poll does not rewrite it); a
    failed migration keeps the last error it saw as the likely cause."""
    if plan.error is None:
        return previous.last_error if plan.phase == "Failed" else None
    fresh = last_error(plan.error, now)
    kept = previous.last_error
    if kept is not None and (kept.scode, kept.message, kept.operation) == (fresh.scode, fresh.message, fresh.operation):
        return kept
    return fresh


def waiting_events(previous: VmMigrationStatus, plan: Plan) -> list[Event]:
    """One Event when a pending migration starts waiting for something else (not one per poll)."""
    if plan.phase != "Pending":
        return []
    before = next((c for c in previous.conditions or [] if c.type == COMPLETE), None)
    if before is not None and before.reason == plan.reason:
        return []
    return [("Normal", plan.reason, plan.message)]
