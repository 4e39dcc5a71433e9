"""kopf wiring for VmMigration: change handlers, a poll timer for running migrations, a slower one
for pending ones, the index of migrations per VM, and a fresh read of the VirtualMachine a pass
is about (not an index over every VirtualMachine: kopf would call it on each of their events, a
tenth of the operator's CPU while a thousand VMs are created, for the few migrations there are)."""

from __future__ import annotations

import time
from typing import Any

import kopf

from vmop import metrics
from vmop.api import GROUP, VERSION
from vmop.api.annotations import ANNOTATION_MIGRATION, ANNOTATION_UUID
from vmop.api.vmmigration import FINISHED
from vmop.controller.objects import Outcome
from vmop.handlers.objects import apply, record, retry_delay, retry_unfinished, view
from vmop.handlers.runtime import Runtime
from vmop.reconcile.identity import MigrationRecord
from vmop.reconcile.status import parse_rfc3339
from vmop.reconcile.vmmigration import Target

RESOURCE = (GROUP, VERSION, "vmmigrations")
KIND = "VmMigration"
BY_VM = "vmmigrations_by_vm"  # (namespace, VirtualMachine name) -> its VmMigrations
MigrationIndex = kopf.Index[tuple[str, str], MigrationRecord]
# Running migrations are polled this often (progress, outcome, timeout); progress is written at
# most once per poll and only when it moved a step (reconcile/vmmigration.py).
POLL_SECONDS = 2.0
# Pending ones re-check their preconditions this often.
PENDING_SECONDS = 5.0


def target_of(found: dict[str, Any]) -> Target:
    """What a migration pass needs of its VirtualMachine."""
    metadata, status = found.get("metadata") or {}, found.get("status") or {}
    annotations = metadata.get("annotations") or {}
    return Target(
        name=metadata.get("name", ""),
        uuid=status.get("uuid") or annotations.get(ANNOTATION_UUID),
        cluster=status.get("cluster"),
        tenant=status.get("tenant"),
        platform_name=status.get("name"),
        migration=annotations.get(ANNOTATION_MIGRATION),
        uid=metadata.get("uid", ""),
    )


def migration_entry(
    namespace: str | None, name: str | None, spec: kopf.Spec, status: kopf.Status, **_: Any
) -> dict[tuple[str, str], MigrationRecord]:
    cross = spec.get("crossCluster")
    record = MigrationRecord(
        name=name or "",
        phase=status.get("phase"),
        destination=(cross["cluster"], cross["tenant"]) if cross else None,
        finished_at=parse_rfc3339(status.get("completionTime")),
    )
    return {(namespace or "", spec.get("vmRef", {}).get("name", "")): record}


def migrations_of(index: MigrationIndex, namespace: str, vm: str) -> tuple[MigrationRecord, ...]:
    return tuple(index.get((namespace, vm)) or ())


def _rivals(index: MigrationIndex, namespace: str, vm: str, name: str) -> frozenset[str]:
    """The other unfinished migrations of the same VM."""
    return frozenset(m.name for m in migrations_of(index, namespace, vm) if m.name != name and m.phase not in FINISHED)


async def _sync(body: kopf.Body, memo: kopf.Memo, indexes: dict[str, Any], *, deleting: bool) -> Outcome:
    runtime: Runtime = memo.runtime
    obj = view(body)
    vm = str(obj.spec.get("vmRef", {}).get("name", ""))
    found = await runtime.kube.get("virtualmachines", obj.namespace, vm) if vm else None
    target = target_of(found) if found is not None else None
    rivals = _rivals(indexes[BY_VM], obj.namespace, vm, obj.name)
    started = time.monotonic()
    async with runtime.lock(obj.uid):
        outcome = await runtime.migrations.sync(obj, target, rivals, deleting=deleting)
    record(KIND, obj, outcome, time.monotonic() - started)
    return outcome


async def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    """Creation, restart, spec change (cancel) and both timers; the timers are the retries."""
    apply(await _sync(body, memo, kwargs, deleting=False), body, patch)


async def delete(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **kwargs: Any) -> None:
    outcome = await _sync(body, memo, kwargs, deleting=True)
    apply(outcome, body, patch)
    if not outcome.done:  # still running: the abort did not go through yet
        raise retry_unfinished(outcome, retry_delay(retry), "aborting the migration")
    runtime: Runtime = memo.runtime
    runtime.migrations.forget(body.metadata.uid or "")
    runtime.forget(body.metadata.uid or "")
    metrics.PHASES.set(KIND, body.metadata.uid or "", None)


def _running(status: kopf.Status, meta: kopf.Meta, **_: Any) -> bool:
    return status.get("phase") == "Running" and not meta.get("deletionTimestamp")


def _waiting(status: kopf.Status, meta: kopf.Meta, **_: Any) -> bool:
    return status.get("phase") in (None, "Pending") and not meta.get("deletionTimestamp")


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.index(*RESOURCE, id=BY_VM, registry=registry)(migration_entry)
    kopf.on.create(*RESOURCE, id="create", registry=registry)(reconcile)
    kopf.on.resume(*RESOURCE, id="resume", registry=registry)(reconcile)
    kopf.on.update(*RESOURCE, id="spec", field="spec", registry=registry)(reconcile)
    kopf.timer(
        *RESOURCE, id="poll", interval=POLL_SECONDS, initial_delay=POLL_SECONDS, when=_running, registry=registry
    )(reconcile)
    kopf.timer(
        *RESOURCE,
        id="pending",
        interval=PENDING_SECONDS,
        initial_delay=PENDING_SECONDS,
        when=_waiting,
        registry=registry,
    )(reconcile)
    kopf.on.delete(*RESOURCE, id="delete", registry=registry)(delete)
