"""plan_migration and friends: preconditions, one active migration per VM, the start recorded
before the call, progress that never runs backwards, timeout, cancel, deletion, outcomes decided by
where the VM is, and finished migrations left alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.reconcile import NOW, VM_UUID, observed
from tests.support.simulation import CLUSTER, OTHER_CLUSTER, TENANT
from vmop.api.conditions import SYNCED, Condition, Reason
from vmop.api.vmmigration import COMPLETE, FAILED, FINISHED, Location, VmMigrationSpec, VmMigrationStatus
from vmop.compute.errors import ComputeError, ComputeUnavailable
from vmop.compute.models import ComputeIdentifier
from vmop.compute.requests import CrossClusterMigrateRequest, MigrateRequest
from vmop.reconcile.observed import Observed
from vmop.reconcile.status import rfc3339
from vmop.reconcile.vmmigration import (
    PROGRESS_STEP,
    Context,
    Memory,
    Plan,
    Seen,
    Target,
    after_call,
    memory_from_status,
    next_progress,
    plan_migration,
    render_status,
    waiting_events,
)

SOURCE_HOST = "200e3364-e720-47e4-8b12-734422d6eae3"  # where tests.support.reconcile.observed() runs
DESTINATION_HOST = "6ae9e142-f476-465f-868b-6026cddcd714"
OTHER_HOST = "3d1c6f0e-5d0b-4a43-9d7e-2a6f1b8c9e01"
NEW_UUID = "9a8b7c6d-0000-4000-8000-000000000001"
CROSS = {
    "cluster": OTHER_CLUSTER,
    "hostUuid": "963b6fd4-487e-4436-95c4-21a67aca5eaf",
    "hostIp": "10.30.32.22",
    "tenant": TENANT,
    "pool": "7c2d9e4f-1a6b-4c3d-8e5f-9a0b1c2d3e04",
    "zone": "a6f8ad4a-3fdf-4cf6-8fda-90a8093f5316",
    "group": "0a5d3331-d9fe-4f6a-9c90-879dde781794",
}
TARGET = Target(name="web-1", uuid=VM_UUID, cluster=CLUSTER, tenant=TENANT, platform_name="web-1")
REFUSED = ComputeError("/v1/compute/migrate", 21042, "migration failed", "迁移失败")
BUSY = ComputeError("/v1/compute/migrate", 21003, "vm is cloning", hint="busy")
LOST = ComputeUnavailable("/v1/compute/migrate", "ReadTimeout")
STARTED = NOW - 30
SOURCE = Location(cluster=CLUSTER, tenant=TENANT, host=SOURCE_HOST)


def spec(**fields: Any) -> VmMigrationSpec:
    base: dict[str, Any] = {"vmRef": {"name": "web-1"}}
    if "crossCluster" not in fields:
        base["host"] = DESTINATION_HOST
    return VmMigrationSpec.model_validate(base | fields)


def cross_spec(**fields: Any) -> VmMigrationSpec:
    return spec(crossCluster=CROSS, **fields)


def running_memory(**fields: Any) -> Memory:
    return Memory(started_at=STARTED, vm_uuid=VM_UUID, source=SOURCE, **fields)


def plan(
    migration: VmMigrationSpec,
    seen: Seen,
    memory: Memory | None = None,
    *,
    phase: str | None = None,
    now: float = NOW,
    deleting: bool = False,
) -> Plan:
    made = plan_migration(migration, phase, memory or Memory(), seen, Context(now=now, deleting=deleting))
    assert made is not None
    return made


def migrating(**fields: Any) -> Observed:
    return observed(action="migrating", **fields)


def condition(status: VmMigrationStatus, type_: str) -> Condition:
    (found,) = [c for c in status.conditions or [] if c.type == type_]
    return found


# --- pending: preconditions ----------------------------------------------------------------------


def test_waits_for_a_virtualmachine_that_does_not_exist_yet() -> None:
    made = plan(spec(), Seen(None))
    assert (made.phase, made.reason, made.calls) == ("Pending", Reason.VM_NOT_FOUND, [])
    assert "web-1 not found" in made.message


def test_fails_when_the_virtualmachine_it_saw_is_deleted() -> None:
    made = plan(spec(), Seen(None), Memory(vm_uuid=VM_UUID))
    assert (made.phase, made.reason, made.calls) == ("Failed", Reason.VM_NOT_FOUND, [])
    assert "was deleted" in made.message
    assert made.events[0][0] == "Warning"


def test_waits_for_the_vm_to_exist_on_the_platform() -> None:
    made = plan(spec(), Seen(replace(TARGET, uuid=None)))
    assert (made.phase, made.reason, made.calls) == ("Pending", Reason.VM_NOT_READY, [])
    assert plan(spec(), Seen(TARGET, vm=None)).reason == Reason.VM_NOT_READY


@pytest.mark.parametrize(
    ("state", "action"),
    [("shutoff", "noaction"), ("paused", "noaction"), ("running", "cloning"), ("running", "migrating")],
)
def test_waits_until_the_vm_runs_with_no_action(state: str, action: str) -> None:
    made = plan(spec(), Seen(TARGET, vm=observed(state=state, action=action)))
    assert (made.phase, made.reason, made.calls) == ("Pending", Reason.VM_NOT_READY, [])
    assert f"{state} with action {action}" in made.message
    assert made.memory.started_at is None
    assert made.memory.vm_uuid == VM_UUID  # seen: its disappearance later is a failure


def test_an_unreadable_vm_waits_and_says_why() -> None:
    made = plan(spec(), Seen(TARGET, read_error=LOST))
    assert (made.phase, made.calls, made.error) == ("Pending", [], LOST)


def test_a_second_migration_of_the_same_vm_waits_for_the_active_one() -> None:
    made = plan(spec(), Seen(TARGET, holder="first", vm=observed()))
    assert (made.phase, made.reason, made.calls) == ("Pending", Reason.MIGRATION_ACTIVE, [])
    assert "another migration first" in made.message


def test_starts_an_in_cluster_migration_once_the_preconditions_hold() -> None:
    made = plan(spec(), Seen(TARGET, vm=observed()))
    assert (made.phase, made.starts, made.hold) == ("Running", True, "claim")
    (call,) = made.calls
    assert call.operation == "migrate"
    assert isinstance(call.request, MigrateRequest)
    assert (call.request.compute_uuid, call.request.cluster_uuid, call.request.destination) == (
        VM_UUID,
        CLUSTER,
        DESTINATION_HOST,
    )
    assert made.memory.started_at == NOW
    assert made.memory.source == SOURCE
    assert made.memory.destination == Location(cluster=CLUSTER, tenant=TENANT, host=DESTINATION_HOST)
    assert made.events[0][1] == Reason.MIGRATING


def test_starts_a_cross_cluster_migration_with_every_target_field() -> None:
    made = plan(cross_spec(), Seen(TARGET, vm=observed()))
    (call,) = made.calls
    assert call.operation == "cross_cluster_migrate"
    assert isinstance(call.request, CrossClusterMigrateRequest)
    request = call.request
    assert (request.compute_uuid, request.cluster_uuid) == (VM_UUID, CLUSTER)
    assert (request.destination_cluster, request.destination_host_uuid, request.destination_host_ip) == (
        OTHER_CLUSTER,
        CROSS["hostUuid"],
        CROSS["hostIp"],
    )
    assert (request.destination_tenant, request.pool_uuid, request.zone_uuid, request.object_group) == (
        TENANT,
        CROSS["pool"],
        CROSS["zone"],
        CROSS["group"],
    )


@pytest.mark.parametrize("deleting", [False, True])
def test_cancel_or_delete_before_the_start_aborts_without_a_call(deleting: bool) -> None:
    migration = spec(cancel=not deleting)
    made = plan(migration, Seen(TARGET, vm=observed()), deleting=deleting)
    assert (made.phase, made.reason, made.calls, made.hold) == ("Aborted", Reason.ABORTED, [], "release")
    assert made.memory.completed_at == NOW


# --- the start call's outcome --------------------------------------------------------------------


def started() -> Plan:
    return plan(spec(), Seen(TARGET, vm=observed()))


def test_a_started_migration_stays_as_planned() -> None:
    assert after_call(started(), None, Context(NOW)) == started()


def test_a_refused_start_fails_with_the_platforms_words() -> None:
    made = after_call(started(), REFUSED, Context(NOW))
    assert (made.phase, made.reason, made.error, made.hold) == ("Failed", Reason.MIGRATION_FAILED, REFUSED, "release")
    assert made.events[0][0] == "Warning"
    assert "21042" in made.events[0][2]
    status = render_status(VmMigrationStatus(), made, generation=1, now=NOW)
    assert status.last_error is not None
    assert (status.last_error.scode, status.last_error.message_cn) == (21042, "迁移失败")


def test_a_start_refused_for_now_goes_back_to_pending_and_forgets_the_start() -> None:
    made = after_call(started(), BUSY, Context(NOW))
    assert (made.phase, made.hold, made.error) == ("Pending", "release", BUSY)
    assert made.memory.started_at is None


def test_a_start_lost_on_the_way_is_in_flight_until_the_platform_says_otherwise() -> None:
    """The call may have reached the platform: never repeat it, watch where the VM goes."""
    made = after_call(started(), LOST, Context(NOW))
    assert (made.phase, made.calls, made.error, made.hold) == ("Running", [], LOST, None)
    assert made.memory.started_at == NOW


def test_an_abort_that_fails_keeps_the_migration_running() -> None:
    abort = plan(spec(cancel=True), Seen(TARGET, vm=migrating()), running_memory())
    made = after_call(abort, REFUSED, Context(NOW))
    assert (made.phase, made.calls, made.hold, made.error) == ("Running", [], None, REFUSED)
    assert made.memory.completed_at is None


# --- running -------------------------------------------------------------------------------------


def test_in_cluster_progress_is_zero_while_migrating() -> None:
    made = plan(spec(), Seen(TARGET, vm=migrating()), running_memory())
    assert (made.phase, made.calls, made.memory.progress) == ("Running", [], 0)


def test_cross_cluster_progress_never_runs_backwards() -> None:
    memory = running_memory()
    recorded = []
    for reported in (10, 7, 30, 32, 60, 12, 100, 40):
        memory = plan(cross_spec(), Seen(TARGET, vm=migrating(), progress=reported), memory).memory
        recorded.append(memory.progress)
    assert recorded == [10, 10, 30, 30, 60, 60, 99, 99]  # 100 only once the VM is seen arrived


@given(st.integers(0, 99), st.one_of(st.none(), st.integers(0, 100)))
def test_next_progress_is_monotonic_bounded_and_stepped(previous: int, reported: int | None) -> None:
    progress = next_progress(previous, reported)
    assert previous <= progress <= max(previous, 99)
    assert progress == previous or progress - previous >= PROGRESS_STEP


def test_a_progress_error_is_shown_while_the_vm_still_migrates() -> None:
    made = plan(cross_spec(), Seen(TARGET, vm=migrating(), progress_error=BUSY), running_memory(progress=40))
    assert (made.phase, made.error, made.memory.progress) == ("Running", BUSY, 40)


def test_an_unreadable_vm_changes_nothing_while_running() -> None:
    made = plan(spec(cancel=True), Seen(TARGET, read_error=LOST), running_memory(progress=20))
    assert (made.phase, made.calls, made.error, made.memory.progress) == ("Running", [], LOST, 20)


def test_in_cluster_success_is_the_vm_idle_on_the_destination_host() -> None:
    made = plan(spec(), Seen(TARGET, vm=observed(host=DESTINATION_HOST)), running_memory())
    assert (made.phase, made.reason, made.hold, made.moved_to) == ("Succeeded", Reason.SUCCEEDED, "release", None)
    assert (made.memory.progress, made.memory.completed_at) == (100, NOW)
    assert made.events[0][0] == "Normal"


def test_cross_cluster_success_moves_the_virtualmachine() -> None:
    there = observed(cluster=OTHER_CLUSTER, host=CROSS["hostUuid"])
    made = plan(cross_spec(), Seen(TARGET, vm=None, arrived=there), running_memory())
    assert (made.phase, made.moved_to, made.new_uuid) == ("Succeeded", (OTHER_CLUSTER, TENANT), None)
    assert made.memory.destination == Location(cluster=OTHER_CLUSTER, tenant=TENANT, host=CROSS["hostUuid"])


def test_cross_cluster_success_reports_a_new_uuid() -> None:
    there = observed(cluster=OTHER_CLUSTER, uuid=NEW_UUID)
    assert plan(cross_spec(), Seen(TARGET, arrived=there), running_memory()).new_uuid == NEW_UUID


def test_a_vm_back_on_its_source_host_is_a_failure() -> None:
    made = plan(spec(), Seen(TARGET, vm=observed()), running_memory())
    assert (made.phase, made.reason, made.calls, made.hold) == ("Failed", Reason.MIGRATION_FAILED, [], "release")
    assert SOURCE_HOST in made.message
    assert made.events[0][0] == "Warning"


def test_a_cross_cluster_failure_keeps_the_progress_error() -> None:
    made = plan(cross_spec(), Seen(TARGET, vm=observed(), progress_error=REFUSED), running_memory(progress=60))
    assert (made.phase, made.error) == ("Failed", REFUSED)
    assert made.memory.progress == 60  # not reset


def test_a_cross_cluster_vm_that_arrived_stopped_is_not_a_success() -> None:
    there = observed(state="shutoff", cluster=OTHER_CLUSTER)
    assert plan(cross_spec(), Seen(TARGET, vm=observed(), arrived=there), running_memory()).phase == "Failed"


def test_a_vm_gone_from_the_platform_fails_the_migration() -> None:
    made = plan(spec(), Seen(None), running_memory())
    assert (made.phase, made.calls) == ("Failed", [])
    assert f"VM {VM_UUID} no longer exists" in made.message


@pytest.mark.parametrize(
    ("migration", "operation"),
    [(spec(cancel=True), "migrate/abort"), (cross_spec(cancel=True), "cross_cluster_cancel")],
)
def test_cancel_aborts_a_running_migration(migration: VmMigrationSpec, operation: str) -> None:
    made = plan(migration, Seen(TARGET, vm=migrating()), running_memory())
    assert (made.phase, made.reason, made.hold) == ("Aborted", Reason.ABORTED, "release")
    (call,) = made.calls
    assert isinstance(call.request, ComputeIdentifier)
    assert (call.operation, call.request.compute_uuid) == (operation, VM_UUID)
    assert not made.starts


def test_deleting_aborts_a_running_migration() -> None:
    made = plan(spec(), Seen(TARGET, vm=migrating()), running_memory(), deleting=True)
    assert (made.phase, [c.operation for c in made.calls]) == ("Aborted", ["migrate/abort"])


def test_a_cancel_that_comes_too_late_reports_what_happened() -> None:
    made = plan(spec(cancel=True), Seen(TARGET, vm=observed(host=DESTINATION_HOST)), running_memory())
    assert (made.phase, made.calls) == ("Succeeded", [])


def test_timeout_aborts_and_fails() -> None:
    migration = spec(timeoutSeconds=60)
    before = plan(migration, Seen(TARGET, vm=migrating()), running_memory(), now=STARTED + 59)
    assert (before.phase, before.calls) == ("Running", [])
    made = plan(migration, Seen(TARGET, vm=migrating()), running_memory(), now=STARTED + 60)
    assert (made.phase, made.reason, [c.operation for c in made.calls]) == (
        "Failed",
        Reason.TIMED_OUT,
        ["migrate/abort"],
    )
    assert "timed out after 60s" in made.message
    assert made.events[0][0] == "Warning"


vm_views = st.sampled_from(
    [
        None,
        observed(),
        migrating(),
        observed(host=DESTINATION_HOST),
        observed(state="shutoff"),
        observed(action="cloning"),
    ]
)


@given(
    vm=vm_views,
    arrived=st.sampled_from([None, observed(cluster=OTHER_CLUSTER)]),
    cancel=st.booleans(),
    deleting=st.booleans(),
    cross=st.booleans(),
    elapsed=st.floats(0, 10_000),
    phase=st.sampled_from([None, "Pending", "Running"]),
)
def test_a_started_migration_is_never_started_again(
    vm: Observed | None, arrived: Observed | None, cancel: bool, deleting: bool, cross: bool, elapsed: float, phase: str
) -> None:
    """Whatever the status says (a crash may have lost it), once the start is recorded only aborts
    are ever called."""
    migration = cross_spec(cancel=cancel) if cross else spec(cancel=cancel)
    seen = Seen(TARGET, vm=vm, arrived=arrived)
    made = plan(migration, seen, running_memory(), phase=phase, now=STARTED + elapsed, deleting=deleting)
    assert not made.starts
    assert {c.operation for c in made.calls} <= {"migrate/abort", "cross_cluster_cancel"}


# --- finished migrations are history --------------------------------------------------------------


@pytest.mark.parametrize("phase", sorted(FINISHED))
@pytest.mark.parametrize(
    "seen",
    [Seen(TARGET, vm=migrating()), Seen(TARGET, vm=observed()), Seen(None), Seen(TARGET, read_error=LOST)],
    ids=["migrating", "idle", "gone", "unreadable"],
)
@pytest.mark.parametrize("memory", [Memory(), running_memory()], ids=["never-started", "started"])
@pytest.mark.parametrize(("cancel", "deleting"), [(False, False), (True, False), (False, True)])
def test_a_finished_migration_is_never_touched(
    phase: str, seen: Seen, memory: Memory, cancel: bool, deleting: bool
) -> None:
    made = plan_migration(spec(cancel=cancel), phase, memory, seen, Context(NOW, deleting=deleting))
    assert made is None


# --- status ----------------------------------------------------------------------------------------


def test_memory_prefers_the_start_annotation_over_the_status() -> None:
    status = VmMigrationStatus(start_time=rfc3339(NOW - 100), progress=40, vm_uuid=VM_UUID)
    assert memory_from_status(status, rfc3339(NOW)).started_at == NOW
    assert memory_from_status(status, None).started_at == NOW - 100
    assert memory_from_status(VmMigrationStatus(), None) == Memory()


def test_status_shows_phase_progress_and_conditions() -> None:
    made = plan(cross_spec(), Seen(TARGET, vm=migrating(), progress=42), running_memory())
    status = render_status(VmMigrationStatus(), made, generation=3, now=NOW)
    assert (status.phase, status.progress, status.observed_generation) == ("Running", 42, 3)
    assert (status.start_time, status.completion_time) == (rfc3339(STARTED), None)
    assert status.source == SOURCE
    assert (condition(status, COMPLETE).status, condition(status, COMPLETE).reason) == ("False", Reason.MIGRATING)
    assert condition(status, SYNCED).status == "True"
    assert status.last_error is None


def test_a_repeated_poll_writes_nothing() -> None:
    """Same progress step, same error: the rendered status equals the previous one, so no patch."""
    seen = Seen(TARGET, vm=migrating(), progress=42, progress_error=BUSY)
    first = render_status(VmMigrationStatus(), plan(cross_spec(), seen, running_memory()), generation=1, now=NOW)
    memory = memory_from_status(first, None)
    again = plan(cross_spec(), replace(seen, progress=44), memory, phase="Running", now=NOW + 2)
    assert render_status(first, again, generation=1, now=NOW + 2) == first


def test_a_failed_migration_is_failed_not_complete_and_keeps_the_cause() -> None:
    """As a Job: `kubectl wait --for=condition=Complete` must not pass a migration that failed."""
    failing = render_status(
        VmMigrationStatus(),
        plan(cross_spec(), Seen(TARGET, vm=migrating(), progress_error=REFUSED), running_memory()),
        generation=1,
        now=NOW,
    )
    made = plan(cross_spec(), Seen(TARGET, vm=observed()), memory_from_status(failing, None))
    status = render_status(failing, made, generation=1, now=NOW + 2)
    assert (status.phase, status.completion_time) == ("Failed", rfc3339(NOW))
    assert (condition(status, COMPLETE).status, condition(status, COMPLETE).reason) == (
        "False",
        Reason.MIGRATION_FAILED,
    )
    assert (condition(status, FAILED).status, condition(status, FAILED).reason) == ("True", Reason.MIGRATION_FAILED)
    assert status.last_error == failing.last_error


def test_only_a_success_is_complete_and_an_abort_is_failed() -> None:
    succeeded = render_status(
        VmMigrationStatus(),
        plan(spec(), Seen(TARGET, vm=observed(host=DESTINATION_HOST)), running_memory()),
        generation=1,
        now=NOW,
    )
    assert condition(succeeded, COMPLETE).status == "True"
    assert FAILED not in [c.type for c in succeeded.conditions or []]
    aborted = render_status(
        VmMigrationStatus(),
        plan(spec(cancel=True), Seen(TARGET, vm=migrating()), running_memory()),
        generation=1,
        now=NOW,
    )
    assert aborted.phase == "Aborted"
    assert (condition(aborted, COMPLETE).status, condition(aborted, FAILED).status) == ("False", "True")
    running = render_status(
        VmMigrationStatus(), plan(spec(), Seen(TARGET, vm=migrating()), running_memory()), generation=1, now=NOW
    )
    assert FAILED not in [c.type for c in running.conditions or []]


def test_a_success_clears_an_earlier_error() -> None:
    previous = render_status(
        VmMigrationStatus(),
        plan(spec(), Seen(TARGET, read_error=LOST), running_memory()),
        generation=1,
        now=NOW,
    )
    assert previous.last_error is not None
    assert condition(previous, SYNCED).reason == Reason.UNAVAILABLE
    made = plan(spec(), Seen(TARGET, vm=observed(host=DESTINATION_HOST)), running_memory())
    status = render_status(previous, made, generation=1, now=NOW)
    assert (status.phase, status.last_error, condition(status, SYNCED).status) == ("Succeeded", None, "True")


def test_one_event_per_pending_reason() -> None:
    waiting = plan(spec(), Seen(None))
    assert waiting_events(VmMigrationStatus(), waiting) == [("Normal", Reason.VM_NOT_FOUND, waiting.message)]
    shown = render_status(VmMigrationStatus(), waiting, generation=1, now=NOW)
    assert waiting_events(shown, waiting) == []
    blocked = plan(spec(), Seen(TARGET, holder="first"))
    assert [e[1] for e in waiting_events(shown, blocked)] == [Reason.MIGRATION_ACTIVE]
