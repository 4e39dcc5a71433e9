"""plan_virtual_machine: what to call on the platform for one VirtualMachine, and what to say.

Steps, in order (each small and in its own function):
1. resolve_identity: which platform VM this object is (known uuid, adopted, found after a crash
   mid-create, still to be created, lost, or a name conflict we refuse to guess about);
2. nothing while the platform runs an action on the VM (migrating, cloning, importing...);
3. plan_changes: shape differences, applied now when the doc allows it in the current state,
   otherwise listed as pending (RestartRequired), or a restart when updatePolicy asks for one;
4. plan_power_transition: one legal step towards the declared power state.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from vmop.api.conditions import Reason
from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.compute.models import ComputeIdentifier
from vmop.reconcile.calls import Call
from vmop.reconcile.changes import Change, Owned, plan_changes, recover_owned
from vmop.reconcile.create import assigned_vm_uuid, create_call
from vmop.reconcile.observed import Observed
from vmop.reconcile.power import PowerState, current_power, plan_power_transition

# A create is matched to a VM the platform made at most this long before vmop marked it pending
# (clock skew between the operator and the platform).
CREATE_MATCH_SKEW_SECONDS = 120.0
WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Memory:
    """What vmop keeps between passes (in status, and the uuid also in an annotation)."""

    uuid: str | None = None
    # Where the VM is, when a cross-cluster migration moved it away from spec.cluster/tenant.
    location: tuple[str, str] | None = None
    create_pending_since: float | None = None
    shutdown_requested_at: float | None = None
    owned: Owned = field(default_factory=lambda: Owned({}, {}))


@dataclass(frozen=True)
class Context:
    object_uid: str
    platform_name: str
    group: str | None  # the resolved platform group uuid, if one is declared
    now: float
    migration: str | None = None  # a VmMigration of this VM is in progress: hold still


IdentityKind = Literal["known", "adopted", "create", "conflict", "lost"]


@dataclass(frozen=True)
class Identity:
    kind: IdentityKind
    uuid: str | None
    message: str = ""


@dataclass(frozen=True)
class Verdict:
    """How the object stands, for its conditions and phase."""

    ready: bool
    ready_reason: str
    synced: bool | None  # None: decided after the calls ran (ok unless one fails)
    synced_reason: str
    message: str
    phase: str


@dataclass(frozen=True)
class Plan:
    calls: list[Call]
    memory: Memory
    verdict: Verdict
    pending_changes: list[str] = field(default_factory=list)
    requeue_after: float | None = None
    # The uuid to record before any call is made (create pending, adopted after a crash).
    persist_first: bool = False
    subject: Observed | None = None  # the platform VM this plan is about (e.g. the one just adopted)


def resolve_identity(
    spec: VirtualMachineSpec, memory: Memory, observed: Observed | None, same_name: list[Observed]
) -> Identity:
    """Which platform VM this object is. ``same_name`` are the VMs with its platform name in its
    cluster and tenant; ``observed`` is the VM with the remembered (or adopted) uuid, if found."""
    wanted = memory.uuid or (spec.adopt.uuid if spec.adopt else None)
    if wanted is not None:
        if observed is not None:
            return Identity("known", wanted)
        if memory.create_pending_since is not None and spec.adopt is None:
            return Identity("create", None)  # a template create's chosen uuid, not seen yet: retry it
        if spec.adopt is not None or not spec.recreate_on_loss:
            return Identity("lost", wanted, f"VM {wanted} no longer exists on the platform")
        return Identity("create", None, f"VM {wanted} disappeared from the platform; recreating it")
    if memory.create_pending_since is not None:
        since = memory.create_pending_since - CREATE_MATCH_SKEW_SECONDS
        made = [vm for vm in same_name if vm.created_at >= since]
        if len(made) == 1:
            return Identity("adopted", made[0].uuid, f"found VM {made[0].uuid} created before a restart")
        if len(made) > 1:
            uuids = ", ".join(sorted(vm.uuid for vm in made))
            return Identity("conflict", None, f"several VMs named alike appeared after the create: {uuids}")
        return Identity("create", None)
    if same_name:
        uuids = ", ".join(sorted(vm.uuid for vm in same_name))
        return Identity(
            "conflict",
            None,
            f"a VM with this name already exists on the platform ({uuids}); set "
            "spec.adopt.uuid to take it over, or choose another spec.name",
        )
    return Identity("create", None)


def _phase(vm: Observed) -> str:
    power = current_power(vm)
    if power == "Busy":
        return "Migrating" if vm.action == "migrating" else "Provisioning"
    return {
        "Running": "Running",
        "Stopped": "Stopped",
        "Suspended": "Suspended",
        "Hibernated": "Hibernated",
        "Sleeping": "Suspended",
        "ShuttingDown": "Running",
    }.get(power, "Failed")


def _identity_plan(identity: Identity, spec: VirtualMachineSpec, ctx: Context, memory: Memory) -> Plan | None:
    """Plans for objects without a usable platform VM; None when there is one to reconcile."""
    if identity.kind == "conflict":
        verdict = Verdict(False, Reason.CONFLICT, False, Reason.CONFLICT, identity.message, "Conflict")
        return Plan([], memory, verdict)
    if identity.kind == "lost":
        verdict = Verdict(False, Reason.LOST, False, Reason.LOST, identity.message, "Lost")
        return Plan([], memory, verdict)
    if identity.kind == "create":
        call = create_call(spec, name=ctx.platform_name, group=ctx.group, object_uid=ctx.object_uid)
        fresh = Memory(create_pending_since=ctx.now, owned=Owned({}, {}))
        if spec.template is not None:  # the uuid is ours to choose: remember it before the call
            fresh = replace(fresh, uuid=assigned_vm_uuid(ctx.object_uid))
        message = identity.message or f"creating {ctx.platform_name}"
        verdict = Verdict(False, Reason.CREATING, None, Reason.RECONCILED, message, "Creating")
        return Plan([call], fresh, verdict, persist_first=True)
    return None


def _split_changes(changes: list[Change], vm: Observed) -> tuple[list[Change], list[Change]]:
    """(apply now, pending): everything applies to a VM that is shut off; only hot changes to a
    running one; nothing to a VM that is paused, hibernated or in between."""
    power = current_power(vm)
    if power == "Stopped":
        return changes, []
    if power == "Running":
        return [c for c in changes if c.hot], [c for c in changes if not c.hot]
    return [], changes


def plan_virtual_machine(
    spec: VirtualMachineSpec,
    ctx: Context,
    memory: Memory,
    observed: Observed | None,
    same_name: list[Observed],
) -> Plan:
    identity = resolve_identity(spec, memory, observed, same_name)
    early = _identity_plan(identity, spec, ctx, memory)
    if early is not None:
        return early
    if identity.kind == "adopted":
        observed = next(vm for vm in same_name if vm.uuid == identity.uuid)
        memory = replace(memory, uuid=identity.uuid, create_pending_since=None)
    assert observed is not None
    memory = replace(memory, uuid=observed.uuid, create_pending_since=None)
    if spec.adopt is None and observed.shape is not None and not (memory.owned.disks or memory.owned.nics):
        memory = replace(memory, owned=recover_owned(spec, observed.shape))  # vmop made it; the record was lost
    return replace(_plan_observed(spec, ctx, memory, observed), subject=observed)


def _plan_observed(spec: VirtualMachineSpec, ctx: Context, memory: Memory, observed: Observed) -> Plan:
    if spec.adopt is not None and spec.adopt.observe_only:
        verdict = Verdict(
            current_power(observed) == spec.power_state,
            Reason.OBSERVE_ONLY,
            True,
            Reason.OBSERVE_ONLY,
            "observe-only: vmop reports this VM and never changes it",
            _phase(observed),
        )
        return Plan([], memory, verdict)
    if ctx.migration is not None:
        verdict = Verdict(
            current_power(observed) == spec.power_state,
            Reason.MIGRATING,
            None,
            Reason.MIGRATING,
            f"VmMigration {ctx.migration} is in progress: no power or shape changes",
            "Migrating",
        )
        return Plan([], memory, verdict, requeue_after=WAIT_SECONDS)
    if observed.busy:
        message = f"waiting for the platform's {observed.action} to finish"
        ready = observed.action == "migrating" and current_power(observed) == "Busy" and spec.power_state == "Running"
        verdict = Verdict(
            ready,
            Reason.MIGRATING if ready else Reason.WAITING_FOR_ACTION,
            None,
            Reason.WAITING_FOR_ACTION,
            message,
            _phase(observed),
        )
        return Plan([], memory, verdict, requeue_after=WAIT_SECONDS)
    return _plan_existing(spec, ctx, memory, observed)


def _plan_existing(spec: VirtualMachineSpec, ctx: Context, memory: Memory, vm: Observed) -> Plan:
    ident = ComputeIdentifier(cluster_uuid=vm.cluster, tenant=vm.tenant, compute_uuid=vm.uuid, compute_name=vm.name)
    changes, unsupported = plan_changes(spec, vm, ident, memory.owned, name=ctx.platform_name, group=ctx.group)
    now_changes, pending = _split_changes(changes, vm)
    desired: PowerState = spec.power_state
    restarting = bool(pending) and spec.update_policy == "Restart" and current_power(vm) == "Running"
    if restarting:
        desired = "Stopped"  # cold changes apply once it is off; the next pass starts it again
    step = plan_power_transition(
        desired,
        vm,
        shutdown_requested_at=memory.shutdown_requested_at,
        shutdown_timeout=spec.shutdown_timeout_seconds,
        now=ctx.now,
    )
    calls = [c.call for c in now_changes]
    if step.operation is not None:
        calls.append(Call(step.operation, ident, step.reason))
    if step.requests_shutdown:
        memory = replace(memory, shutdown_requested_at=ctx.now)
    elif current_power(vm) != "Running" or desired != "Stopped":  # off, or no longer wanted off
        memory = replace(memory, shutdown_requested_at=None)
    pending_fields = [c.field for c in pending]
    in_sync = current_power(vm) == spec.power_state and not calls
    if unsupported:
        message, synced_reason, synced = "; ".join(unsupported), Reason.UNSUPPORTED_CHANGE, False
    elif step.stuck:
        message, synced_reason, synced = step.reason, Reason.COMPUTE_ERROR, False
    elif restarting:
        message, synced_reason, synced = f"restarting to apply {', '.join(pending_fields)}", Reason.UPDATING, None
    elif pending_fields:
        message = f"applied at the next power cycle: {', '.join(pending_fields)}"
        synced_reason, synced = Reason.PENDING_CHANGES, None
    else:
        message, synced_reason, synced = (step.reason if calls else "in sync"), Reason.RECONCILED, None
    ready_reason = Reason.AVAILABLE if in_sync else Reason.POWERING
    verdict = Verdict(in_sync, ready_reason, synced, synced_reason, message, _phase(vm))
    requeue = WAIT_SECONDS if (step.waiting or step.operation == "shutdown" or restarting) else None
    return Plan(calls, memory, verdict, pending_fields, requeue)
