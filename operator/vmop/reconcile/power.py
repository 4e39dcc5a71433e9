"""From the observed power state to the declared one, one legal call at a time.

Every call planned here is allowed by the doc in the state it is planned for: start only from
shut off with no action, shutdown only running with the agent connected, resume only paused,
restore only hibernated (a guest asleep by itself counts: compute/profile.py), and nothing at
all while an action runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vmop.reconcile.observed import Observed

PowerState = Literal["Running", "Stopped", "Suspended", "Hibernated"]
# What the VM is now, in the spec's words, plus the in-between states the platform shows.
CurrentPower = Literal["Running", "Stopped", "Suspended", "Hibernated", "ShuttingDown", "Busy", "Unknown"]


def current_power(vm: Observed) -> CurrentPower:
    if vm.busy:
        return "Busy"
    if vm.hibernated:
        return "Hibernated"
    if vm.action != "noaction":
        return "Unknown"
    return {
        "running": "Running",
        "shutoff": "Stopped",
        "paused": "Suspended",
        "shutdown": "ShuttingDown",
    }.get(vm.state, "Unknown")  # type: ignore[return-value]


@dataclass(frozen=True)
class PowerStep:
    operation: str | None  # the endpoint to call now, or None
    reason: str
    waiting: bool = False  # the platform is mid-transition: look again soon
    requests_shutdown: bool = False  # remember when the graceful shutdown was asked for
    stuck: bool = False  # no legal call exists from here (e.g. crashed): needs a person or the platform


# desired -> current -> the call that moves one step closer.
_TRANSITIONS: dict[str, dict[str, str]] = {
    "Running": {"Stopped": "start", "Hibernated": "restore", "Suspended": "resume"},
    "Stopped": {"Suspended": "resume", "Hibernated": "restore"},
    "Suspended": {"Running": "suspend", "Stopped": "start", "Hibernated": "restore"},
    "Hibernated": {"Running": "save", "Stopped": "start", "Suspended": "resume"},
}


def plan_power_transition(
    desired: PowerState,
    vm: Observed,
    *,
    shutdown_requested_at: float | None,
    shutdown_timeout: float,
    now: float,
) -> PowerStep:
    current = current_power(vm)
    if current == desired:
        return PowerStep(None, f"already {desired}")
    if current == "Busy":
        return PowerStep(None, f"the platform is {vm.action}", waiting=True)
    if current == "ShuttingDown":
        return PowerStep(None, "the guest is shutting down", waiting=True)
    if current == "Unknown":
        return PowerStep(None, f"no call is allowed in state {vm.state} with action {vm.action}", stuck=True)
    if desired == "Stopped" and current == "Running":
        return _graceful_then_hard(vm, shutdown_requested_at, shutdown_timeout, now)
    operation = _TRANSITIONS[desired][current]
    return PowerStep(operation, f"{current} -> {desired}")


def _graceful_then_hard(vm: Observed, requested_at: float | None, timeout: float, now: float) -> PowerStep:
    if requested_at is None:
        if vm.agent == "connected" and timeout > 0:
            return PowerStep("shutdown", "graceful shutdown", requests_shutdown=True)
        return PowerStep("shutoff", "no guest agent to shut down gracefully: powering off")
    if now - requested_at >= timeout:
        return PowerStep("shutoff", f"the guest did not shut down within {timeout:.0f}s: powering off")
    return PowerStep(None, "waiting for the guest to shut down", waiting=True)
