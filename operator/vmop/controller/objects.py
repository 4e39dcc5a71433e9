"""What a controller pass reads from an object and hands back to the handler."""

from __future__ import annotations

from collections.abc import Mapping
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
    resource_version: str = ""
    deleting: bool = False  # deletionTimestamp is set
    finalizers: tuple[str, ...] = ()
    controller: tuple[str, str] | None = None  # (kind, name) of the object that controls this one

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


# Strings a view shares with the views before it (field names, phases, reasons, the cluster, tenant
# and pool ids), as pydantic's JSON parser caches them: a fixed table by hash, so unique values only
# pass through. 10,000 VirtualMachines' views took 103 MiB with a copy of each, 46 MiB sharing them
# (bench/view_memory.py), for 43 us per view.
_SHARED_SLOTS = 16384
_SHARED_LONGEST = 64
_shared: list[str | None] = [None] * _SHARED_SLOTS


def _shared_text(text: str) -> str:
    slot = hash(text) % _SHARED_SLOTS
    known = _shared[slot]
    if known == text:
        return known
    _shared[slot] = text
    return text


def _sharing(value: Any) -> Any:
    """``value`` (parsed JSON) with its keys and short strings shared where seen before."""
    if isinstance(value, dict):
        return {_shared_text(key): _sharing(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sharing(item) for item in value]
    if isinstance(value, str) and len(value) <= _SHARED_LONGEST:
        return _shared_text(value)
    return value


def view_of(body: Mapping[str, Any]) -> ObjectView:
    """The view of an object as the watch or a write's answer has it: what passes read, nothing
    else (no labels, managed fields or kopf's old bookkeeping: the store holds one per object)."""
    metadata: Mapping[str, Any] = body.get("metadata") or {}
    status = {key: value for key, value in (body.get("status") or {}).items() if key != "kopf"}
    return ObjectView(
        namespace=metadata.get("namespace") or "",
        name=metadata.get("name") or "",
        uid=metadata.get("uid") or "",
        generation=int(metadata.get("generation") or 0),
        spec=_sharing(dict(body.get("spec") or {})),
        status=_sharing(status),
        annotations=_sharing(dict(metadata.get("annotations") or {})),
        created=str(metadata.get("creationTimestamp") or ""),
        resource_version=str(metadata.get("resourceVersion") or ""),
        deleting=bool(metadata.get("deletionTimestamp")),
        finalizers=tuple(metadata.get("finalizers") or ()),
        controller=next(
            (
                (ref.get("kind", ""), ref.get("name", ""))
                for ref in metadata.get("ownerReferences") or []
                if ref.get("controller")
            ),
            None,
        ),
    )


def body_of(view: ObjectView) -> dict[str, Any]:
    """The view as an object body, for code that reads bodies."""
    metadata = {
        "namespace": view.namespace,
        "name": view.name,
        "uid": view.uid,
        "generation": view.generation,
        "annotations": dict(view.annotations),
        "creationTimestamp": view.created,
    }
    return {"metadata": metadata, "spec": dict(view.spec), "status": dict(view.status)}


def pass_events(events: list[tuple[str, str, str]], *, asked: bool) -> list[tuple[str, str, str]]:
    """The Events a pass posts. Each is a write to the apiserver, so the Normal ones (the calls it
    made) only when vmop acted on its own (drift set back, a retry, a restart for pending changes
    at a resync), in one Event: the first call's reason, every call in the message. A pass that did
    what the object asked (a new generation, a deletion) and succeeded posts none: its status says
    so, and the log keeps the calls (docs/operations.md, Events). Warnings always, as they are."""
    warnings = [event for event in events if event[0] != "Normal"]
    calls = [event for event in events if event[0] == "Normal"]
    if asked or not calls:
        return warnings
    return [("Normal", calls[0][1], "; ".join(message for _, _, message in calls)), *warnings]


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
