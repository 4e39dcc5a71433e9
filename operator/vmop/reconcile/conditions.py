"""Setting conditions the way Kubernetes API conventions ask: lastTransitionTime moves only when
the status really changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from vmop.api.conditions import SYNCED, WARNED_REASONS, Condition

Event = tuple[str, str, str]  # (type, reason, message)


def set_condition(
    conditions: list[Condition],
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    *,
    now: str,
    generation: int,
) -> list[Condition]:
    """A new list with ``type_`` set; the others untouched."""
    status_text: Literal["True", "False", "Unknown"] = "Unknown" if status is None else ("True" if status else "False")
    previous = next((c for c in conditions if c.type == type_), None)
    changed = previous is None or previous.status != status_text
    condition = Condition(
        type=type_,
        status=status_text,
        reason=reason,
        message=message[:4096],
        last_transition_time=now if changed or previous is None else previous.last_transition_time,
        observed_generation=generation,
    )
    return [condition if c.type == type_ else c for c in conditions] if previous else [*conditions, condition]


def condition_status(conditions: list[Condition], type_: str) -> str | None:
    found = next((c for c in conditions if c.type == type_), None)
    return found.status if found else None


def _synced(status: Mapping[str, Any]) -> tuple[str, str, str] | None:
    found = next((c for c in status.get("conditions") or [] if c.get("type") == SYNCED), None)
    return (found.get("status", ""), found.get("reason", ""), found.get("message", "")) if found else None


def attention_events(previous: Mapping[str, Any], current: Mapping[str, Any] | None, said: list[Event]) -> list[Event]:
    """A Warning Event when Synced turns False for a reason a person should see, once (not each
    pass, nor when only its message moves, such as a countdown): a condition alone is easily
    missed. ``previous``, ``current``: the status as
    written (``current`` None: unchanged); ``said``: this pass's own Events, not repeated."""
    if current is None:
        return []
    now = _synced(current)
    if now is None or now[0] != "False" or now[1] not in WARNED_REASONS or (_synced(previous) or ())[:2] == now[:2]:
        return []
    if any(reason == now[1] for _, reason, _ in said):
        return []
    return [("Warning", now[1], now[2])]
