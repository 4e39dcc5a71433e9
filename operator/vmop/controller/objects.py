"""What a controller pass reads from an object and hands back to the handler."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vmop.compute.errors import ComputeError


@dataclass(frozen=True)
class ObjectView:
    """The parts of a Kubernetes object a pass reads."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: dict[str, Any]
    status: dict[str, Any]
    annotations: dict[str, str]
    created: str = ""  # creationTimestamp


@dataclass
class Outcome:
    status: dict[str, Any] | None  # None: unchanged, nothing to write
    annotations: dict[str, str | None] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    requeue_after: float | None = None
    refresh_after: float | None = None  # the next resync may come this soon (reconcile Plan.refresh_after)
    error: ComputeError | None = None
    done: bool = True  # deletion: the finalizer may be released
    acted: bool = False  # a platform call succeeded: the platform may still be settling
