"""Setting conditions the way Kubernetes API conventions ask: lastTransitionTime moves only when
the status really changes."""

from __future__ import annotations

from typing import Literal

from vmop.api.conditions import Condition


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
