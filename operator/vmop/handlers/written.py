"""What this process has written to each object, laid over kopf's body until the watch shows it.

kopf hands a handler or timer the body of the last watch event it has processed. This process's
own writes (the create mark and the uuid annotations, the status of the pass just before) may
not have come back through the watch yet, above all when a thousand objects change at once and
kopf's queues run seconds behind. A resync pass that read such a body would not know the VM it
had just created: it would report a conflict with it, or drop the disks and NICs it owns from
status and then "repair" them. So the latest values written are laid over the body until the
body shows them, or for at most ``ttl`` seconds (a write that failed is not assumed forever).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from vmop.controller.objects import ObjectView


def _without_none(value: Any) -> Any:
    """As the apiserver keeps it: a merge patch drops null members."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _merged(current: dict[str, Any], written: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in written.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


@dataclass
class _Entry:
    annotations: dict[str, str | None]
    status: dict[str, Any]
    at: float


class Written:
    def __init__(self, ttl: float = 120.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def record(self, uid: str, annotations: dict[str, str | None], status: dict[str, Any] | None) -> None:
        entry = self._entries.setdefault(uid, _Entry({}, {}, 0.0))
        entry.annotations.update(annotations)
        if status is not None:
            entry.status.update(status)
        entry.at = self._clock()

    def view(self, obj: ObjectView) -> ObjectView:
        """``obj`` with this process's latest writes, unless it shows them already."""
        entry = self._entries.get(obj.uid)
        if entry is None:
            return obj
        shown = all(obj.annotations.get(k) == v for k, v in entry.annotations.items()) and all(
            _without_none(obj.status.get(k)) == _without_none(v) for k, v in entry.status.items()
        )
        if shown or self._clock() - entry.at > self._ttl:
            del self._entries[obj.uid]
            return obj
        annotations = {k: v for k, v in _merged(obj.annotations, entry.annotations).items() if v is not None}
        return replace(obj, annotations=annotations, status=_merged(obj.status, entry.status))

    def forget(self, uid: str) -> None:
        self._entries.pop(uid, None)

    def __len__(self) -> int:
        return len(self._entries)
