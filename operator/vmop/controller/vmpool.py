"""One VmPool pass: list the VirtualMachines it owns, plan (reconcile/vmpool.py), create, update
and delete VirtualMachine objects, write the pool's status. The platform is never called here:
each VirtualMachine's own controller makes its VM, restarts it and deletes it."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from vmop.api import API_VERSION
from vmop.api.annotations import ANNOTATION_PAUSED, LABEL_POOL, LABEL_POOL_TEMPLATE_HASH
from vmop.api.conditions import READY, SYNCED, Condition, Reason
from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.api.vmpool import PROGRESSING, VmPoolSpec, VmPoolStatus, max_unavailable
from vmop.controller.kube import KubeAccess, KubeError
from vmop.reconcile.conditions import set_condition
from vmop.reconcile.invalid import invalid_spec_message
from vmop.reconcile.status import rfc3339
from vmop.reconcile.vmpool import Member, PoolPlan, PoolSpec, plan_vm_pool, template_hash

log = logging.getLogger(__name__)

VMS = "virtualmachines"
POOLS = "vmpools"
# Names as a ReplicaSet's pods have them: no vowels (no words), no look-alikes (0/o, 1/l).
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NAME_SUFFIX = 5
NAME_ATTEMPTS = 5
# While VMs are made, restarted or deleted, look again this soon even without a VM's event.
BUSY_SECONDS = 5.0


class PoolKube(Protocol):
    """The Kubernetes calls a pool pass makes."""

    async def list_vms(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...
    async def create_vm(self, namespace: str, body: dict[str, Any]) -> None: ...
    async def patch_vm(self, namespace: str, name: str, operations: list[dict[str, Any]]) -> None: ...
    async def delete_vm(self, namespace: str, name: str, uid: str) -> None: ...
    async def patch_pool_status(self, namespace: str, name: str, status: dict[str, Any]) -> None: ...


class KubePools:
    """PoolKube over vmop's async client (one rate limit with every other request)."""

    def __init__(self, kube: KubeAccess) -> None:
        self._kube = kube

    async def list_vms(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return await self._kube.list_objects(VMS, namespace, selector)

    async def create_vm(self, namespace: str, body: dict[str, Any]) -> None:
        await self._kube.create_object(VMS, namespace, body)

    async def patch_vm(self, namespace: str, name: str, operations: list[dict[str, Any]]) -> None:
        # A JSON patch: the spec is replaced whole, never merged with the old one.
        await self._kube.json_patch(VMS, namespace, name, operations)

    async def delete_vm(self, namespace: str, name: str, uid: str) -> None:
        try:
            await self._kube.delete_object(VMS, namespace, name, uid)
        except KubeError as exc:
            if exc.status not in (404, 409):  # gone already, or another object of that name now
                raise

    async def patch_pool_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self._kube.patch_status(POOLS, namespace, name, status)


@dataclass
class PoolOutcome:
    status: dict[str, Any] | None  # written already; None: unchanged
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None


def selector_string(match_labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(match_labels.items()))


def _controlled_by(vm: dict[str, Any], uid: str) -> bool:
    refs = vm.get("metadata", {}).get("ownerReferences") or []
    return any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def _ready(vm: dict[str, Any]) -> bool:
    """Ready=True and Synced=True for the spec it has now, nothing pending: a spec just written is
    not Ready until the VM saw it, nor while a change waits for its restart (a rollout counted such
    a VM as updated while the platform still had the old shape)."""
    status = vm.get("status") or {}
    if status.get("observedGeneration") != vm["metadata"].get("generation") or status.get("pendingChanges"):
        return False
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return conditions.get(READY) == "True" and conditions.get(SYNCED) == "True"


def _member(vm: dict[str, Any]) -> Member:
    metadata = vm["metadata"]
    try:
        spec: VirtualMachineSpec | None = VirtualMachineSpec.model_validate(vm.get("spec") or {})
    except ValidationError:
        spec = None
    return Member(
        name=metadata["name"],
        template_hash=(metadata.get("labels") or {}).get(LABEL_POOL_TEMPLATE_HASH, ""),
        spec=spec,
        ready=_ready(vm),
        created=str(metadata.get("creationTimestamp") or ""),
        deleting=bool(metadata.get("deletionTimestamp")),
    )


@dataclass
class VmPoolController:
    kube: PoolKube
    clock: Callable[[], float] = time.time

    async def sync(self, pool: dict[str, Any]) -> PoolOutcome:
        metadata = pool["metadata"]
        namespace, name, uid = metadata["namespace"], metadata["name"], metadata["uid"]
        generation = int(metadata.get("generation", 0))
        previous = VmPoolStatus.model_validate(pool.get("status") or {})
        try:
            spec = VmPoolSpec.model_validate(pool.get("spec") or {})
        except ValidationError as error:  # stored before a CRD rule refused it: say so, change nothing
            message = invalid_spec_message(error)
            conditions = self._conditions(previous, False, Reason.INVALID_SPEC, message, None, "", generation)
            status = previous.model_copy(update={"conditions": conditions})
            return await self._write(namespace, name, previous, status, [("Warning", Reason.INVALID_SPEC, message)])
        if (metadata.get("annotations") or {}).get(ANNOTATION_PAUSED) == "true":
            message = f"reconciling is paused by the {ANNOTATION_PAUSED} annotation: no VM is made, changed or deleted"
            ready = any(c.type == READY and c.status == "True" for c in previous.conditions or [])
            conditions = self._conditions(
                previous, ready, Reason.PAUSED, message, False, Reason.PAUSED, generation, message
            )
            return await self._write(
                namespace, name, previous, previous.model_copy(update={"conditions": conditions}), []
            )
        raw_template: dict[str, Any] = pool["spec"]["template"]
        digest = template_hash(raw_template)
        selector = selector_string(spec.selector.match_labels)
        vms = [vm for vm in await self.kube.list_vms(namespace, selector) if _controlled_by(vm, uid)]
        by_name = {vm["metadata"]["name"]: vm for vm in vms}
        members = [_member(vm) for vm in vms]
        strategy = spec.update_strategy
        plan = plan_vm_pool(
            PoolSpec(
                replicas=spec.replicas,
                template_hash=digest,
                template=spec.template.spec,
                strategy=strategy.type,
                max_unavailable=max_unavailable(strategy.rolling_update.max_unavailable, spec.replicas),
            ),
            members,
        )
        events = await self._perform(pool, plan, raw_template, digest, by_name, {m.name for m in members})
        progressing, reason, message = _progress(plan, spec.replicas, strategy.type)
        ready = plan.replicas == spec.replicas and plan.ready == spec.replicas
        ready_message = f"{plan.ready} of {spec.replicas} VMs Ready"
        conditions = self._conditions(
            previous,
            ready,
            Reason.AVAILABLE if ready else Reason.WAITING_FOR_READY,
            ready_message,
            progressing,
            reason,
            generation,
            message,
        )
        status = VmPoolStatus(
            observed_generation=generation,
            replicas=plan.replicas,
            ready_replicas=plan.ready,
            updated_replicas=plan.updated,
            selector=selector,
            template_hash=digest,
            conditions=conditions,
        )
        outcome = await self._write(namespace, name, previous, status, events)
        outcome.requeue_after = None if plan.settled and ready else BUSY_SECONDS
        return outcome

    def _conditions(
        self,
        previous: VmPoolStatus,
        ready: bool,
        ready_reason: str,
        ready_message: str,
        progressing: bool | None,
        progressing_reason: str,
        generation: int,
        progressing_message: str = "",
    ) -> list[Condition]:
        now = rfc3339(self.clock())
        conditions = set_condition(
            list(previous.conditions or []), READY, ready, ready_reason, ready_message, now=now, generation=generation
        )
        if progressing_reason:
            conditions = set_condition(
                conditions,
                PROGRESSING,
                progressing,
                progressing_reason,
                progressing_message,
                now=now,
                generation=generation,
            )
        return conditions

    async def _write(
        self,
        namespace: str,
        name: str,
        previous: VmPoolStatus,
        status: VmPoolStatus,
        events: list[tuple[str, str, str]],
    ) -> PoolOutcome:
        if status == previous:
            return PoolOutcome(None, events)
        body = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        await self.kube.patch_pool_status(namespace, name, body)
        return PoolOutcome(body, events)

    async def _perform(
        self,
        pool: dict[str, Any],
        plan: PoolPlan,
        template: dict[str, Any],
        digest: str,
        by_name: dict[str, dict[str, Any]],
        taken: set[str],
    ) -> list[tuple[str, str, str]]:
        metadata = pool["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        labels = {**(template.get("metadata") or {}).get("labels", {}), LABEL_POOL: name}
        labels[LABEL_POOL_TEMPLATE_HASH] = digest
        events: list[tuple[str, str, str]] = []
        for victim in [*plan.deletes, *plan.replaces]:
            await self.kube.delete_vm(namespace, victim, by_name[victim]["metadata"]["uid"])
            why = "to replace it" if victim in plan.replaces else "scaling down"
            events.append(("Normal", "DeleteVirtualMachine", f"deleted VirtualMachine {victim} ({why})"))
        for _ in range(plan.creates):
            made = await self._create(pool, template["spec"], labels, taken)
            events.append(("Normal", "CreateVirtualMachine", f"created VirtualMachine {made}"))
        for update in plan.updates:
            spec = dict(template["spec"]) | ({"updatePolicy": "Restart"} if update.restart else {})
            uid = by_name[update.name]["metadata"]["uid"]
            await self.kube.patch_vm(
                namespace,
                update.name,
                [
                    {"op": "test", "path": "/metadata/uid", "value": uid},
                    {"op": "replace", "path": "/metadata/labels", "value": labels},
                    {"op": "replace", "path": "/spec", "value": spec},
                ],
            )
            how = "restarting it" if update.restart else "in place"
            events.append(("Normal", "UpdateVirtualMachine", f"updated VirtualMachine {update.name} ({how})"))
        return _one_event(events)

    async def _create(self, pool: dict[str, Any], spec: dict[str, Any], labels: dict[str, str], taken: set[str]) -> str:
        metadata = pool["metadata"]
        owner = {
            "apiVersion": API_VERSION,
            "kind": "VmPool",
            "name": metadata["name"],
            "uid": metadata["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
        for attempt in range(NAME_ATTEMPTS):
            vm_name = f"{metadata['name']}-{''.join(secrets.choice(NAME_ALPHABET) for _ in range(NAME_SUFFIX))}"
            if vm_name in taken:
                continue
            body = {
                "apiVersion": API_VERSION,
                "kind": "VirtualMachine",
                "metadata": {"name": vm_name, "labels": labels, "ownerReferences": [owner]},
                "spec": spec,
            }
            try:
                await self.kube.create_vm(metadata["namespace"], body)
            except KubeError as exc:
                if exc.status == 409 and attempt < NAME_ATTEMPTS - 1:  # the name is another object's
                    continue
                raise
            taken.add(vm_name)
            return vm_name
        raise RuntimeError(f"no free VirtualMachine name for pool {metadata['name']} in {NAME_ATTEMPTS} tries")


def _progress(plan: PoolPlan, replicas: int, strategy: str) -> tuple[bool, str, str]:
    """Progressing: (status, reason, message)."""
    if plan.scaling:
        return True, Reason.SCALING, f"scaling to {replicas} VMs"
    if plan.updates or plan.replaces:
        return True, Reason.ROLLING_UPDATE, f"{plan.updated} of {replicas} VMs on the current template"
    if plan.waiting and strategy == "OnDelete":
        return False, Reason.ON_DELETE, f"{len(plan.waiting)} VMs on an older template, replaced when deleted"
    if plan.waiting:
        return True, Reason.ROLLING_UPDATE, f"{plan.updated} of {replicas} VMs on the current template"
    if plan.ready < replicas:
        return True, Reason.WAITING_FOR_READY, f"{plan.ready} of {replicas} VMs Ready"
    return False, Reason.ROLLOUT_COMPLETE, f"{replicas} VMs Ready on the current template"


def _one_event(events: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """The writes of one pass in one Event: each Event is a write to the apiserver too."""
    if len(events) < 2:
        return events
    return [("Normal", events[0][1], "; ".join(message for _, _, message in events))]
