"""Turning kopf's bodies into controller views, and outcomes back into patches, events, retries."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping

import kopf

from vmop import metrics
from vmop.compute.errors import is_transient
from vmop.controller.objects import ObjectView, Outcome
from vmop.engine.backoff import PASS_BACKOFF
from vmop.reconcile.conditions import attention_events


class Wait(kopf.TemporaryError):
    """A retry that is part of the work, not a failure: kopf logs each TemporaryError as ERROR,
    and vmop.logs.ExpectedWaits logs this one at ``log_level`` instead."""

    def __init__(self, message: str, *, delay: float, log_level: int) -> None:
        super().__init__(message, delay=delay)
        self.log_level = log_level


def retry_delay(retry: int) -> float:
    """kopf's retry ``retry`` of a handler waits the engine's one backoff (jittered)."""
    return PASS_BACKOFF.delay(retry, random.random())


def retry_unfinished(outcome: Outcome, delay: float, waiting: str) -> Wait:
    """The retry of a deletion that is not done: the platform's error (WARNING: it is retried,
    and a person need not act yet), or what it waits for (INFO)."""
    if outcome.error is not None:
        return Wait(str(outcome.error), delay=delay, log_level=logging.WARNING)
    return Wait(waiting, delay=delay, log_level=logging.INFO)


def view(body: kopf.Body) -> ObjectView:
    return ObjectView(
        namespace=body.metadata.namespace or "",
        name=body.metadata.name or "",
        uid=body.metadata.uid or "",
        generation=int(body.metadata.get("generation", 0)),
        spec=dict(body.spec),
        status=dict(body.status),
        annotations=dict(body.metadata.annotations),
        created=str(body.metadata.get("creationTimestamp") or ""),
    )


def apply(
    outcome: Outcome, body: kopf.Body, patch: kopf.Patch, annotations_now: Mapping[str, str] | None = None
) -> None:
    """``annotations_now``: the object's annotations with this process's own writes the body may
    not show yet (handlers/written.py); a mark written meanwhile must still be cleared."""
    if outcome.status is not None:
        for key, value in outcome.status.items():
            patch.status[key] = value
    current = body.metadata.annotations if annotations_now is None else annotations_now
    for key, value in outcome.annotations.items():
        if current.get(key) != value:
            patch.metadata.annotations[key] = value
    announce([*outcome.events, *attention_events(body.status, outcome.status, outcome.events)], body)


def announce(events: list[tuple[str, str, str]], body: kopf.Body) -> None:
    for kind, reason, message in events:
        kopf.event(body, type=kind, reason=reason, message=message)


def retry_or_wait(outcome: Outcome, retry: int | None) -> None:
    """Transient failures and refusals back off exponentially, capped (the resync timer just waits
    for its next run): a refusal of a call planned from an observation means that observation was
    stale or the platform busy, so the next pass looks again before retrying; the doc names too few
    scodes to tell a lasting refusal apart. A platform mid-transition is looked at again soon."""
    if outcome.error is not None:
        if (is_transient(outcome.error) or outcome.error.refused) and retry is not None:
            raise Wait(str(outcome.error), delay=retry_delay(retry), log_level=logging.WARNING)
        return
    if outcome.requeue_after is not None:  # routine: only DEBUG shows it
        raise Wait("waiting for the platform", delay=outcome.requeue_after, log_level=logging.DEBUG)


def record(kind: str, obj: ObjectView, outcome: Outcome, seconds: float) -> None:
    """Metrics for one pass: its result, its duration, and the object's phase afterwards."""
    result = "error" if outcome.error is not None else ("waiting" if outcome.requeue_after else "success")
    metrics.RECONCILES.labels(kind, result).inc()
    metrics.RECONCILE_SECONDS.labels(kind).observe(seconds)
    status = outcome.status if outcome.status is not None else obj.status
    metrics.PHASES.set(kind, obj.uid, status.get("phase"))
