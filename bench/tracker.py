"""Each object's timeline, as the benchmark's watch sees it: created, Ready, deleted."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def parse_time(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def ready_condition(obj: dict[str, Any]) -> dict[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return dict(condition)
    return None


@dataclass
class Timeline:
    applied: float | None = None  # the apply request returned (client clock)
    seen: float | None = None  # first watch event
    ready: float | None = None  # first watch event with Ready=True
    deleted: float | None = None  # the DELETED event: finalizers released, object gone
    created_at: float | None = None  # metadata.creationTimestamp (server, whole seconds)
    ready_at: float | None = None  # the Ready condition's lastTransitionTime (whole seconds)
    modified: int = 0  # MODIFIED events: each is one write to the object (a watch sends every one)
    writes_to_ready: int | None = None  # of them, those up to and including the first with Ready=True
    shown: list[str] = field(default_factory=list)  # what each of those showed (see ``Tracker.outliers``)
    # What each write after Ready showed, up to the deletion (the first few: see ``Tracker.rewritten``).
    after_ready: list[str] = field(default_factory=list)


@dataclass
class Tracker:
    timelines: dict[str, Timeline] = field(default_factory=dict)
    ready_count: int = 0
    deleted_count: int = 0
    events: int = 0

    def on_event(self, kind: str, obj: dict[str, Any]) -> None:
        now = time.time()
        self.events += 1
        meta = obj["metadata"]
        timeline = self.timelines.setdefault(meta["name"], Timeline())
        if timeline.seen is None:
            timeline.seen = now
            timeline.created_at = parse_time(meta.get("creationTimestamp"))
        if kind == "DELETED":
            if timeline.deleted is None:
                timeline.deleted = now
                self.deleted_count += 1
            return
        timeline.modified += kind == "MODIFIED"
        if kind == "MODIFIED" and timeline.ready is None:
            timeline.shown.append(shown(obj))
        elif kind == "MODIFIED" and not meta.get("deletionTimestamp") and len(timeline.after_ready) < AFTER_READY_SHOWN:
            timeline.after_ready.append(shown(obj))
        condition = ready_condition(obj)
        if condition is not None and timeline.ready is None:
            timeline.ready = now
            timeline.writes_to_ready = timeline.modified
            timeline.ready_at = parse_time(condition.get("lastTransitionTime"))
            self.ready_count += 1

    def applied(self, times: dict[str, float]) -> None:
        for name, when in times.items():
            self.timelines.setdefault(name, Timeline()).applied = when

    async def wait(self, count: str, target: int, *, within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while getattr(self, count) < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: {getattr(self, count)} of {target} after {within:.0f}s")
            await asyncio.sleep(0.1)

    def ready_latencies(self) -> list[float]:
        """Per object: the apply returned -> the watch saw Ready (client clock, milliseconds)."""
        return sorted(t.ready - t.applied for t in self.timelines.values() if t.ready and t.applied)

    def server_latencies(self) -> list[float]:
        """Per object: creationTimestamp -> Ready's lastTransitionTime (server stamps, whole seconds)."""
        return sorted(
            t.ready_at - t.created_at for t in self.timelines.values() if t.ready_at is not None and t.created_at
        )

    def writes_to_ready(self) -> float | None:
        """Writes to an object from its apply to its Ready, per object (mean)."""
        counts = [t.writes_to_ready for t in self.timelines.values() if t.writes_to_ready is not None]
        return round(sum(counts) / len(counts), 3) if counts else None

    def outliers(self, writes: int, most: int = 10) -> dict[str, list[str]]:
        """Up to ``most`` objects written more than ``writes`` times to Ready, with what each write
        showed: why a target of writes was missed."""
        over = [(name, t.shown) for name, t in sorted(self.timelines.items()) if (t.writes_to_ready or 0) > writes]
        return dict(over[:most])

    def rewritten(self, writes: int, most: int = 10) -> dict[str, list[str]]:
        """Up to ``most`` objects written more than ``writes`` times after Ready and before their
        deletion, with what each of those writes showed."""
        over = [(name, t.after_ready) for name, t in sorted(self.timelines.items()) if len(t.after_ready) > writes]
        return dict(over[:most])

    def rewritten_count(self, writes: int) -> int:
        return sum(len(t.after_ready) > writes for t in self.timelines.values())

    def last(self, attribute: str) -> float | None:
        values = [getattr(t, attribute) for t in self.timelines.values() if getattr(t, attribute) is not None]
        return max(values) if values else None


AFTER_READY_SHOWN = 4


def shown(obj: dict[str, Any]) -> str:
    """One write, in brief: the finalizers, vmop's annotations, the phase, the conditions and where
    the VM runs."""
    meta, status = obj["metadata"], obj.get("status") or {}
    annotations = sorted(key for key in meta.get("annotations") or {} if key.startswith("vmop.io/"))
    conditions = [f"{c.get('type')}={c.get('status')}/{c.get('reason')}" for c in status.get("conditions") or []]
    return (
        f"finalizers={meta.get('finalizers') or []} annotations={annotations} phase={status.get('phase')} "
        f"conditions={conditions} message={status.get('message')!r} host={status.get('host')} "
        f"agent={status.get('agent')} ips={status.get('ips')}"
    )


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": values[-1] if values else None,
    }
