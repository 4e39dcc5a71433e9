"""kopf wiring for VmGroup, and the index VirtualMachines use to resolve groupRef."""

from __future__ import annotations

import time
from typing import Any

import kopf

from vmop import metrics
from vmop.api import GROUP, VERSION
from vmop.api.annotations import ANNOTATION_UUID
from vmop.handlers.objects import apply, record, retry_delay, retry_or_wait, retry_unfinished, view
from vmop.handlers.runtime import Runtime
from vmop.reconcile.vmgroup import GroupEntry

RESOURCE = (GROUP, VERSION, "vmgroups")
INDEX = "vmgroups_by_name"
GroupIndex = kopf.Index[tuple[str, str], GroupEntry]


def index_entry(
    namespace: str | None,
    name: str | None,
    spec: kopf.Spec,
    status: kopf.Status,
    annotations: kopf.Annotations,
    **_: Any,
) -> dict[tuple[str, str], GroupEntry]:
    parent = spec.get("parentRef") or {}
    uuid = annotations.get(ANNOTATION_UUID) or status.get("uuid")
    ready = any(c.get("type") == "Ready" for c in status.get("conditions") or [])
    entry = GroupEntry(
        uuid if (uuid and ready) else None, parent.get("name"), spec.get("cluster", ""), spec.get("tenant", "")
    )
    return {(namespace or "", name or ""): entry}


def entries(index: GroupIndex) -> dict[tuple[str, str], GroupEntry]:
    return {key: next(iter(store)) for key, store in index.items() if store}


def group_uuid(index: GroupIndex, namespace: str, name: str) -> str | None:
    store = index.get((namespace, name))
    entry: GroupEntry | None = next(iter(store), None) if store else None
    return entry.uuid if entry else None


async def _sync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int | None, index: GroupIndex) -> None:
    runtime: Runtime = memo.runtime
    obj = view(body)
    started = time.monotonic()
    async with runtime.lock(obj.uid), runtime.passes:  # the same guards as every kind's pass
        if body.metadata.get("deletionTimestamp"):  # a resync that waited here: deletion owns it now
            return
        outcome = await runtime.vm_groups.sync(obj, entries(index))
    record("VmGroup", obj, outcome, time.monotonic() - started)
    apply(outcome, body, patch)
    retry_or_wait(outcome, retry)


async def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **kwargs: Any) -> None:
    await _sync(body, patch, memo, retry, kwargs[INDEX])


async def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    await _sync(body, patch, memo, None, kwargs[INDEX])


async def delete(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **kwargs: Any) -> None:
    runtime: Runtime = memo.runtime
    obj = view(body)
    children = [
        name
        for (namespace, name), entry in entries(kwargs[INDEX]).items()
        if namespace == obj.namespace and entry.parent_ref == obj.name
    ]
    async with runtime.lock(obj.uid):
        outcome = await runtime.vm_groups.delete(obj, children)
    apply(outcome, body, patch)
    if not outcome.done:
        delay = outcome.requeue_after or retry_delay(retry)
        raise retry_unfinished(outcome, delay, "waiting to delete (the Synced condition says for what)")
    runtime.forget(obj.uid)
    metrics.PHASES.set("VmGroup", obj.uid, None)


def register(registry: kopf.OperatorRegistry, resync_seconds: float) -> None:
    kopf.index(*RESOURCE, id=INDEX, registry=registry)(index_entry)
    kopf.on.create(*RESOURCE, id="create", registry=registry)(reconcile)
    kopf.on.resume(*RESOURCE, id="resume", registry=registry)(reconcile)
    kopf.on.update(*RESOURCE, id="spec", field="spec", registry=registry)(reconcile)
    kopf.timer(*RESOURCE, id="resync", interval=resync_seconds, initial_delay=resync_seconds, registry=registry)(resync)
    kopf.on.delete(*RESOURCE, id="delete", registry=registry)(delete)
