"""One VirtualMachine pass: observe (shared list, inspect only when needed) -> plan (pure) ->
perform the calls -> the status to show. No kopf here: handlers/ wires it to events.

Crash safety of creates: the create mark (the vmop.io/create-pending annotation, with vmop's
finalizer if the object lacks it, in one write) goes to the object before the create call; the
uuid comes with the pass's status write after it, which supersedes the mark (the mark stays: no
write to clear it). A restart in between finds the VM by name and creation time and adopts it.
A create the platform has not answered within SHOW_CREATING_AFTER shows in status (phase
Creating) while it waits: one write more, only for the slow ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from vmop import metrics
from vmop.api.annotations import (
    ANNOTATION_CONFIRM_RECREATE,
    ANNOTATION_CREATE_PENDING,
    ANNOTATION_FORCE_RELEASE,
    ANNOTATION_MIGRATION,
    ANNOTATION_PAUSED,
    ANNOTATION_RECONCILE_REQUEST,
    ANNOTATION_RESTART,
    ANNOTATION_UUID,
)
from vmop.api.conditions import SYNCED, Progress, Reason
from vmop.api.virtualmachine import VirtualMachineSpec, VirtualMachineStatus
from vmop.compute.batching import Batcher
from vmop.compute.client import ComputeClient
from vmop.compute.dispatch import perform
from vmop.compute.endpoints import LIST
from vmop.compute.errors import ComputeError, ComputeProtocolError, ComputeUnavailable
from vmop.compute.inventory import Inventory
from vmop.compute.models import CloudInitData, ComputeIdentifier, ComputeInfo, CreateResult, Interface
from vmop.compute.requests import (
    BalloonSetRequest,
    CloudInitSetRequest,
    DiskAttachRequest,
    FromTemplateRequest,
    GraphicsPasswordSetRequest,
    MdevDeviceRequest,
    PciDeviceRequest,
    UsbAttachRequest,
    VmConfig,
)
from vmop.controller.objects import ObjectView, Outcome, pass_events
from vmop.reconcile.calls import Call
from vmop.reconcile.changes import Owned, desired_cpus, memory_bytes, usb_place
from vmop.reconcile.conditions import set_condition
from vmop.reconcile.create import settings_after_create
from vmop.reconcile.deletion import plan_vm_deletion, release_message, resolve_deletion_policy
from vmop.reconcile.expect import created, expect_after
from vmop.reconcile.identity import Claim, MigrationRecord, Scope, migration_doubt, rightful_owner, scopes
from vmop.reconcile.invalid import invalid_spec_message
from vmop.reconcile.observed import Observed, from_inspect, from_list, pci_address
from vmop.reconcile.secrets import (
    SecretInputs,
    SecretProblem,
    cloud_init_digest,
    cloud_init_from,
    console_password_from,
    password_digest,
)
from vmop.reconcile.status import last_error, memory_from_status, render_status, rfc3339
from vmop.reconcile.virtualmachine import (
    Context,
    Memory,
    Safety,
    plan_virtual_machine,
    resolve_identity,
    wanted_uuid,
)

log = logging.getLogger(__name__)

CREATES = ("unified_create", "unified_import", "create/from_template")
RESTARTS = ("reboot_ga", "reset")  # the calls answering a vmop.io/restart request (Call.owner: its value)
MAX_ROUNDS = 4  # create -> start -> ... in one pass; anything longer waits for the next
# A create not answered this soon is shown as under way (phase Creating): a person or Argo CD looking
# then sees what vmop waits for. The simulator answers in milliseconds, a platform in a second or
# more: most creates cost no status write before their answer.
SHOW_CREATING_AFTER = 1.0


GroupLookup = Callable[[str], str | None]  # VmGroup name (same namespace) -> its platform uuid, once known
ClaimLookup = Callable[[str], list[Claim]]  # platform uuid -> the VirtualMachine objects that name it
# (namespace, name) -> a Secret's data; LookupError (a message naming no value) when missing or unreadable.
SecretReader = Callable[[str, str], Awaitable[dict[str, str]]]


async def _no_secrets(namespace: str, name: str) -> dict[str, str]:
    raise LookupError(f"Secret {name}: this vmop reads no Secrets")


@dataclass(frozen=True)
class Relations:
    """What other objects say about this VirtualMachine's VM (from kopf indexes)."""

    group: GroupLookup = lambda name: None
    claims: ClaimLookup = lambda uuid: []
    migrations: tuple[MigrationRecord, ...] = ()  # every VmMigration of this VirtualMachine


@dataclass
class VirtualMachineController:
    client: ComputeClient
    inventory: Inventory
    # Writes these status fields to the object at once (a slow create, shown while it waits).
    persist: Callable[[ObjectView, dict[str, Any]], Awaitable[None]]
    # Writes the create mark (its moment) with vmop's finalizer, in one write, before a create call.
    mark: Callable[[ObjectView, float], Awaitable[None]]
    default_deletion_policy: str = "Delete"
    clock: Callable[[], float] = time.time
    batcher: Batcher | None = None  # starts, shutdowns, deletes of many VMs at once: batch calls
    safety: Safety = field(default_factory=Safety)
    # How long an observation may take before the status says the platform is not answering
    # (two resync periods: a hung platform shows within them, not after every retry ran out).
    patience: float | None = None
    read_secret: SecretReader = _no_secrets  # the Secrets a spec names, in its object's namespace

    async def _secret_inputs(self, namespace: str, spec: VirtualMachineSpec) -> SecretInputs:
        """What the spec's Secrets hold; SecretProblem or LookupError when one cannot give it."""
        inputs = SecretInputs()
        if spec.cloud_init is not None:
            name = spec.cloud_init.secret_ref.name
            inputs = replace(inputs, cloud_init=cloud_init_from(name, await self.read_secret(namespace, name)))
        reference = spec.console.password_secret_ref if spec.console else None
        if reference is not None:
            data = await self.read_secret(namespace, reference.name)
            inputs = replace(inputs, console_password=console_password_from(reference.name, reference.key, data))
        return inputs

    # ------------------------------------------------------------ observation

    async def _inspect(self, vm: ComputeIdentifier, spec: VirtualMachineSpec) -> Observed:
        """The VM's details, and with spec.cloudInit the digest of its cloud-init data (the data
        itself goes no further than this function: never kept, logged or shown)."""
        observed = from_inspect(await self.client.inspect(vm))
        if spec.cloud_init is None:
            return observed
        try:
            data = await self.client.cloud_init(vm)
        except ComputeError as error:  # compared at the next read of the details
            log.warning("VM %s: cloud_init/get refused (scode %s): its data not compared", vm.compute_uuid, error.scode)
            return observed
        return replace(observed, cloud_init=cloud_init_digest(observed.uuid, data or CloudInitData()))

    async def _locate(self, uuid: str, where: list[Scope]) -> ComputeInfo | None:
        """The VM by uuid, from a fresh list of every scope it may be in. Whether a VM is gone is
        decided by the list (the doc names no "not found" scode), never by an error code."""
        for cluster, tenant in where:
            listing = await self.client.list_all_vms(
                cluster, tenant, page_size=self.inventory.page_size, filter_uuid=uuid
            )
            for vm in listing.domains:
                if vm.uuid == uuid:
                    return vm
            if listing.unreadable:  # there, perhaps, but unreadable: never "gone"
                raise ComputeProtocolError(LIST.path, f"VM {uuid} listed but unreadable")
        return None

    async def _named(self, name: str, where: list[Scope]) -> list[Observed]:
        """VMs with the platform name, from a fresh list of every scope the object's VM may be in."""
        found: list[Observed] = []
        for cluster, tenant in where:
            named = await self.client.list_all_vms(
                cluster, tenant, page_size=self.inventory.page_size, filter_name=name
            )
            if named.unreadable:  # one of them may be the VM a create would duplicate
                raise ComputeProtocolError(LIST.path, f"a VM named {name!r} listed but unreadable")
            found += [from_list(vm) for vm in named.domains if vm.name == name]
        return found

    async def _observe(
        self,
        spec: VirtualMachineSpec,
        memory: Memory,
        ctx: Context,
        relations: Relations,
        *,
        details: bool,
        fresh_after: float | None = None,
    ) -> tuple[Observed | None, list[Observed], bool]:
        """(the VM, VMs with its name, whether the view may be stale), looking in every (cluster,
        tenant) the VM may be in, where it was last seen first. ``fresh_after`` (the inventory's
        clock): the platform must have been listed after it; before a create, now if not given,
        else a list up to the inventory's max age."""
        wanted = wanted_uuid(spec, memory)
        where = scopes(spec, memory.location, relations.migrations)
        if memory.create_pending_since is not None and spec.adopt is None:
            # A create's outcome is unknown (a crash, a timeout): look fresh, by name, everywhere.
            named = await self._named(ctx.platform_name, where)
            return next((vm for vm in named if vm.uuid == wanted), None), named, False
        if wanted is None:
            # Before a create: a list that started after the event asking for it arrived, so a VM
            # that merely shares the name is seen (and reported as a conflict) rather than
            # duplicated. Not after the pass began: passes queued behind each other in a burst
            # then share one list instead of listing the scope once each (bench/). Our own
            # earlier creates are covered by the create-pending mark, not by this list.
            newer_than = fresh_after if fresh_after is not None else self.inventory.now()
            snapshot = await self.inventory.snapshot(where[0], newer_than=newer_than)
            if snapshot.unreadable:  # an entry vmop could not read may bear the name: ask by name
                return None, await self._named(ctx.platform_name, where), False
            return None, [from_list(vm) for vm in snapshot.by_name.get(ctx.platform_name, [])], False
        snapshot = await self.inventory.snapshot(where[0], newer_than=fresh_after)
        info = snapshot.by_uuid.get(wanted)
        if info is None or not self.inventory.is_fresh(snapshot, wanted):
            since = self.inventory.stale_since(wanted, missing=info is None)
            snapshot = await self.inventory.snapshot(where[0], newer_than=since)
            info = snapshot.by_uuid.get(wanted)
            if info is None:  # not where it was: moved (a migration), paged past, or gone
                info = await self._locate(wanted, where)
                if info is None:
                    return None, await self._named(ctx.platform_name, where), False
        if details:
            ident = ComputeIdentifier(
                cluster_uuid=info.cluster_uuid or where[0][0], tenant=info.tenant, compute_uuid=info.uuid
            )
            return await self._inspect(ident, spec), [], False
        return from_list(info), [], True  # the plan says whether the details are needed (Plan.needs_details)

    def _context(
        self, obj: ObjectView, spec: VirtualMachineSpec, memory: Memory, relations: Relations, **kw: Any
    ) -> Context:
        wanted = wanted_uuid(spec, memory)
        own = Claim(obj.namespace, obj.name, obj.uid, obj.created, recorded=memory.uuid is not None)
        owner = rightful_owner([own, *relations.claims(wanted)]) if wanted else own
        now, holder = self.clock(), obj.annotations.get(ANNOTATION_MIGRATION)
        doubt = migration_doubt(relations.migrations, now=now, settle=self.safety.loss_confirmation)
        return Context(
            object_uid=obj.uid,
            platform_name=spec.name or obj.name,
            now=now,
            migration=holder,
            safety=self.safety,
            migration_doubt=doubt or (f"VmMigration {holder} holds it" if holder else None),
            managed_by=None if owner.uid == obj.uid else f"{owner.namespace}/{owner.name}",
            recreate_confirmed=obj.annotations.get(ANNOTATION_CONFIRM_RECREATE),
            restart_request=obj.annotations.get(ANNOTATION_RESTART),
            **kw,
        )

    def _taken(self, obj: ObjectView, vms: list[Observed], relations: Relations) -> frozenset[str]:
        """Of these VMs, those another VirtualMachine object manages: never adopted by this one."""
        return frozenset(
            vm.uuid for vm in vms if any(c.uid != obj.uid and c.recorded for c in relations.claims(vm.uuid))
        )

    # ------------------------------------------------------------ sync

    async def sync(
        self, obj: ObjectView, relations: Relations = Relations(), *, fresh_after: float | None = None
    ) -> Outcome:
        previous = VirtualMachineStatus.model_validate(obj.status)
        now = self.clock()
        try:
            spec = VirtualMachineSpec.model_validate(obj.spec)
        except ValidationError as error:  # stored before a CRD rule refused it: say so, call nothing
            message = invalid_spec_message(error)
            return _not_synced(
                previous, Reason.INVALID_SPEC, message, obj.generation, now, observed_generation=obj.generation
            )
        memory = _memory(obj, previous)
        if obj.annotations.get(ANNOTATION_PAUSED) == "true":
            return self._paused(previous, obj.generation, now)
        group = spec.group
        if spec.group_ref is not None:
            group = relations.group(spec.group_ref.name)
            if group is None:
                return self._waiting_for_group(previous, spec.group_ref.name, obj.generation, now)
        if memory.location is not None and memory.location[0] != spec.cluster:
            group = None  # the VM moved to another cluster with its own group: do not pull it back
        try:
            secrets = await self._secret_inputs(obj.namespace, spec)
        except (LookupError, SecretProblem) as problem:  # nothing is called without what the spec names
            reason = Reason.SECRET_NOT_FOUND if isinstance(problem, LookupError) else Reason.SECRET_INVALID
            return _not_synced(previous, reason, str(problem), obj.generation, now)
        ctx = self._context(obj, spec, memory, relations, group=group, secrets=secrets)
        if ctx.managed_by is not None:  # two objects never drive one VM: nothing is read or called
            plan = plan_virtual_machine(spec, ctx, memory, None, [])
            verdict = plan.verdict
            outcome = _not_synced(
                previous, verdict.synced_reason, verdict.message, obj.generation, now, phase="Conflict"
            )
            outcome.events = [("Warning", verdict.synced_reason, verdict.message)]
            return outcome
        request = obj.annotations.get(ANNOTATION_RECONCILE_REQUEST)
        # Read details, not the shared list, when the spec or a person asks, and when a migration
        # just let go of the VM (the list may predate where it went).
        details = (
            previous.observed_generation != obj.generation
            or (request is not None and request != previous.reconcile_requested)
            or (previous.phase == "Migrating" and ctx.migration is None)
        )
        try:
            async with asyncio.timeout(self.patience):
                observed, same_name, stale = await self._observe(
                    spec,
                    memory,
                    ctx,
                    relations,
                    details=details,
                    fresh_after=fresh_after,
                )
        except ComputeError as error:  # the platform could not be read: say so, change nothing
            return self._unobservable(previous, error, obj.generation, now)
        except TimeoutError:
            return self._not_answering(previous, obj.generation, self.clock())
        ctx = replace(ctx, taken=self._taken(obj, same_name, relations))
        outcome = Outcome(status=None)
        written = previous  # the status on the object: the pass's patch carries what differs from it
        plan = plan_virtual_machine(spec, ctx, memory, observed, same_name)
        for _ in range(MAX_ROUNDS):
            # Never act on a cached view, nor call a view without details in sync: read them first.
            if observed is not None and (plan.needs_details or (plan.calls and stale)):
                try:
                    observed, stale = await self._inspect(_ident(observed), spec), False
                except ComputeError as error:
                    outcome.error = error
                    break
                plan = plan_virtual_machine(spec, replace(ctx, now=self.clock()), memory, observed, [])
            if not plan.calls:
                break
            memory = plan.memory
            observed = plan.subject or observed
            if plan.persist_first:
                assert memory.create_pending_since is not None
                await self.mark(obj, memory.create_pending_since)
                in_flight = render_status(
                    previous,
                    plan,
                    None,
                    error=None,
                    generation=obj.generation,
                    now=self.clock(),
                    reconcile_request=request,
                    in_flight=True,
                )
                performing = asyncio.ensure_future(self._perform(plan.calls, observed, memory, spec, obj, outcome))
                if await self._show_while_slow(performing, obj, in_flight):
                    written = in_flight
                observed, memory, outcome.error = await performing
            else:
                observed, memory, outcome.error = await self._perform(plan.calls, observed, memory, spec, obj, outcome)
            if outcome.error is not None or plan.requeue_after is not None:
                break
            made = any(c.operation in CREATES for c in plan.calls)
            if made and observed is not None and not observed.busy and settings_after_create(spec):
                try:  # its details before its first start (reconcile/create.py)
                    observed = await self._inspect(_ident(observed), spec)
                except ComputeError as error:
                    outcome.error = error
                    break
            plan = plan_virtual_machine(spec, replace(ctx, now=self.clock()), memory, observed, [])
        if outcome.error is None:
            memory = plan.memory if not plan.calls else memory
        observed = plan.subject or observed
        outcome.annotations = _identity_annotations(memory)
        final = replace(plan, memory=memory)
        status = render_status(
            previous,
            final,
            observed,
            error=outcome.error,
            generation=obj.generation,
            now=self.clock(),
            reconcile_request=request,
        )
        status = status.model_copy(update={"progress": await self._progress(observed, previous)})
        outcome.status = _changed(written, status)
        outcome.requeue_after = 1.0 if plan.calls or plan.needs_details else plan.requeue_after
        outcome.refresh_after = plan.refresh_after if outcome.error is None else None
        if outcome.error is not None:
            outcome.events.append(("Warning", Reason.COMPUTE_ERROR, str(outcome.error)))
        if final.verdict.synced_reason == Reason.DUPLICATE_GUARD:  # at every pass: a person must act
            metrics.DUPLICATE_GUARD.labels("VirtualMachine").inc()
            outcome.events.append(("Warning", Reason.DUPLICATE_GUARD, final.verdict.message))
        outcome.events = pass_events(outcome.events, asked=previous.observed_generation != obj.generation)
        return outcome

    async def _show_while_slow(
        self, performing: asyncio.Future[Any], obj: ObjectView, in_flight: VirtualMachineStatus
    ) -> bool:
        """Whether the create was slow enough that its in-flight status was written meanwhile."""
        done, _ = await asyncio.wait({performing}, timeout=SHOW_CREATING_AFTER)
        if done:
            return False
        try:
            await self.persist(obj, _dump(in_flight))
        except Exception as error:  # the create is out: its answer matters, not this status
            log.warning("%s/%s: the create under way not shown: %s", obj.namespace, obj.name, error)
            return False
        return True

    async def _perform(
        self,
        calls: list[Call],
        observed: Observed | None,
        memory: Memory,
        spec: VirtualMachineSpec,
        obj: ObjectView,
        outcome: Outcome,
    ) -> tuple[Observed | None, Memory, ComputeError | None]:
        for call in calls:
            if call.operation in CREATES:
                metrics.CREATES.labels("VirtualMachine").inc()
            try:
                result = await perform(self.client, call.operation, call.request, self.batcher)
            except ComputeError as error:
                if call.operation in CREATES and not _outcome_unknown(error):
                    # The platform answered no: nothing was made, the next create needs no grace.
                    memory = replace(memory, create_pending_since=None, uuid=None)
                log.warning(
                    "%s/%s: %s failed: %s",
                    obj.namespace,
                    obj.name,
                    call.operation,
                    error,
                    extra={
                        "k8s_namespace": obj.namespace,
                        "k8s_name": obj.name,
                        "scode": error.scode,
                        "operation": call.operation,
                        "uuid": memory.uuid,
                    },
                )
                if call.operation == "shutdown":  # refused: not sent, so the timeout has not begun
                    memory = replace(memory, shutdown_requested_at=None)
                return observed, memory, error
            outcome.acted = True
            outcome.events.append(("Normal", _event_reason(call.operation), str(call)))
            log.info(  # the record of what vmop did, Event or not (pass_events)
                "%s/%s: %s",
                obj.namespace,
                obj.name,
                call,
                extra={"k8s_namespace": obj.namespace, "k8s_name": obj.name, "operation": call.operation},
            )
            if call.operation in CREATES:
                assert isinstance(result, CreateResult)
                memory = _after_create(memory, spec, call, result, now=self.clock())
                observed = created(
                    result,
                    call,
                    cluster=spec.cluster,
                    tenant=spec.tenant,
                    os=spec.os,
                    now=self.clock(),
                    cpus=desired_cpus(spec),
                    memory=memory_bytes(spec.memory),
                    volumes=tuple(memory.owned.disks.values()),
                )
            elif observed is not None:
                observed = expect_after(observed, call, result)
            memory = _owned_after(memory, call, result)
            if observed is not None:
                self.inventory.touched(observed.uuid)
        return observed, memory, None

    async def _progress(self, vm: Observed | None, previous: VirtualMachineStatus) -> Progress | None:
        """How far a clone or an image import has come (one call, only while it runs); never backwards."""
        operation = {"cloning": "clone", "importing": "import"}.get(vm.action) if vm is not None else None
        if vm is None or operation is None:
            return None
        ident = ComputeIdentifier(cluster_uuid=vm.cluster, tenant=vm.tenant, compute_uuid=vm.uuid)
        read = self.client.clone_progress if operation == "clone" else self.client.import_progress
        try:
            percent = await read(ident)
        except ComputeError:
            return previous.progress  # finished meanwhile, or not readable now: keep what we had
        seen = previous.progress.percent if previous.progress and previous.progress.operation == operation else 0
        return Progress(operation=operation, percent=max(seen, min(100, percent)))

    def _unobservable(
        self, previous: VirtualMachineStatus, error: ComputeError, generation: int, now: float
    ) -> Outcome:
        reason = Reason.UNAVAILABLE if isinstance(error, ComputeUnavailable) else Reason.COMPUTE_ERROR
        outcome = _not_synced(previous, reason, str(error), generation, now, last_error=last_error(error, now))
        outcome.error, outcome.events = error, [("Warning", reason, str(error))]
        return outcome

    def _not_answering(self, previous: VirtualMachineStatus, generation: int, now: float) -> Outcome:
        """What status shows may be out of date: Synced is Unknown, not True, until it answers."""
        message = f"the platform has not answered for {self.patience or 0:.0f}s: the status shown may be out of date"
        conditions = set_condition(
            list(previous.conditions or []),
            SYNCED,
            None,
            Reason.NOT_ANSWERING,
            message,
            now=rfc3339(now),
            generation=generation,
        )
        outcome = Outcome(_changed(previous, previous.model_copy(update={"conditions": conditions})))
        outcome.events = [("Warning", Reason.NOT_ANSWERING, message)]
        return outcome

    def _paused(self, previous: VirtualMachineStatus, generation: int, now: float) -> Outcome:
        message = f"reconciling is paused by the {ANNOTATION_PAUSED} annotation"
        return _not_synced(previous, Reason.PAUSED, message, generation, now, phase=previous.phase)

    def _waiting_for_group(self, previous: VirtualMachineStatus, group: str, generation: int, now: float) -> Outcome:
        message = f"waiting for VmGroup {group} to exist on the platform"
        outcome = _not_synced(previous, Reason.GROUP_NOT_READY, message, generation, now)
        outcome.requeue_after = 10.0
        return outcome

    # ------------------------------------------------------------ delete

    async def delete(
        self,
        obj: ObjectView,
        namespace_policy: str | None,
        relations: Relations = Relations(),
        *,
        fresh_after: float | None = None,
    ) -> Outcome:
        """``fresh_after`` (the inventory's clock): read a list started after it (a pass waiting
        for the guest to stop: one newer than its previous look)."""
        paused = obj.annotations.get(ANNOTATION_PAUSED) == "true"
        if paused or obj.annotations.get(ANNOTATION_FORCE_RELEASE) == "true":
            uuid = obj.annotations.get(ANNOTATION_UUID) or obj.status.get("uuid")
            return Outcome(None, events=[("Warning", Reason.RELEASED, release_message(paused=paused, uuid=uuid))])
        spec = VirtualMachineSpec.model_validate(obj.spec)
        previous = VirtualMachineStatus.model_validate(obj.status)
        memory = _memory(obj, previous)
        policy = resolve_deletion_policy(spec.deletion_policy, namespace_policy, self.default_deletion_policy)
        ctx = self._context(obj, spec, memory, relations, group=None)
        if ctx.managed_by is not None:  # never delete a VM another object manages
            message = f"VM {wanted_uuid(spec, memory)} is managed by {ctx.managed_by}"
            return Outcome(None, events=[("Warning", Reason.ALREADY_MANAGED, f"{message}: left on the platform")])
        observed: Observed | None = None
        if policy == "Delete" and (memory.uuid or memory.create_pending_since or spec.adopt):
            try:
                observed, same_name, _ = await self._observe(
                    spec,
                    memory,
                    ctx,
                    relations,
                    details=False,
                    fresh_after=fresh_after,
                )
            except ComputeError as error:
                outcome = self._unobservable(previous, error, obj.generation, ctx.now)
                outcome.done = False
                return outcome
            identity = resolve_identity(
                spec, memory, observed, same_name, replace(ctx, taken=self._taken(obj, same_name, relations))
            )
            if identity.kind == "adopted":  # created just before a crash: delete that one too
                observed = next(vm for vm in same_name if vm.uuid == identity.uuid)
            elif identity.kind == "doubt" and (memory.create_pending_since is not None or ctx.migration_doubt):
                # A late VM would be orphaned if the finalizer went now: wait until the doubt is over.
                return self._deletion_waits(previous, identity.message, identity.wait, obj.generation, ctx.now)
        plan = plan_vm_deletion(spec, policy, memory, observed, now=ctx.now)
        outcome = Outcome(status=None, done=plan.done, requeue_after=plan.requeue_after)
        _, memory, outcome.error = await self._perform(plan.calls, observed, plan.memory, spec, obj, outcome)
        if outcome.error is not None:
            outcome.done = False
            outcome.events.append(("Warning", Reason.COMPUTE_ERROR, f"delete: {outcome.error}"))
        conditions = set_condition(
            list(previous.conditions or []),
            SYNCED,
            outcome.error is None,
            Reason.COMPUTE_ERROR if outcome.error else Reason.DELETING,
            str(outcome.error) if outcome.error else plan.message,
            now=rfc3339(ctx.now),
            generation=obj.generation,
        )
        status = previous.model_copy(
            update={
                "phase": "Deleting",
                "conditions": conditions,
                "shutdown_requested_at": rfc3339(memory.shutdown_requested_at)
                if memory.shutdown_requested_at
                else None,
            }
        )
        outcome.status = None if outcome.done else _changed(previous, status)
        outcome.events = pass_events(outcome.events, asked=True)
        return outcome

    def _deletion_waits(
        self, previous: VirtualMachineStatus, message: str, wait: float | None, generation: int, now: float
    ) -> Outcome:
        outcome = _not_synced(previous, Reason.DELETING, message, generation, now, phase="Deleting")
        outcome.done, outcome.requeue_after = False, wait
        return outcome


# Situations a person should hear of: once when they begin (a VM gone missing, a create in doubt),
# and for the duplicate guard at every pass until someone confirms.
def _not_synced(
    previous: VirtualMachineStatus, reason: str, message: str, generation: int, now: float, **status: Any
) -> Outcome:
    """Nothing was done this pass, and Synced=False says why (other status fields as given)."""
    conditions = set_condition(
        list(previous.conditions or []), SYNCED, False, reason, message, now=rfc3339(now), generation=generation
    )
    update = {"phase": previous.phase or "Pending"} | status | {"conditions": conditions}
    return Outcome(_changed(previous, previous.model_copy(update=update)))


def _memory(obj: ObjectView, previous: VirtualMachineStatus) -> Memory:
    """The uuid from status (a migration's hand-over writes it there with the location), else from
    the annotation an older vmop wrote. The create mark counts while status names no VM: a crash
    before the status write, or a backup/restore that dropped status (the VM is then found by
    name and creation time)."""
    memory = memory_from_status(previous, obj.annotations.get(ANNOTATION_UUID))
    mark = obj.annotations.get(ANNOTATION_CREATE_PENDING)
    if memory.create_pending_since is None and memory.uuid is None and mark is not None:
        memory = replace(memory, create_pending_since=_moment(mark))
    return memory


def _moment(mark: str) -> float:
    """The create mark's moment; one a person garbled counts as long ago (the VM is then looked
    for by name before any create, and no grace is waited)."""
    try:
        return float(mark)
    except ValueError:
        return 0.0


def _ident(vm: Observed) -> ComputeIdentifier:
    return ComputeIdentifier(cluster_uuid=vm.cluster, tenant=vm.tenant, compute_uuid=vm.uuid)


def _outcome_unknown(error: ComputeError) -> bool:
    """The request may have reached the platform and been executed: no answer, or none readable."""
    return isinstance(error, ComputeUnavailable | ComputeProtocolError)


def _after_create(memory: Memory, spec: VirtualMachineSpec, call: Call, result: CreateResult, *, now: float) -> Memory:
    """Remember which volumes and MACs the create made for which disk and NIC (in request order),
    and the digest of the cloud-init data it sent."""
    new_volumes = iter(result.volume_uuids)
    disks = {d.name: d.volume or next(new_volumes, "") for d in spec.disks}
    # The platform reports every NIC's MAC in request order, given or assigned.
    macs = result.mac_addresses
    nics = {n.name: (macs[i] if i < len(macs) else "") or n.mac or "" for i, n in enumerate(spec.interfaces)}
    return replace(
        memory,
        uuid=result.vm_uuid or memory.uuid,
        create_pending_since=None,
        last_created_at=now,
        owned=Owned({k: v for k, v in disks.items() if v}, {k: v for k, v in nics.items() if v}),
        cloud_init_digest=_sent_cloud_init_digest(call, result.vm_uuid),
        cloud_init_shown=None,
    )


def _sent_cloud_init_digest(call: Call, vm_uuid: str) -> str | None:
    request = call.request
    config = request.vm_config_override if isinstance(request, FromTemplateRequest) else request
    data = config.cloud_init_data if isinstance(config, VmConfig) else None
    return cloud_init_digest(vm_uuid, data) if data is not None and vm_uuid else None


def _owned_after(memory: Memory, call: Call, result: object) -> Memory:
    """Record what an attach made ours (so it is not attached again) and forget what a detach
    removed; the digest of what a Secret gave the platform."""
    request = call.request
    if isinstance(request, CloudInitSetRequest):
        digest = cloud_init_digest(request.compute_uuid, request.cloud_init_data)
        return replace(memory, cloud_init_digest=digest, cloud_init_shown=None)
    if isinstance(request, GraphicsPasswordSetRequest) and request.vnc_password is not None:
        return replace(memory, console_password_digest=password_digest(request.compute_uuid, request.vnc_password))
    if isinstance(request, BalloonSetRequest):
        return replace(memory, balloon=request.memory)
    if call.operation in RESTARTS and call.owner:
        return replace(memory, restart_handled=call.owner)
    owned = memory.owned
    disks, nics, usb = dict(owned.disks), dict(owned.nics), dict(owned.usb)
    pci, mdev = dict(owned.pci), dict(owned.mdev)
    if call.operation == "disk/attach" and isinstance(call.request, DiskAttachRequest) and call.request.source_vsd:
        disks[call.owner] = call.request.source_vsd.volume_uuid
    elif call.operation == "disk/detach":
        disks.pop(call.owner, None)
    elif call.operation == "interface/attach" and isinstance(result, Interface) and result.mac_address:
        nics[call.owner] = result.mac_address.lower()
    elif call.operation == "interface/detach":
        nics.pop(call.owner, None)
    elif call.operation == "usb/attach" and isinstance(request, UsbAttachRequest):
        usb[call.owner] = usb_place(request.usb[0])
    elif call.operation == "usb/detach":
        usb.pop(call.owner, None)
    elif call.operation == "pci/attach" and isinstance(request, PciDeviceRequest):
        pci[call.owner] = pci_address(request.pci_device)
    elif call.operation == "pci/detach":
        pci.pop(call.owner, None)
    elif call.operation == "mdev/attach" and isinstance(request, MdevDeviceRequest):
        mdev[call.owner] = request.mdev_device.src_address_uuid
    elif call.operation == "mdev/detach":
        mdev.pop(call.owner, None)
    else:
        return memory
    return replace(memory, owned=Owned(disks, nics, usb, pci, mdev))


def _identity_annotations(memory: Memory) -> dict[str, str | None]:
    """The create mark stays once the uuid is in status (it supersedes the mark: no write to clear
    it); it goes when nothing is in doubt and nothing was made (the platform refused the create)."""
    if memory.uuid is None and memory.create_pending_since is None:
        return {ANNOTATION_CREATE_PENDING: None}
    return {}


def _dump(status: VirtualMachineStatus) -> dict[str, Any]:
    return status.model_dump(mode="json", by_alias=True, exclude_none=False)


def _changed(previous: VirtualMachineStatus, status: VirtualMachineStatus) -> dict[str, Any] | None:
    """The status to write, or None when it equals what is there (no write when nothing changed)."""
    if status == previous:
        return None
    return _dump(status)


def _event_reason(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.replace("/", "_").split("_"))
