"""A pass's writes to its object, each answer handed back to the engine (``observe``) so that the
next pass reads it, and the Events a pass reports (signed vmop, under the same rate limit)."""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vmop.api import GROUP, VERSION
from vmop.api.annotations import FINALIZER
from vmop.controller.kube import KubeAccess, KubeError, is_gone
from vmop.controller.objects import ObjectView, Outcome, view_of
from vmop.reconcile.conditions import attention_events

log = logging.getLogger(__name__)

Observe = Callable[[ObjectView], None]
EVENT_COMPONENT = "vmop"  # `kubectl describe`'s "From"
EVENT_INSTANCE = socket.gethostname()  # the pod's name
MAX_EVENT_MESSAGE = 1024  # longer ones are cut in the middle


class WriteFailed(Exception):
    """The apiserver did not take a write (overloaded, unreachable, refused): the pass is retried.
    ``forbidden``: vmop's identity may not make it, which no retry mends (a person must)."""

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


class ObjectGone(WriteFailed):
    """The object is deleted: nothing to write to, and nothing may be made for it."""


@dataclass
class ObjectWrites:
    kube: KubeAccess
    kind: str
    plural: str
    observe: Observe

    async def status(self, obj: ObjectView, status: dict[str, Any]) -> ObjectView:
        """Merge ``status`` into the object's."""
        return await self._write(obj, "status", self.kube.patch_status(self.plural, obj.namespace, obj.name, status))

    async def metadata(
        self,
        obj: ObjectView,
        *,
        annotations: dict[str, str | None] | None = None,
        finalizers: list[str] | None = None,
    ) -> ObjectView:
        """Annotations (None removes one) and, based on ``obj``'s resourceVersion, the finalizers."""
        write = self.kube.patch_metadata(
            self.plural,
            obj.namespace,
            obj.name,
            annotations=annotations,
            finalizers=finalizers,
            resource_version=obj.resource_version if finalizers is not None else None,
        )
        return await self._write(obj, "metadata", write)

    async def finalize(self, obj: ObjectView, annotations: dict[str, str | None] | None = None) -> ObjectView:
        """Add vmop's finalizer (before anything is made on the platform for the object), with
        ``annotations`` in the same write."""
        if FINALIZER in obj.finalizers and not annotations:
            return obj
        finalizers = None if FINALIZER in obj.finalizers else [*obj.finalizers, FINALIZER]
        return await self.metadata(obj, annotations=annotations, finalizers=finalizers)

    async def release(self, obj: ObjectView) -> None:
        """Remove vmop's finalizer: the object's deletion may complete."""
        if FINALIZER in obj.finalizers:
            with contextlib.suppress(ObjectGone):
                await self.metadata(obj, finalizers=[f for f in obj.finalizers if f != FINALIZER])

    async def apply(self, before: ObjectView, outcome: Outcome, now: ObjectView | None = None) -> None:
        """The pass's annotations (those that differ from the object ``now``, after the pass's
        own writes), status and Events (the Warnings of a reason new since ``before``)."""
        current = now or before
        annotations = {k: v for k, v in outcome.annotations.items() if current.annotations.get(k) != v}
        if annotations:
            await self.metadata(current, annotations=annotations)
        if outcome.status is not None:
            await self.status(current, outcome.status)
        await self.announce(before, [*outcome.events, *attention_events(before.status, outcome.status, outcome.events)])

    def _name(self, obj: ObjectView) -> str:
        return f"{self.kind} {obj.namespace}/{obj.name}"

    async def announce(self, obj: ObjectView, events: list[tuple[str, str, str]]) -> None:
        """Post the Events; one that fails is logged and dropped (Events are help, not state)."""
        for kind, reason, message in events:
            try:
                await self.kube.post_event(obj.namespace, self._event(obj, kind, reason, message))
            except KubeError as exc:
                log.warning("%s: Event %s not posted: %s", self._name(obj), reason, exc)

    def _event(self, obj: ObjectView, kind: str, reason: str, message: str) -> dict[str, Any]:
        if len(message) > MAX_EVENT_MESSAGE:
            half = (MAX_EVENT_MESSAGE - 3) // 2
            message = f"{message[:half]}...{message[-half:]}"
        now = datetime.datetime.now(datetime.UTC).isoformat()
        return {
            "metadata": {"namespace": obj.namespace, "generateName": f"{EVENT_COMPONENT}-"},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": self.kind,
                "namespace": obj.namespace,
                "name": obj.name,
                "uid": obj.uid,
            },
            "type": kind,
            "reason": reason,
            "message": message,
            "action": reason,
            "source": {"component": EVENT_COMPONENT},
            "reportingComponent": EVENT_COMPONENT,
            "reportingInstance": EVENT_INSTANCE,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "eventTime": now,
            "count": 1,
        }

    async def _write(self, obj: ObjectView, what: str, write: Any) -> ObjectView:
        try:
            answer = await write
        except KubeError as exc:
            if is_gone(exc):
                raise ObjectGone(f"{self._name(obj)} is gone") from None
            if exc.status is None:
                raise WriteFailed(f"{self._name(obj)}: {what} write: {exc.reason}") from None
            said = _message_of(exc)
            raise WriteFailed(
                f"{self._name(obj)}: {what} write refused: {exc.status} {exc.reason}{': ' + said if said else ''}",
                forbidden=exc.status in (401, 403),
            ) from None
        view = view_of(answer)
        self.observe(view)
        return view


def _message_of(exc: KubeError) -> str:
    """The apiserver's own words (its Status message), short."""
    try:
        message = str(json.loads(exc.body or "{}").get("message") or "")
    except (ValueError, AttributeError):
        return ""
    return message[:300]
