"""What deleting a VirtualMachine does on the platform, by policy: Retain leaves the VM; Delete
stops it (gracefully, then hard after shutdownTimeout) and deletes it (trash or permanent,
with or without its volumes); a VM no call can stop (crashed...) is deleted as it is. A VM
already gone, or never created, needs nothing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.compute.models import ComputeIdentifier
from vmop.compute.requests import DeleteRequest
from vmop.reconcile.calls import Call
from vmop.reconcile.observed import Observed
from vmop.reconcile.power import current_power, plan_power_transition
from vmop.reconcile.virtualmachine import WAIT_SECONDS, Memory

DeletionPolicy = Literal["Delete", "Retain"]


@dataclass(frozen=True)
class DeletionPlan:
    calls: list[Call]
    done: bool  # after these calls succeed, the finalizer may go
    message: str
    memory: Memory
    requeue_after: float | None = None


def resolve_deletion_policy(spec_policy: str | None, namespace_policy: str | None, default: str) -> DeletionPolicy:
    """object -> namespace annotation -> operator default."""
    for candidate in (spec_policy, namespace_policy, default):
        if candidate in ("Delete", "Retain"):
            return candidate  # type: ignore[return-value]
    return "Delete"


def release_message(*, paused: bool, uuid: str | None) -> str:
    """The Warning Event of a deletion that lets go without the platform. Paused means no
    platform calls at all, deletion included: the VM stays, whatever the deletionPolicy says
    (docs/operations.md); unpause first to delete it with the object."""
    vm = f"VM {uuid}" if uuid else "any VM"
    if paused:
        return (
            f"deleted while paused (vmop.io/paused): released without touching the platform; {vm} stays "
            "there even under deletionPolicy Delete"
        )
    return f"released by vmop.io/force-release without touching the platform; {vm} stays there"


def plan_vm_deletion(
    spec: VirtualMachineSpec, policy: DeletionPolicy, memory: Memory, observed: Observed | None, *, now: float
) -> DeletionPlan:
    if spec.adopt is not None and spec.adopt.observe_only:
        return DeletionPlan([], True, "observe-only: the VM stays on the platform", memory)
    if policy == "Retain":
        return DeletionPlan([], True, f"deletionPolicy Retain: VM {memory.uuid or '-'} stays on the platform", memory)
    if observed is None:
        return DeletionPlan([], True, "no VM on the platform", memory)
    if observed.busy:
        return DeletionPlan([], False, f"waiting for the platform's {observed.action} to finish", memory, WAIT_SECONDS)
    vm = ComputeIdentifier(
        cluster_uuid=observed.cluster, tenant=observed.tenant, compute_uuid=observed.uuid, compute_name=observed.name
    )
    if current_power(observed) not in ("Stopped", "Hibernated"):
        step = plan_power_transition(
            "Stopped",
            observed,
            shutdown_requested_at=memory.shutdown_requested_at,
            shutdown_timeout=spec.shutdown_timeout_seconds,
            now=now,
        )
        if not step.stuck:  # crashed and the like: no call stops it, and delete needs none
            if step.requests_shutdown:
                memory = replace(memory, shutdown_requested_at=now)
            calls = [Call(step.operation, vm, step.reason)] if step.operation else []
            return DeletionPlan(calls, False, f"stopping before delete: {step.reason}", memory, WAIT_SECONDS)
    request = DeleteRequest(
        **vm.model_dump(), real_delete=spec.delete_mode == "Permanent", is_delete_volumes=spec.delete_volumes
    )
    where = "permanently" if spec.delete_mode == "Permanent" else "to the recycle bin"
    return DeletionPlan([Call("delete", request, f"delete {where}")], True, f"deleting {where}", memory)
