"""plan_power_transition: one legal step from every observed power state to every declared one."""

from __future__ import annotations

import pytest

from tests.support.reconcile import NOW, observed
from vmop.reconcile.power import PowerState, PowerStep, current_power, plan_power_transition

# (state, action) for each way the platform shows a VM, in the planner's words.
RUNNING = ("running", "noaction")
STOPPED = ("shutoff", "noaction")
PAUSED = ("paused", "noaction")
HIBERNATED = ("shutoff", "save")  # one reading of 休眠 (compute/profile.py)
PMSUSPEND = ("pmsuspend", "noaction")  # the other reading (and a guest asleep by itself): hibernated too
SHUTTING_DOWN = ("shutdown", "noaction")
CRASHED = ("crashed", "noaction")

# desired -> (state, action) -> the one call that moves closer (None: nothing to call).
EXPECTED: dict[str, dict[tuple[str, str], str | None]] = {
    "Running": {
        RUNNING: None,
        STOPPED: "start",
        PAUSED: "resume",
        HIBERNATED: "restore",
        PMSUSPEND: "restore",
    },
    "Stopped": {
        RUNNING: "shutdown",  # agent connected: graceful first
        STOPPED: None,
        PAUSED: "resume",  # shutdown needs running: wake it first
        HIBERNATED: "restore",
        PMSUSPEND: "restore",
    },
    "Suspended": {
        RUNNING: "suspend",
        STOPPED: "start",
        PAUSED: None,
        HIBERNATED: "restore",
        PMSUSPEND: "restore",
    },
    "Hibernated": {
        RUNNING: "save",
        STOPPED: "start",
        PAUSED: "resume",
        HIBERNATED: None,
        PMSUSPEND: None,  # already hibernated: never woken only to be saved again
    },
}
CASES = [(desired, state, action, op) for desired, row in EXPECTED.items() for (state, action), op in row.items()]
BUSY = ["cloning", "migrating", "pending", "importing", "restoring", "exporting"]
STUCK = [CRASHED, ("nostate", "noaction"), ("blocked", "noaction"), ("running", "save"), ("paused", "save")]
DESIRED: list[PowerState] = ["Running", "Stopped", "Suspended", "Hibernated"]


def step(
    desired: PowerState,
    state: str,
    action: str = "noaction",
    agent: str = "connected",
    *,
    requested_at: float | None = None,
    timeout: float = 120,
    now: float = NOW,
) -> PowerStep:
    vm = observed(state, action, agent)
    return plan_power_transition(desired, vm, shutdown_requested_at=requested_at, shutdown_timeout=timeout, now=now)


@pytest.mark.parametrize(("desired", "state", "action", "operation"), CASES)
def test_each_desired_state_from_each_current_state(
    desired: PowerState, state: str, action: str, operation: str | None
) -> None:
    planned = step(desired, state, action)
    assert planned.operation == operation, planned
    assert not planned.stuck
    if operation is None:
        assert planned.reason == f"already {desired}"
        assert not planned.waiting


@pytest.mark.parametrize("desired", DESIRED)
@pytest.mark.parametrize("action", BUSY)
@pytest.mark.parametrize("state", ["running", "shutoff"])
def test_nothing_while_the_platform_runs_an_action(desired: PowerState, action: str, state: str) -> None:
    planned = step(desired, state, action)
    assert (planned.operation, planned.waiting, planned.stuck) == (None, True, False)
    assert action in planned.reason


@pytest.mark.parametrize("desired", ["Running", "Stopped", "Suspended", "Hibernated"])
@pytest.mark.parametrize(("state", "action"), STUCK)
def test_crashed_and_unknown_states_are_stuck(desired: PowerState, state: str, action: str) -> None:
    planned = step(desired, state, action)
    assert (planned.operation, planned.stuck, planned.waiting) == (None, True, False)
    assert state in planned.reason


@pytest.mark.parametrize("desired", ["Running", "Stopped"])
def test_a_guest_shutting_down_is_waited_for(desired: PowerState) -> None:
    planned = step(desired, *SHUTTING_DOWN)
    assert (planned.operation, planned.waiting, planned.stuck) == (None, True, False)


def test_graceful_shutdown_is_remembered_then_waited_for_then_forced() -> None:
    first = step("Stopped", *RUNNING, "connected", requested_at=None, timeout=120)
    assert (first.operation, first.requests_shutdown) == ("shutdown", True)

    waiting = step("Stopped", *RUNNING, "connected", requested_at=NOW - 119, timeout=120)
    assert (waiting.operation, waiting.waiting, waiting.requests_shutdown) == (None, True, False)

    forced = step("Stopped", *RUNNING, "connected", requested_at=NOW - 120, timeout=120)
    assert (forced.operation, forced.requests_shutdown) == ("shutoff", False)
    assert "120s" in forced.reason


@pytest.mark.parametrize("agent", ["disconnected", "pending"])
def test_no_guest_agent_means_shutoff(agent: str) -> None:
    planned = step("Stopped", *RUNNING, agent)
    assert (planned.operation, planned.requests_shutdown) == ("shutoff", False)
    assert "agent" in planned.reason


def test_a_zero_timeout_powers_off_at_once() -> None:
    planned = step("Stopped", *RUNNING, "connected", timeout=0)
    assert planned.operation == "shutoff"


def test_forced_shutoff_after_timeout_needs_no_agent() -> None:
    planned = step("Stopped", *RUNNING, "disconnected", requested_at=NOW - 600, timeout=120)
    assert planned.operation == "shutoff"


@pytest.mark.parametrize(
    ("state", "action", "power"),
    [
        (*RUNNING, "Running"),
        (*STOPPED, "Stopped"),
        (*PAUSED, "Suspended"),
        (*HIBERNATED, "Hibernated"),
        (*PMSUSPEND, "Hibernated"),
        (*SHUTTING_DOWN, "ShuttingDown"),
        ("running", "migrating", "Busy"),
        ("shutoff", "cloning", "Busy"),
        (*CRASHED, "Unknown"),
        ("running", "save", "Unknown"),
    ],
)
def test_current_power_reads_state_and_action(state: str, action: str, power: str) -> None:
    assert current_power(observed(state, action)) == power
