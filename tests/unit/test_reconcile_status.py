"""render_status: conditions that move only when their status changes, the platform's own words on
failure, and pending changes as RestartRequired."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.reconcile import DATA_VOLUME, MAC_A, NOW, ROOT_DISK, VM_UUID, context, memory, observed, shape, spec
from vmop.api.conditions import READY, RESTART_REQUIRED, SYNCED, WARNED_REASONS, Condition, Reason
from vmop.api.virtualmachine import VirtualMachineStatus
from vmop.compute.errors import ComputeError, ComputeUnavailable
from vmop.compute.rules import GIB
from vmop.reconcile.changes import Owned
from vmop.reconcile.conditions import attention_events
from vmop.reconcile.observed import Observed, ObservedDisk
from vmop.reconcile.status import memory_from_status, parse_rfc3339, render_status, rfc3339
from vmop.reconcile.virtualmachine import Memory, Plan, plan_virtual_machine

EMPTY = VirtualMachineStatus()
STATE_ERROR = ComputeError(
    "start",
    21002,
    "vm state does not allow this operation",
    "虚拟机状态不允许该操作",
    "start needs state in ['shutoff']",
)


def condition(status: VirtualMachineStatus, type_: str) -> Condition:
    found = [c for c in status.conditions or [] if c.type == type_]
    assert len(found) == 1, status.conditions
    return found[0]


def render(
    previous: VirtualMachineStatus,
    vm: Observed,
    *,
    now: float,
    error: ComputeError | None = None,
    generation: int = 1,
    **spec_fields: object,
) -> VirtualMachineStatus:
    plan = plan_virtual_machine(spec(**spec_fields), context(now), memory(), vm, [])
    return render_status(previous, plan, vm, error=error, generation=generation, now=now)


def test_first_render_sets_every_condition_at_now() -> None:
    status = render(EMPTY, observed(), now=NOW)
    assert [c.type for c in status.conditions or []] == [READY, SYNCED, RESTART_REQUIRED]
    assert {c.last_transition_time for c in status.conditions or []} == {rfc3339(NOW)}
    assert (condition(status, READY).status, condition(status, SYNCED).status) == ("True", "True")
    assert condition(status, RESTART_REQUIRED).status == "False"
    assert (status.phase, status.uuid, status.state, status.observed_generation) == ("Running", VM_UUID, "running", 1)


def test_transition_time_stays_while_the_status_stays() -> None:
    first = render(EMPTY, observed(), now=NOW)
    later = render(first, observed(), now=NOW + 300, generation=2)
    for type_ in (READY, SYNCED, RESTART_REQUIRED):
        assert condition(later, type_).last_transition_time == rfc3339(NOW), type_
        assert condition(later, type_).observed_generation == 2
    assert later.observed_generation == 2


def test_transition_time_moves_when_the_status_changes_and_only_for_that_condition() -> None:
    first = render(EMPTY, observed(), now=NOW)
    stopping = render(first, observed(), now=NOW + 60, power_state="Stopped")
    assert condition(stopping, READY).status == "False"
    assert condition(stopping, READY).last_transition_time == rfc3339(NOW + 60)
    assert condition(stopping, READY).reason == Reason.POWERING
    assert condition(stopping, SYNCED).last_transition_time == rfc3339(NOW)  # still True


def test_a_reason_or_message_change_alone_keeps_the_transition_time() -> None:
    first = render(EMPTY, observed("shutoff"), now=NOW, power_state="Running")  # Ready False: starting
    again = render(first, observed("paused"), now=NOW + 60, power_state="Running")  # Ready False: resuming
    assert condition(first, READY).message != condition(again, READY).message
    assert condition(again, READY).last_transition_time == rfc3339(NOW)


def test_an_error_is_shown_with_scode_and_both_messages_then_cleared_on_success() -> None:
    failed = render(EMPTY, observed("shutoff"), now=NOW, error=STATE_ERROR)
    synced = condition(failed, SYNCED)
    assert (synced.status, synced.reason) == ("False", Reason.COMPUTE_ERROR)
    assert "21002" in synced.message and "虚拟机状态不允许该操作" in synced.message
    assert failed.last_error is not None
    assert (failed.last_error.scode, failed.last_error.operation) == (21002, "start")
    assert failed.last_error.message == "vm state does not allow this operation"
    assert failed.last_error.message_cn == "虚拟机状态不允许该操作"
    assert failed.last_error.desc == "start needs state in ['shutoff']"
    assert failed.last_error.time == rfc3339(NOW)

    recovered = render(failed, observed(), now=NOW + 30)
    assert recovered.last_error is None
    assert condition(recovered, SYNCED).status == "True"
    assert condition(recovered, SYNCED).last_transition_time == rfc3339(NOW + 30)


def test_an_unreachable_platform_has_its_own_reason() -> None:
    failed = render(EMPTY, observed(), now=NOW, error=ComputeUnavailable("inspect", "connect timeout"))
    assert condition(failed, SYNCED).reason == Reason.UNAVAILABLE
    assert failed.last_error is not None and failed.last_error.operation == "inspect"


def test_pending_changes_show_as_restart_required_until_applied() -> None:
    shrunk = shape(memory=4 * GIB)
    pending = render(EMPTY, observed(vm_shape=shrunk), now=NOW, memory="2Gi")
    assert pending.pending_changes == ["memory"]
    restart = condition(pending, RESTART_REQUIRED)
    assert (restart.status, restart.reason) == ("True", Reason.PENDING_CHANGES)
    assert "memory" in restart.message
    assert condition(pending, SYNCED).reason == Reason.PENDING_CHANGES

    applied = render(pending, observed(), now=NOW + 60, memory="1Gi")
    assert applied.pending_changes is None
    assert condition(applied, RESTART_REQUIRED).status == "False"
    assert condition(applied, RESTART_REQUIRED).last_transition_time == rfc3339(NOW + 60)


def test_observed_facts_and_remembered_devices_are_shown() -> None:
    data = ObservedDisk("sdb", "scsi", DATA_VOLUME, 2 * GIB)
    vm = observed(
        vm_shape=shape(disks=(ROOT_DISK, data), memory=2 * GIB, cpu_current=1), ips=("10.0.0.5",), macs=(MAC_A,)
    )
    remembered = Memory(uuid=VM_UUID, owned=Owned({"root": ROOT_DISK.volume}, {"eth0": MAC_A}))
    plan = Plan([], remembered, plan_virtual_machine(spec(memory="2Gi"), context(), remembered, vm, []).verdict)
    status = render_status(EMPTY, plan, vm, error=None, generation=3, now=NOW)
    assert (status.memory, status.cpus, status.ips, status.macs) == ("2Gi", 1, ["10.0.0.5"], [MAC_A])
    assert status.volumes == [ROOT_DISK.volume, DATA_VOLUME]
    assert [(d.name, d.volume) for d in status.disks or []] == [("root", ROOT_DISK.volume)]
    assert [(n.name, n.mac) for n in status.interfaces or []] == [("eth0", MAC_A)]


def test_memory_round_trips_through_status() -> None:
    remembered = replace(
        memory(create_pending_since=NOW - 5, shutdown_requested_at=NOW - 1, nics={"eth0": MAC_A}),
        lost_since=NOW - 3,
        last_created_at=NOW - 60,
    )
    plan = Plan([], remembered, plan_virtual_machine(spec(), context(), remembered, observed(), []).verdict)
    status = render_status(EMPTY, plan, None, error=None, generation=1, now=NOW)
    assert memory_from_status(status, None) == remembered
    # status wins (a migration's hand-over writes uuid and location there); the annotation is
    # what is left after a restore that dropped status
    assert memory_from_status(status, "annotated-uuid").uuid == VM_UUID
    assert memory_from_status(EMPTY, "annotated-uuid").uuid == "annotated-uuid"
    located = status.model_copy(update={"cluster": "c-2", "tenant": "t-2"})
    assert memory_from_status(located, None).location == ("c-2", "t-2")
    assert parse_rfc3339(rfc3339(NOW)) == NOW


# --- Warning Events for what waits for a person ---------------------------------------------------


def _status_with_synced(status: str, reason: str, message: str = "m") -> dict[str, object]:
    return {"conditions": [{"type": "Synced", "status": status, "reason": reason, "message": message}]}


@pytest.mark.parametrize("reason", sorted(WARNED_REASONS))
def test_a_wait_for_a_person_is_a_warning_event_once(reason: str) -> None:
    blocked = _status_with_synced("False", reason)
    assert attention_events({}, blocked, []) == [("Warning", reason, "m")]
    assert attention_events(_status_with_synced("True", Reason.RECONCILED), blocked, []) == [("Warning", reason, "m")]
    assert attention_events(blocked, blocked, []) == []  # the next pass: said already
    assert attention_events(blocked, None, []) == []  # nothing written
    assert attention_events(blocked, _status_with_synced("False", reason, "other"), []) == []  # a countdown
    assert attention_events({}, blocked, [("Warning", reason, "said by the controller")]) == []


def test_waits_that_pass_by_themselves_raise_no_event() -> None:
    for reason in (Reason.UNAVAILABLE, Reason.COMPUTE_ERROR, Reason.GROUP_NOT_READY, "ParentNotFound"):
        assert attention_events({}, _status_with_synced("False", reason), []) == []
    assert attention_events({}, _status_with_synced("True", Reason.RECONCILED), []) == []


# --- neither lagging nor running ahead ----------------------------------------------------------


def test_the_status_written_before_a_create_shows_it_under_way() -> None:
    plan = plan_virtual_machine(spec(), context(), Memory(), None, [])
    status = render_status(EMPTY, plan, None, error=None, generation=1, now=NOW, in_flight=True)
    assert (status.phase, status.create_pending_since, status.uuid) == ("Creating", rfc3339(NOW), None)
    assert (condition(status, READY).status, condition(status, READY).reason) == ("False", Reason.CREATING)
    # The create has not answered: neither in sync nor failed.
    assert (condition(status, SYNCED).status, condition(status, SYNCED).reason) == ("Unknown", Reason.CREATING)


def test_a_lost_vm_claims_no_state_host_or_ip_from_its_last_observation() -> None:
    seen = render(EMPTY, observed(ips=("10.0.0.5",)), now=NOW)
    assert (seen.state, seen.agent, seen.ips) == ("running", "connected", ["10.0.0.5"]) and seen.host
    plan = plan_virtual_machine(spec(recreate_on_loss=False), context(NOW + 60), memory(), None, [])
    lost = render_status(seen, plan, None, error=None, generation=1, now=NOW + 60)
    assert lost.phase == "Lost"
    assert (lost.state, lost.action, lost.agent, lost.host, lost.ips) == (None, None, None, None, None)
    # What vmop looks for, and where it was last seen, stay.
    assert (lost.uuid, lost.cluster, lost.tenant, lost.lost_since) == (
        VM_UUID,
        seen.cluster,
        seen.tenant,
        rfc3339(NOW + 60),
    )
