"""One VmGroup pass: read the group tree of its (cluster, tenant), plan, perform, status."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from vmop.api.annotations import ANNOTATION_CREATE_PENDING, ANNOTATION_UUID
from vmop.api.conditions import READY, SYNCED, Reason
from vmop.api.vmgroup import VmGroupSpec, VmGroupStatus
from vmop.compute.client import ComputeClient
from vmop.compute.dispatch import perform
from vmop.compute.errors import ComputeError, ComputeUnavailable
from vmop.compute.inventory import Inventory
from vmop.compute.models import ObjectGroupCache
from vmop.compute.requests import GroupTreeQuery
from vmop.controller.objects import ObjectView, Outcome, pass_events
from vmop.reconcile.conditions import set_condition
from vmop.reconcile.status import last_error, parse_rfc3339, rfc3339
from vmop.reconcile.vmgroup import (
    GroupEntry,
    GroupMemory,
    GroupPlan,
    TreeView,
    plan_vm_group,
    plan_vm_group_deletion,
    resolve_parent,
)

log = logging.getLogger(__name__)


@dataclass
class VmGroupController:
    client: ComputeClient
    inventory: Inventory
    persist: Callable[[ObjectView, dict[str, str | None]], Awaitable[None]]
    clock: Callable[[], float] = time.time

    async def _tree(self, spec: VmGroupSpec) -> TreeView:
        return TreeView.from_tree(
            await self.client.group_tree(GroupTreeQuery(cluster_uuid=spec.cluster, tenant=spec.tenant))
        )

    async def sync(self, obj: ObjectView, groups: dict[tuple[str, str], GroupEntry]) -> Outcome:
        spec = VmGroupSpec.model_validate(obj.spec)
        previous = VmGroupStatus.model_validate(obj.status)
        memory = _memory(obj, previous)
        now = self.clock()
        platform_name = spec.name or obj.name
        parent = resolve_parent(spec, obj.namespace, obj.name, groups)
        try:
            tree = await self._tree(spec)
        except ComputeError as error:
            return _failed(previous, error, obj.generation, now)
        plan = plan_vm_group(spec, platform_name, parent, memory, tree, now=now)
        outcome = Outcome(status=None)
        if plan.calls:
            if plan.persist_first:
                await self.persist(obj, _annotations(plan.memory))
            try:
                for call in plan.calls:
                    result = await perform(self.client, call.operation, call.request)
                    outcome.events.append(("Normal", "Group" + call.operation.split("/")[1].capitalize(), str(call)))
                    log.info("%s/%s: %s", obj.namespace, obj.name, call)
                    if isinstance(result, ObjectGroupCache):
                        plan = replace(plan, memory=GroupMemory(result.metadata.uuid))
                        await self.persist(obj, _annotations(plan.memory))
                tree = await self._tree(spec)
                plan = plan_vm_group(spec, platform_name, parent, plan.memory, tree, now=self.clock())
            except ComputeError as error:
                log.warning(
                    "%s/%s: %s",
                    obj.namespace,
                    obj.name,
                    error,
                    extra={"k8s_namespace": obj.namespace, "k8s_name": obj.name, "scode": error.scode},
                )
                outcome.error = error
                outcome.events.append(("Warning", Reason.COMPUTE_ERROR, str(error)))
        if plan.refused and previous.phase != plan.phase:
            outcome.events.append(("Warning", plan.reason, plan.message))
        outcome.events = pass_events(outcome.events, asked=previous.observed_generation != obj.generation)
        outcome.annotations = _annotations(plan.memory)
        outcome.status = _changed(previous, _status(previous, plan, outcome.error, obj.generation, self.clock()))
        if outcome.error is None and plan.phase == "Pending":
            outcome.requeue_after = 5.0  # waiting for a parent: look again soon
        return outcome

    async def delete(self, obj: ObjectView, child_objects: list[str]) -> Outcome:
        spec = VmGroupSpec.model_validate(obj.spec)
        previous = VmGroupStatus.model_validate(obj.status)
        memory = _memory(obj, previous)
        if memory.uuid is None and spec.adopt is None:
            return Outcome(None)  # never made on the platform: nothing to delete there
        try:
            tree = await self._tree(spec)
            snapshot = await self.inventory.snapshot((spec.cluster, spec.tenant), max_age=0)
        except ComputeError as error:
            outcome = _failed(previous, error, obj.generation, self.clock())
            outcome.done = False
            return outcome
        vms: dict[str, list[str]] = {}
        for vm in snapshot.by_uuid.values():
            vms.setdefault(vm.object_group, []).append(vm.name)
        plan = plan_vm_group_deletion(spec, memory, tree, child_objects=child_objects, vms_by_group=vms)
        outcome = Outcome(None, done=plan.done, requeue_after=None if plan.done else 5.0)
        try:
            for call in plan.calls:
                await perform(self.client, call.operation, call.request)
                outcome.events.append(("Normal", "GroupDelete", str(call)))
                log.info("%s/%s: %s", obj.namespace, obj.name, call)
        except ComputeError as error:
            outcome.done, outcome.error = False, error
            outcome.events.append(("Warning", Reason.COMPUTE_ERROR, f"delete: {error}"))
        if not outcome.done:
            when = rfc3339(self.clock())
            message = str(outcome.error) if outcome.error else plan.message
            conditions = set_condition(
                list(previous.conditions or []),
                SYNCED,
                False,
                Reason.COMPUTE_ERROR if outcome.error else Reason.DELETING,
                message,
                now=when,
                generation=obj.generation,
            )
            status = previous.model_copy(
                update={"phase": "Deleting", "conditions": conditions, "blocking_vms": plan.blocking or None}
            )
            outcome.status = _changed(previous, status)
        outcome.events = pass_events(outcome.events, asked=True)
        return outcome


def _memory(obj: ObjectView, previous: VmGroupStatus) -> GroupMemory:
    pending = obj.annotations.get(ANNOTATION_CREATE_PENDING)
    return GroupMemory(
        obj.annotations.get(ANNOTATION_UUID) or previous.uuid,
        float(pending) if pending else parse_rfc3339(previous.create_pending_since),
    )


def _annotations(memory: GroupMemory) -> dict[str, str | None]:
    return {
        ANNOTATION_UUID: memory.uuid,
        ANNOTATION_CREATE_PENDING: f"{memory.create_pending_since:.0f}" if memory.create_pending_since else None,
    }


def _status(
    previous: VmGroupStatus, plan: GroupPlan, error: ComputeError | None, generation: int, now: float
) -> VmGroupStatus:
    when = rfc3339(now)
    conditions = set_condition(
        list(previous.conditions or []),
        READY,
        plan.ready and error is None,
        plan.reason,
        plan.message,
        now=when,
        generation=generation,
    )
    if error is not None:
        reason = Reason.UNAVAILABLE if isinstance(error, ComputeUnavailable) else Reason.COMPUTE_ERROR
        synced, synced_reason, message = False, reason, str(error)
    else:
        synced = (not plan.refused and plan.phase != "Pending") or plan.ready
        synced_reason, message = (Reason.RECONCILED if synced else plan.reason), plan.message
    conditions = set_condition(conditions, SYNCED, synced, synced_reason, message, now=when, generation=generation)
    node = plan.node
    update: dict[str, Any] = {
        "observed_generation": generation,
        "phase": plan.phase,
        "uuid": plan.memory.uuid,
        "conditions": conditions,
        "last_error": last_error(error, now) if error else None,
        "blocking_vms": None,
        "create_pending_since": rfc3339(plan.memory.create_pending_since) if plan.memory.create_pending_since else None,
    }
    if node is not None:
        update |= {"name": node.name, "parent": node.parent, "depth": node.depth, "vm_count": node.ref_count}
    return previous.model_copy(update=update)


def _failed(previous: VmGroupStatus, error: ComputeError, generation: int, now: float) -> Outcome:
    reason = Reason.UNAVAILABLE if isinstance(error, ComputeUnavailable) else Reason.COMPUTE_ERROR
    conditions = set_condition(
        list(previous.conditions or []), SYNCED, False, reason, str(error), now=rfc3339(now), generation=generation
    )
    status = previous.model_copy(update={"conditions": conditions, "last_error": last_error(error, now)})
    return Outcome(_changed(previous, status), error=error, events=[("Warning", reason, str(error))])


def _changed(previous: VmGroupStatus, status: VmGroupStatus) -> dict[str, Any] | None:
    return None if status == previous else status.model_dump(mode="json", by_alias=True)
