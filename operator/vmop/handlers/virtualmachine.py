"""kopf wiring for VirtualMachine: events -> the controller -> patch, events, retries."""

from __future__ import annotations

from typing import Any

import kopf

from vmop.api import GROUP, VERSION
from vmop.compute.errors import is_transient
from vmop.controller.virtualmachine import (
    ANNOTATION_DELETION_POLICY,
    ANNOTATION_PAUSED,
    ANNOTATION_RECONCILE_REQUEST,
    ObjectView,
    Outcome,
)
from vmop.handlers.runtime import Runtime

RESOURCE = (GROUP, VERSION, "virtualmachines")
MAX_BACKOFF = 300.0


def view(body: kopf.Body) -> ObjectView:
    return ObjectView(
        namespace=body.metadata.namespace or "",
        name=body.metadata.name or "",
        uid=body.metadata.uid or "",
        generation=int(body.metadata.get("generation", 0)),
        spec=dict(body.spec),
        status=dict(body.status),
        annotations=dict(body.metadata.annotations),
    )


def apply(outcome: Outcome, body: kopf.Body, patch: kopf.Patch) -> None:
    if outcome.status is not None:
        for key, value in outcome.status.items():
            patch.status[key] = value
    for key, value in outcome.annotations.items():
        if body.metadata.annotations.get(key) != value:
            patch.metadata.annotations[key] = value
    for kind, reason, message in outcome.events:
        kopf.event(body, type=kind, reason=reason, message=message)


def retry_or_wait(outcome: Outcome, retry: int | None) -> None:
    """Transient failures back off exponentially (the resync timer just waits for its next run); a
    platform mid-transition is looked at again
    soon; a permanent refusal waits for a spec change or the next resync (no hot loop)."""
    if outcome.error is not None:
        if is_transient(outcome.error) and retry is not None:
            raise kopf.TemporaryError(str(outcome.error), delay=min(MAX_BACKOFF, 2.0 * 2**retry))
        return
    if outcome.requeue_after is not None:
        raise kopf.TemporaryError("waiting for the platform", delay=outcome.requeue_after)


async def _sync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int | None) -> None:
    runtime: Runtime = memo.runtime
    obj = view(body)
    async with runtime.lock(obj.uid):
        outcome = await runtime.virtual_machines.sync(obj)
    apply(outcome, body, patch)
    retry_or_wait(outcome, retry)


async def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **_: Any) -> None:
    await _sync(body, patch, memo, retry)


async def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    await _sync(body, patch, memo, None)


async def delete(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **_: Any) -> None:
    runtime: Runtime = memo.runtime
    obj = view(body)
    namespace_policy = None
    if not obj.spec.get("deletionPolicy"):
        namespace_policy = (await runtime.kube.namespace_annotations(obj.namespace)).get(ANNOTATION_DELETION_POLICY)
    async with runtime.lock(obj.uid):
        outcome = await runtime.virtual_machines.delete(obj, namespace_policy)
    apply(outcome, body, patch)
    if not outcome.done:
        delay = outcome.requeue_after or min(MAX_BACKOFF, 5.0 * 2**retry)
        raise kopf.TemporaryError(str(outcome.error or "deleting"), delay=delay)
    runtime.forget(obj.uid)


def register(registry: kopf.OperatorRegistry, resync_seconds: float) -> None:
    kopf.on.create(*RESOURCE, id="create", registry=registry)(reconcile)
    kopf.on.resume(*RESOURCE, id="resume", registry=registry)(reconcile)
    kopf.on.update(*RESOURCE, id="spec", field="spec", registry=registry)(reconcile)
    for annotation in (ANNOTATION_RECONCILE_REQUEST, ANNOTATION_PAUSED):
        kopf.on.update(
            *RESOURCE,
            id=f"annotation-{annotation.split('/')[1]}",
            field=("metadata", "annotations", annotation),
            registry=registry,
        )(reconcile)
    kopf.timer(*RESOURCE, id="resync", interval=resync_seconds, initial_delay=resync_seconds, registry=registry)(resync)
    kopf.on.delete(*RESOURCE, id="delete", registry=registry)(delete)
