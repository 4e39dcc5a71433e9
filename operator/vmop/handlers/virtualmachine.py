"""kopf wiring for VirtualMachine: events -> the controller -> patch, events, retries."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import kopf

from vmop import metrics
from vmop.api import GROUP, VERSION
from vmop.api.annotations import (
    ANNOTATION_CONFIRM_RECREATE,
    ANNOTATION_DELETION_POLICY,
    ANNOTATION_FORCE_RELEASE,
    ANNOTATION_MIGRATION,
    ANNOTATION_PAUSED,
    ANNOTATION_RECONCILE_REQUEST,
    ANNOTATION_UUID,
)
from vmop.controller.objects import ObjectView, Outcome
from vmop.controller.virtualmachine import Relations
from vmop.handlers.objects import Wait, announce, apply, record, retry_delay, retry_or_wait, retry_unfinished, view
from vmop.handlers.runtime import Runtime
from vmop.handlers.vmgroup import INDEX as GROUP_INDEX
from vmop.handlers.vmgroup import group_uuid
from vmop.handlers.vmmigration import BY_VM, migrations_of
from vmop.reconcile.identity import Claim
from vmop.reconcile.status import parse_rfc3339
from vmop.reconcile.virtualmachine import BOOT_LOOK_SECONDS

RESOURCE = (GROUP, VERSION, "virtualmachines")
CLAIMS = "virtualmachines_by_uuid"  # platform uuid -> the objects naming it (two must never drive one VM)
STOP_WAIT_SECONDS = 30.0
STOP_POLL_SECONDS = 2.0


def claim_entry(
    namespace: str | None,
    name: str | None,
    uid: str | None,
    meta: kopf.Meta,
    spec: kopf.Spec,
    status: kopf.Status,
    **_: Any,
) -> dict[str, Claim]:
    def claim(recorded: bool) -> Claim:
        return Claim(namespace or "", name or "", uid or "", str(meta.get("creationTimestamp") or ""), recorded)

    entries = {uuid: claim(True) for uuid in (status.get("uuid"), meta.annotations.get(ANNOTATION_UUID)) if uuid}
    adopted = (spec.get("adopt") or {}).get("uuid")
    if adopted and adopted not in entries:
        entries[adopted] = claim(False)
    return entries


def _relations(obj: ObjectView, indexes: dict[str, Any]) -> Relations:
    claims = indexes[CLAIMS]
    return Relations(
        group=lambda name: group_uuid(indexes[GROUP_INDEX], obj.namespace, name),
        claims=lambda uuid: list(claims.get(uuid) or ()),
        migrations=migrations_of(indexes[BY_VM], obj.namespace, obj.name),
    )


async def _sync(
    body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int | None, indexes: dict[str, Any]
) -> Outcome | None:
    runtime: Runtime = memo.runtime
    started = time.monotonic()
    uid = body.metadata.uid or ""
    # Taken before queueing: a new object then reads a list newer than the event that asked, and
    # one list serves every pass queued with it (controller/passes.py).
    fresh_after = runtime.history.list_needed_after(uid)
    async with runtime.lock(uid), runtime.passes:
        if body.metadata.get("deletionTimestamp"):  # a resync that waited here: deletion owns it now
            return None
        obj = runtime.written.view(view(body))  # read under the lock: the pass before may just have written
        outcome = await runtime.virtual_machines.sync(obj, _relations(obj, indexes), fresh_after=fresh_after)
        runtime.history.ended(uid, acted=outcome.acted, look_after=outcome.refresh_after)
        if body.metadata.get("deletionTimestamp"):  # deleted meanwhile: the status is the deletion's now
            outcome.status, outcome.requeue_after = None, None
        # The annotations as they are with the create mark this pass wrote itself (kopf's body may
        # not show it yet): kopf's patch then neither writes the mark again nor forgets to clear it.
        written = runtime.written.view(view(body)).annotations
        runtime.written.record(obj.uid, outcome.annotations, outcome.status)
    record("VirtualMachine", obj, outcome, time.monotonic() - started)
    apply(outcome, body, patch, written)
    retry_or_wait(outcome, retry)
    return outcome


async def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **kwargs: Any) -> None:
    await _sync(body, patch, memo, retry, kwargs)


async def resync(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    """Also the looks a pass asks for sooner than a period (Plan.refresh_after: a new VM's host and
    guest agent): a timer's retry waits in memory, where a change handler's retry would cost kopf
    writes (its progress, and a touch to wake itself). So a new object's timer first runs soon."""
    if kwargs["stopped"]:  # the object is being deleted (or vmop stops): the deletion owns it, do not queue
        return
    runtime: Runtime = memo.runtime
    uid, early = body.metadata.uid or "", _age(body) < runtime.config.resync_seconds
    # Its create (or, after a restart, resume) handler has not run yet, queued behind others in a
    # burst longer than a period: that pass is on the way, and a resync first would only make two.
    # A new object's timer comes back once that pass is done.
    if not runtime.history.has_passed(uid):
        if early:
            raise Wait("waiting for the first pass", delay=BOOT_LOOK_SECONDS, log_level=logging.DEBUG)
        return
    due = runtime.history.look_due(uid)
    if due is None and early:  # a new object's first run, and its pass asked for no look: the period
        return
    if due is not None and due > 0:
        raise Wait("looking again soon", delay=due, log_level=logging.DEBUG)
    outcome = await _sync(body, patch, memo, None, kwargs)
    if outcome is not None and outcome.refresh_after is not None:
        raise Wait("looking again soon", delay=outcome.refresh_after, log_level=logging.DEBUG)


def _age(body: kopf.Body) -> float:
    created = parse_rfc3339(body.metadata.get("creationTimestamp"))
    return time.time() - created if created is not None else float("inf")


def _first_resync(resync_seconds: float) -> Callable[..., float]:
    """A new object's timer first runs soon, for the look its first pass may ask for."""

    def delay(body: kopf.Body, **_: Any) -> float:
        return BOOT_LOOK_SECONDS if _age(body) < resync_seconds else resync_seconds

    return delay


async def delete(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **kwargs: Any) -> None:
    runtime: Runtime = memo.runtime
    obj = view(body)
    namespace_policy = None
    # A force-release needs nothing read: not even the namespace may stand in its way.
    if not obj.spec.get("deletionPolicy") and obj.annotations.get(ANNOTATION_FORCE_RELEASE) != "true":
        namespace_policy = await runtime.namespace_policy(obj.namespace, ANNOTATION_DELETION_POLICY)
    # A guest stops in seconds: wait for it in this one call, each look reading a list newer than
    # the one before (shared by every deletion waiting), rather than through kopf's retries, each
    # of which writes kopf's progress to the object (bench/). Nothing is written meanwhile but the
    # calls' Events: a status write would also make kopf's release of the finalizer, tied to the
    # resourceVersion this call started with, fail once. Past STOP_WAIT_SECONDS kopf retries (the
    # status then says Deleting), and a change made meanwhile (vmop.io/force-release) is seen.
    waited, fresh_after = 0.0, None
    unwritten: dict[str, Any] | None = None  # the status so far (when the shutdown was asked): written if kopf retries
    while True:
        looked_at = runtime.inventory.now()
        async with runtime.lock(obj.uid), runtime.passes:
            obj = runtime.written.view(view(body))
            if unwritten is not None:
                obj = replace(obj, status=unwritten)
            outcome = await runtime.virtual_machines.delete(
                obj, namespace_policy, _relations(obj, kwargs), fresh_after=fresh_after
            )
        unwritten = outcome.status if outcome.status is not None else unwritten
        if outcome.done or outcome.error is not None or waited >= STOP_WAIT_SECONDS:
            break
        announce(outcome.events, body)
        await asyncio.sleep(STOP_POLL_SECONDS)
        waited, fresh_after = waited + STOP_POLL_SECONDS, looked_at
    if not outcome.done:
        outcome.status = unwritten
        runtime.written.record(obj.uid, outcome.annotations, outcome.status)
    apply(outcome, body, patch)
    if not outcome.done:
        delay = outcome.requeue_after or retry_delay(retry)
        raise retry_unfinished(outcome, delay, "deleting: waiting for the platform")
    runtime.forget(obj.uid)
    metrics.PHASES.set("VirtualMachine", obj.uid, None)


def register(registry: kopf.OperatorRegistry, resync_seconds: float) -> None:
    kopf.on.create(*RESOURCE, id="create", registry=registry)(reconcile)
    kopf.on.resume(*RESOURCE, id="resume", registry=registry)(reconcile)
    kopf.on.update(*RESOURCE, id="spec", field="spec", registry=registry)(reconcile)
    # A person's knobs, and the VmMigration controller's marks: react at once, not at the next resync.
    kopf.index(*RESOURCE, id=CLAIMS, registry=registry)(claim_entry)
    for annotation in (
        ANNOTATION_RECONCILE_REQUEST,
        ANNOTATION_PAUSED,
        ANNOTATION_MIGRATION,
        ANNOTATION_CONFIRM_RECREATE,
    ):
        kopf.on.update(
            *RESOURCE,
            id=f"annotation-{annotation.split('/')[1]}",
            field=("metadata", "annotations", annotation),
            registry=registry,
        )(reconcile)
    kopf.timer(
        *RESOURCE,
        id="resync",
        interval=resync_seconds,
        initial_delay=_first_resync(resync_seconds),  # a new object's first look: soon after its create
        registry=registry,
    )(resync)
    kopf.on.delete(*RESOURCE, id="delete", registry=registry)(delete)
