"""plan_virtual_machine: what to call on the platform for one VirtualMachine, and what to say.

Steps, in order (each small and in its own function):
1. resolve_identity: which platform VM this object is (known uuid, adopted, found after a crash
   mid-create, still to be created, lost, or a name conflict we refuse to guess about);
2. nothing while the platform runs an action on the VM (migrating, cloning, importing...);
3. plan_changes: shape differences, applied now when the doc allows it in the current state,
   otherwise listed as pending (RestartRequired), or a restart when updatePolicy asks for one;
4. plan_power_transition: one legal step towards the declared power state;
5. plan_restart: a vmop.io/restart request, answered with one reboot of the running VM.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from pydantic import ValidationError

from vmop.api.annotations import ANNOTATION_CONFIRM_RECREATE, ANNOTATION_RESTART
from vmop.api.conditions import Reason
from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.compute.models import ComputeIdentifier
from vmop.compute.requests import BalloonSetRequest, CloudInitSetRequest, GraphicsPasswordSetRequest, StartRequest
from vmop.reconcile.calls import Call
from vmop.reconcile.changes import (
    Change,
    Owned,
    held_passthrough,
    match_adopted,
    matched_usb,
    memory_bytes,
    plan_changes,
    recover_owned,
)
from vmop.reconcile.create import assigned_vm_uuid, create_call
from vmop.reconcile.drift import list_suggests_drift
from vmop.reconcile.invalid import invalid_spec_message
from vmop.reconcile.observed import Observed
from vmop.reconcile.power import PowerState, current_power, plan_power_transition
from vmop.reconcile.secrets import SecretInputs, cloud_init_digest, password_digest

# A create is matched to a VM the platform made at most this long before vmop marked it pending
# (clock skew between the operator and the platform).
CREATE_MATCH_SKEW_SECONDS = 120.0
WAIT_SECONDS = 5.0
# After vmop created a VM, its host and guest agent are looked for this long, first after 2 s, then
# after as long again as it has been since the create (4 s, 8 s, ...): not only at the next resync.
BOOT_WATCH_SECONDS = 120.0
BOOT_LOOK_SECONDS = 2.0
# A restart request waiting for the guest agent looks again this often.
AGENT_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Memory:
    """What vmop keeps between passes (in status, and the uuid also in an annotation)."""

    uuid: str | None = None
    # Where the VM is (cluster, tenant), as last seen: it differs from spec after a cross-cluster
    # migration. One place: status.cluster/tenant.
    location: tuple[str, str] | None = None
    create_pending_since: float | None = None
    shutdown_requested_at: float | None = None
    owned: Owned = field(default_factory=lambda: Owned({}, {}))
    lost_since: float | None = None  # first seen missing everywhere it may be
    last_created_at: float | None = None  # when vmop last created a VM for this object
    # sha256 digests (reconcile/secrets.py) of what the platform was last given from Secrets.
    cloud_init_digest: str | None = None
    # The digest of what cloud_init/get answered first after vmop's set: the platform's form of it.
    cloud_init_shown: str | None = None
    console_password_digest: str | None = None
    balloon: int | None = None  # bytes of the last balloon/set (the platform does not show it)
    restart_handled: str | None = None  # the vmop.io/restart value last answered


@dataclass(frozen=True)
class Safety:
    """How long identity doubts are given to settle before a create (operator settings)."""

    # A create whose outcome is unknown (crash with the mark set, request timed out) may still be
    # finished by the platform: no second create before this long after the first was sent.
    create_grace: float = 120.0
    # A VM missing from every cluster it may be in is recreated only when a second observation,
    # this long after the first, still misses it.
    loss_confirmation: float = 60.0
    # A second create for an object that created one this recently waits for a person (0: off).
    duplicate_guard: float = 3600.0


@dataclass(frozen=True)
class Context:
    object_uid: str
    platform_name: str
    group: str | None  # the resolved platform group uuid, if one is declared
    now: float
    migration: str | None = None  # a VmMigration of this VM is in progress: hold still
    safety: Safety = field(default_factory=Safety)
    # Why the VM's whereabouts are in doubt besides what the platform shows (a VmMigration of it
    # unfinished or just finished): never create meanwhile.
    migration_doubt: str | None = None
    managed_by: str | None = None  # another object that manages the wanted VM ("namespace/name")
    recreate_confirmed: str | None = None  # the lost uuid a person confirmed may be replaced
    taken: frozenset[str] = frozenset()  # uuids other objects manage: never adopted by this one
    secrets: SecretInputs = field(default_factory=SecretInputs)  # read from the spec's Secrets
    restart_request: str | None = None  # the vmop.io/restart annotation


IdentityKind = Literal["known", "adopted", "create", "conflict", "lost", "doubt", "managed", "guarded"]


@dataclass(frozen=True)
class Identity:
    kind: IdentityKind
    uuid: str | None
    message: str = ""
    wait: float | None = None  # doubt and lost: look again after this long


@dataclass(frozen=True)
class Verdict:
    """How the object stands, for its conditions and phase."""

    ready: bool
    ready_reason: str
    synced: bool | None  # None: decided after the calls ran (ok unless one fails)
    synced_reason: str
    message: str
    phase: str
    ready_message: str = ""  # Ready's own message, when it says more than ``message``


@dataclass(frozen=True)
class Plan:
    calls: list[Call]
    memory: Memory
    verdict: Verdict
    pending_changes: list[str] = field(default_factory=list)
    requeue_after: float | None = None
    # Nothing to wait for, only news to pick up (a new VM's host and guest agent): the next resync
    # may come this soon. Not a retry of a change handler: kopf records each of those in a write.
    refresh_after: float | None = None
    # The uuid to record before any call is made (create pending, adopted after a crash).
    persist_first: bool = False
    subject: Observed | None = None  # the platform VM this plan is about (e.g. the one just adopted)
    # The view had no details (the list, or a create's answer) and the list cannot confirm what the
    # spec declares (devices it does not show, values it differs in): read them before saying in sync.
    needs_details: bool = False


def wanted_uuid(spec: VirtualMachineSpec, memory: Memory) -> str | None:
    """The platform VM this object is about: the one it recorded, else the one it asks to adopt."""
    return memory.uuid or (spec.adopt.uuid if spec.adopt else None)


def resolve_identity(
    spec: VirtualMachineSpec,
    memory: Memory,
    observed: Observed | None,
    same_name: list[Observed],
    ctx: Context,
) -> Identity:
    """Which platform VM this object is. ``same_name``: the VMs with its platform name in every
    cluster it may be in; ``observed``: the VM with the remembered (or adopted) uuid, if found
    anywhere it may be. A create is chosen only when no doubt is left."""
    wanted = wanted_uuid(spec, memory)
    if ctx.managed_by is not None:
        return Identity("managed", wanted, f"VM {wanted} is managed by VirtualMachine {ctx.managed_by}")
    if wanted is not None and observed is not None:
        return Identity("known", wanted)
    if memory.create_pending_since is not None and spec.adopt is None:
        return _after_unknown_create(memory.create_pending_since, same_name, ctx)
    if wanted is None:
        if same_name:
            uuids = ", ".join(sorted(vm.uuid for vm in same_name))
            return Identity(
                "conflict",
                None,
                f"a VM with this name already exists on the platform ({uuids}); set "
                "spec.adopt.uuid to take it over, or choose another spec.name",
            )
        return Identity("create", None)
    return _after_loss(spec, wanted, memory, same_name, ctx)


def _after_unknown_create(pending_since: float, same_name: list[Observed], ctx: Context) -> Identity:
    """A create was sent and its outcome is not known: adopt what it made, else wait out the
    grace period (the platform may still be executing it), then create again."""
    since = pending_since - CREATE_MATCH_SKEW_SECONDS
    made = [vm for vm in same_name if vm.created_at >= since and vm.uuid not in ctx.taken]
    if len(made) == 1:
        return Identity("adopted", made[0].uuid, f"found VM {made[0].uuid} made by a create whose answer was lost")
    if len(made) > 1:
        uuids = ", ".join(sorted(vm.uuid for vm in made))
        return Identity("conflict", None, f"several VMs named alike appeared after the create: {uuids}")
    left = pending_since + ctx.safety.create_grace - ctx.now
    if left > 0:
        return Identity(
            "doubt",
            None,
            f"the create sent at {_clock(pending_since)} has no known outcome; the platform may still finish "
            f"it: looking again before creating, in {left:.0f} s",
            wait=min(left, WAIT_SECONDS * 2),
        )
    return Identity("create", None, "no VM appeared from the create with no known outcome; creating again")


def _after_loss(
    spec: VirtualMachineSpec, wanted: str, memory: Memory, same_name: list[Observed], ctx: Context
) -> Identity:
    """The remembered VM is missing from every cluster it may be in."""
    if spec.adopt is not None or not spec.recreate_on_loss:
        return Identity("lost", wanted, f"VM {wanted} no longer exists on the platform")
    if ctx.migration_doubt is not None:
        return Identity("doubt", wanted, f"VM {wanted} is not where it was: {ctx.migration_doubt}", wait=WAIT_SECONDS)
    if same_name:
        found = ", ".join(sorted(f"{vm.uuid} in cluster {vm.cluster}" for vm in same_name))
        return Identity(
            "doubt",
            wanted,
            f"VM {wanted} is missing, but VMs with its name exist ({found}): not recreating; set "
            "spec.adopt.uuid to take one over, or delete it",
            wait=ctx.safety.loss_confirmation,
        )
    lost_since = memory.lost_since if memory.lost_since is not None else ctx.now
    left = lost_since + ctx.safety.loss_confirmation - ctx.now
    if left > 0:
        return Identity("lost", wanted, f"VM {wanted} disappeared from the platform; recreating in {left:.0f} s", left)
    guard = ctx.safety.duplicate_guard
    if (
        memory.last_created_at is not None
        and ctx.now - memory.last_created_at < guard
        and ctx.recreate_confirmed != wanted
    ):
        return Identity(
            "guarded",
            wanted,
            f"VM {wanted} disappeared, and vmop created this object's VM at {_clock(memory.last_created_at)}, less "
            f"than {guard:.0f} s ago: a second create waits for a person (annotate "
            f"{ANNOTATION_CONFIRM_RECREATE}={wanted} to allow it)",
        )
    return Identity("create", None, f"VM {wanted} disappeared from the platform; recreating it")


def _clock(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _phase(vm: Observed) -> str:
    power = current_power(vm)
    if power == "Busy":
        return "Migrating" if vm.action == "migrating" else "Provisioning"
    return {
        "Running": "Running",
        "Stopped": "Stopped",
        "Suspended": "Suspended",
        "Hibernated": "Hibernated",
        "ShuttingDown": "Running",
    }.get(power, "Failed")


def _identity_plan(identity: Identity, spec: VirtualMachineSpec, ctx: Context, memory: Memory) -> Plan | None:
    """Plans for objects without a usable platform VM; None when there is one to reconcile."""
    if identity.kind in ("known", "adopted"):
        return None
    if identity.kind == "create":
        call = create_call(
            spec, name=ctx.platform_name, group=ctx.group, object_uid=ctx.object_uid, cloud_init=ctx.secrets.cloud_init
        )
        fresh = Memory(
            create_pending_since=ctx.now,
            owned=Owned({}, {}),
            last_created_at=memory.last_created_at,
            restart_handled=memory.restart_handled,  # a request made before the VM existed is not answered later
        )
        if spec.template is not None:  # the uuid is ours to choose: remember it before the call
            fresh = replace(fresh, uuid=assigned_vm_uuid(ctx.object_uid))
        message = identity.message or f"creating {ctx.platform_name}"
        verdict = Verdict(False, Reason.CREATING, None, Reason.CREATING, message, "Creating")
        return Plan([call], fresh, verdict, persist_first=True)
    creating = memory.create_pending_since is not None
    if identity.kind in ("lost", "doubt", "guarded") and not creating:  # the remembered VM is missing: since when
        memory = replace(memory, lost_since=memory.lost_since or ctx.now)
    reason, phase = {
        "conflict": (Reason.CONFLICT, "Conflict"),
        "lost": (Reason.LOST, "Lost"),
        "managed": (Reason.ALREADY_MANAGED, "Conflict"),
        "guarded": (Reason.DUPLICATE_GUARD, "Lost"),
        "doubt": (Reason.CREATE_IN_DOUBT, "Creating") if creating else (Reason.IDENTITY_IN_DOUBT, "Lost"),
    }[identity.kind]
    verdict = Verdict(False, reason, False, reason, identity.message, phase)
    return Plan([], memory, verdict, requeue_after=identity.wait)


def _split_changes(changes: list[Change], vm: Observed) -> tuple[list[Change], list[Change]]:
    """(apply now, pending): everything applies to a VM that is shut off but what needs it running;
    only hot changes to a running one; nothing to a VM that is paused, hibernated or in between."""
    power = current_power(vm)
    if power == "Stopped":
        return [c for c in changes if not c.needs_running], [c for c in changes if c.needs_running]
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
    try:
        return _plan_virtual_machine(spec, ctx, memory, observed, same_name)
    except ValidationError as error:  # a request the spec cannot make: say so, call nothing
        phase = _phase(observed) if observed is not None else "Pending"
        verdict = Verdict(False, Reason.INVALID_SPEC, False, Reason.INVALID_SPEC, invalid_spec_message(error), phase)
        return Plan([], memory, verdict, subject=observed)


def _plan_virtual_machine(
    spec: VirtualMachineSpec,
    ctx: Context,
    memory: Memory,
    observed: Observed | None,
    same_name: list[Observed],
) -> Plan:
    identity = resolve_identity(spec, memory, observed, same_name, ctx)
    early = _identity_plan(identity, spec, ctx, memory)
    if early is not None:
        return early
    if identity.kind == "adopted":
        observed = next(vm for vm in same_name if vm.uuid == identity.uuid)
        memory = replace(memory, uuid=identity.uuid, create_pending_since=None)
    assert observed is not None
    memory = replace(memory, uuid=observed.uuid, create_pending_since=None, lost_since=None)
    if observed.shape is not None and not (memory.owned.disks or memory.owned.nics):
        # vmop made it and the record was lost, or it was adopted: which of its devices are the spec's
        found = recover_owned(spec, observed.shape) if spec.adopt is None else match_adopted(spec, observed.shape)
        memory = replace(memory, owned=found)
    if observed.shape is not None:  # a declared usb device found at its port is the spec's from now on
        matched = matched_usb(spec, observed.shape)
        if any(memory.owned.usb.get(name) != place for name, place in matched.items()):
            memory = replace(memory, owned=replace(memory.owned, usb=memory.owned.usb | matched))
        memory = replace(memory, owned=held_passthrough(spec, observed.shape, memory.owned))
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
        # No polling: the hold ends with the migration's release of vmop.io/migration, a change
        # the VirtualMachine reacts to at once. Were this pass to retry, kopf would never record
        # the claim as handled, and the release would then look like no change at all.
        return Plan([], memory, verdict)
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


def _from_secrets(
    spec: VirtualMachineSpec, secrets: SecretInputs, memory: Memory, vm: Observed, ident: ComputeIdentifier
) -> tuple[list[Change], Memory]:
    """cloud_init/set and graphics/password/set when what the Secrets hold is not what the platform
    was last given, by digest. A reference removed forgets its digest: set again, it is sent again.
    The console password is never read back; cloud-init data is, when details are read, as a digest
    (reconcile/secrets.py): see _cloud_init_drifted."""
    changes = []
    if spec.cloud_init is None:
        memory = replace(memory, cloud_init_digest=None, cloud_init_shown=None)
    elif secrets.cloud_init is not None:
        wanted = cloud_init_digest(ident.compute_uuid, secrets.cloud_init)
        drifted, memory = _cloud_init_drifted(wanted, memory, vm.cloud_init)
        if wanted != memory.cloud_init_digest or drifted:
            request = CloudInitSetRequest(**ident.model_dump(), cloud_init_data=secrets.cloud_init)
            reason = f"cloud-init data from Secret {spec.cloud_init.secret_ref.name}"
            if drifted:
                reason += " (the platform's differs from what vmop set)"
            changes.append(Change("cloudInit", Call("cloud_init/set", request, reason), hot=True))
    reference = spec.console.password_secret_ref if spec.console else None
    if reference is None:
        memory = replace(memory, console_password_digest=None)
    elif secrets.console_password is not None and password_digest(ident.compute_uuid, secrets.console_password) != (
        memory.console_password_digest
    ):
        password = GraphicsPasswordSetRequest(**ident.model_dump(), vnc_password=secrets.console_password)
        reason = f"console password from Secret {reference.name}"
        changes.append(Change("console.passwordSecretRef", Call("graphics/password/set", password, reason), hot=True))
    return changes, memory


def _cloud_init_drifted(wanted: str, memory: Memory, shown: str | None) -> tuple[bool, Memory]:
    """Whether the platform's cloud-init data (``shown``: its digest, None when not read) was
    changed behind vmop's back. A platform may answer cloud_init/get in another form than it was
    given (the doc shows no round trip), so the first digest read after vmop's own set is taken as
    the platform's form of it (``cloud_init_shown``); a later one that is neither that nor the
    Secret's is drift."""
    if shown is None or memory.cloud_init_digest != wanted:
        return False, memory  # not read, or about to be set anyway
    if memory.cloud_init_shown is None:
        return False, replace(memory, cloud_init_shown=shown)
    return shown not in (memory.cloud_init_shown, wanted), memory


def _balloon(spec: VirtualMachineSpec, memory: Memory, ident: ComputeIdentifier) -> tuple[list[Change], Memory]:
    """balloon/set when the spec's balloon is not the one vmop last set. The doc names no state: it
    is sent only to a running VM (the strictest reading; ``vmop sim --balloon-needs-running``).
    Unset forgets the record: set again, it is sent again."""
    if spec.memory_balloon is None:
        return [], replace(memory, balloon=None)
    wanted = memory_bytes(spec.memory_balloon)
    if wanted == memory.balloon:
        return [], memory
    request = BalloonSetRequest(**ident.model_dump(), memory=wanted)
    call = Call("balloon/set", request, f"memory balloon {spec.memory_balloon}")
    return [Change("memoryBalloon", call, hot=True, needs_running=True)], memory


def plan_restart(
    spec: VirtualMachineSpec, ctx: Context, memory: Memory, vm: Observed, ident: ComputeIdentifier, *, powering: bool
) -> tuple[Call | None, Memory, str]:
    """(the reboot to make, memory, what a request waits for) for a vmop.io/restart value not yet
    answered. Only a running VM is rebooted; one that is not, or whose power changes this pass (a
    start boots it afresh), has nothing to restart: the request is answered without a call. The
    doc: reboot_ga needs the VM running with no action and its guest agent connected, and the
    reboot follows the answer; reset needs no agent and loses what the guest had not saved. So a
    GuestAgent restart waits for the agent, never falls back to a reset on its own: restartMethod
    Reset asks for that. The value is recorded once the call succeeds (Call.owner)."""
    request = ctx.restart_request
    if request is None or request == memory.restart_handled:
        return None, memory, ""
    if powering or current_power(vm) != "Running":
        return None, replace(memory, restart_handled=request), ""
    if spec.restart_method == "Reset":
        return Call("reset", ident, f"{ANNOTATION_RESTART}={request}: hard reset", owner=request), memory, ""
    if vm.agent != "connected":
        waits = (
            f"{ANNOTATION_RESTART}={request} waits for the guest agent (reboot_ga needs it connected; it is "
            f"{vm.agent}): restartMethod Reset restarts without it"
        )
        return None, memory, waits
    return (
        Call("reboot_ga", ident, f"{ANNOTATION_RESTART}={request}: reboot through the guest agent", owner=request),
        memory,
        "",
    )


def _power_call(spec: VirtualMachineSpec, operation: str, ident: ComputeIdentifier, reason: str) -> Call:
    """A start of a VM with cloud-init asks for it (cloud_init=true: an IDE slot, the CRD keeps one free)."""
    if operation == "start" and spec.cloud_init is not None:
        return Call(operation, StartRequest(**ident.model_dump(), cloud_init=True), f"{reason}, with cloud-init")
    return Call(operation, ident, reason)


def _plan_existing(spec: VirtualMachineSpec, ctx: Context, memory: Memory, vm: Observed) -> Plan:
    ident = ComputeIdentifier(cluster_uuid=vm.cluster, tenant=vm.tenant, compute_uuid=vm.uuid, compute_name=vm.name)
    changes, unsupported = plan_changes(spec, vm, ident, memory.owned, name=ctx.platform_name, group=ctx.group)
    secret_changes, memory = _from_secrets(spec, ctx.secrets, memory, vm, ident)
    balloon_changes, memory = _balloon(spec, memory, ident)
    changes = [*secret_changes, *changes, *balloon_changes]
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
        calls.append(_power_call(spec, step.operation, ident, step.reason))
    if step.operation == "start":  # whether the platform keeps a balloon across a power cycle: unknown
        memory = replace(memory, balloon=None)
    reboot, memory, restart_waits = plan_restart(
        spec, ctx, memory, vm, ident, powering=step.operation is not None or restarting or step.waiting
    )
    if reboot is not None:
        calls.append(reboot)
    if step.requests_shutdown:
        memory = replace(memory, shutdown_requested_at=ctx.now)
    elif current_power(vm) != "Running" or desired != "Stopped":  # off, or no longer wanted off
        memory = replace(memory, shutdown_requested_at=None)
    pending_fields = [c.field for c in pending]
    unverified = vm.shape is None and list_suggests_drift(
        spec, vm, memory.owned, name=ctx.platform_name, group=ctx.group
    )
    in_sync = current_power(vm) == spec.power_state and not calls and not unverified
    if unsupported:
        message, synced_reason, synced = "; ".join(unsupported), Reason.UNSUPPORTED_CHANGE, False
    elif step.stuck:
        message, synced_reason, synced = step.reason, Reason.COMPUTE_ERROR, False
    elif restarting:
        message, synced_reason, synced = f"restarting to apply {', '.join(pending_fields)}", Reason.UPDATING, None
    elif pending_fields:
        message = f"applied at the next power cycle: {', '.join(pending_fields)}"
        synced_reason, synced = Reason.PENDING_CHANGES, None
    elif restart_waits:
        message, synced_reason, synced = restart_waits, Reason.RESTART_PENDING, None
    elif unverified and not calls:
        message, synced_reason, synced = "the VM's details are to be read", Reason.RECONCILED, None
    else:
        message, synced_reason, synced = (step.reason if calls else "in sync"), Reason.RECONCILED, None
    if restart_waits and synced_reason != Reason.RESTART_PENDING:
        message = f"{message}; {restart_waits}"
    ready_reason = Reason.AVAILABLE if in_sync else Reason.POWERING
    verdict = Verdict(
        in_sync, ready_reason, synced, synced_reason, message, _phase(vm), _ready_message(vm) if in_sync else ""
    )
    requeue = WAIT_SECONDS if (step.waiting or step.operation == "shutdown" or restarting) else None
    if restart_waits:  # the agent's arrival shows in the list: look again soon, not at every resync only
        requeue = min(requeue or AGENT_WAIT_SECONDS, AGENT_WAIT_SECONDS)
    refresh = _boot_look(vm, memory, ctx.now) if in_sync else None
    return Plan(calls, memory, verdict, pending_fields, requeue, refresh_after=refresh, needs_details=unverified)


def _ready_message(vm: Observed) -> str:
    """What Ready=True means: the VM is in its declared power state on the platform. It does not
    wait for the guest agent; for a running VM this says where it runs and whether the agent is
    there yet."""
    power = current_power(vm)
    if power != "Running":
        return f"{_AT_REST.get(power, power.lower())} on the platform, as declared"
    where = f"running on host {vm.host}" if vm.host else "running on the platform; host not reported yet"
    agent = {"connected": "guest agent connected", "pending": "guest agent not connected yet"}
    return f"{where}; {agent.get(vm.agent, f'guest agent {vm.agent}')}"


_AT_REST = {"Stopped": "shut off", "Suspended": "paused", "Hibernated": "hibernated"}


def _boot_look(vm: Observed, memory: Memory, now: float) -> float | None:
    """When to look again at a VM vmop created moments ago that runs with its host not reported
    or its guest agent still pending (None: at the next resync)."""
    if current_power(vm) != "Running" or (vm.host and vm.agent != "pending") or memory.last_created_at is None:
        return None
    since = now - memory.last_created_at
    return max(BOOT_LOOK_SECONDS, since) if since < BOOT_WATCH_SECONDS else None
