"""resolve_identity and plan_virtual_machine: which VM an object is, and what one pass plans."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.support.reconcile import (
    DATA_VOLUME,
    NAME,
    NOW,
    OBJECT_UID,
    OTHER_UUID,
    ROOT_DISK,
    VM_UUID,
    context,
    memory,
    observed,
    shape,
    spec,
)
from tests.support.simulation import TEMPLATE
from vmop.api.conditions import Reason
from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.compute.models import DiskVsdSource
from vmop.compute.requests import DiskAttachRequest, FromTemplateRequest, UnifiedCreateRequest
from vmop.compute.rules import GIB
from vmop.reconcile.create import assigned_vm_uuid
from vmop.reconcile.observed import Observed, ObservedDisk
from vmop.reconcile.virtualmachine import (
    BOOT_LOOK_SECONDS,
    BOOT_WATCH_SECONDS,
    CREATE_MATCH_SKEW_SECONDS,
    WAIT_SECONDS,
    Memory,
    Safety,
    plan_virtual_machine,
    resolve_identity,
)

PENDING_SINCE = NOW - 30


# ---------------------------------------------------------------- resolve_identity


def test_a_remembered_uuid_that_exists_is_known() -> None:
    identity = resolve_identity(spec(), memory(), observed(), [], context())
    assert (identity.kind, identity.uuid) == ("known", VM_UUID)


def test_an_adopted_uuid_that_exists_is_known() -> None:
    identity = resolve_identity(spec(adopt={"uuid": VM_UUID}), Memory(), observed(), [], context())
    assert (identity.kind, identity.uuid) == ("known", VM_UUID)


def test_an_adopted_uuid_that_is_missing_is_lost_even_when_recreating_is_allowed() -> None:
    identity = resolve_identity(spec(adopt={"uuid": VM_UUID}, recreate_on_loss=True), Memory(), None, [], context())
    assert (identity.kind, identity.uuid) == ("lost", VM_UUID)
    assert VM_UUID in identity.message


def test_a_vanished_vm_is_lost_when_recreating_is_not_allowed() -> None:
    identity = resolve_identity(spec(recreate_on_loss=False), memory(), None, [], context())
    assert (identity.kind, identity.uuid) == ("lost", VM_UUID)


# ---------------------------------------------------------------- a VM that vanished

LOSS_WAIT = Safety().loss_confirmation


def lost(*, since: float | None, created: float | None = None) -> Memory:
    return replace(memory(), lost_since=since, last_created_at=created)


def test_a_vanished_vm_is_not_recreated_at_the_first_observation() -> None:
    plan = plan_virtual_machine(spec(), context(), lost(since=None), None, [])
    assert plan.calls == []
    assert (plan.verdict.phase, plan.verdict.synced_reason) == ("Lost", Reason.LOST)
    assert f"recreating in {LOSS_WAIT:.0f} s" in plan.verdict.message
    assert plan.memory.lost_since == NOW and plan.requeue_after == LOSS_WAIT


def test_a_vanished_vm_is_recreated_once_a_second_observation_a_resync_later_still_misses_it() -> None:
    early = plan_virtual_machine(spec(), context(), lost(since=NOW - LOSS_WAIT + 1), None, [])
    assert early.calls == [] and early.memory.lost_since == NOW - LOSS_WAIT + 1
    plan = plan_virtual_machine(spec(), context(), lost(since=NOW - LOSS_WAIT), None, [])
    assert [c.operation for c in plan.calls] == ["unified_create"]
    assert "recreating" in plan.verdict.message and plan.persist_first


def test_a_vm_found_again_forgets_that_it_was_lost() -> None:
    plan = plan_virtual_machine(spec(), context(), lost(since=NOW - 5), observed(), [])
    assert plan.memory.lost_since is None


@pytest.mark.parametrize("doubt", ["VmMigration move-1 is Running", "VmMigration move-1 ended 3 s ago"])
def test_a_migration_of_it_unfinished_or_just_finished_means_no_recreate(doubt: str) -> None:
    plan = plan_virtual_machine(spec(), context(migration_doubt=doubt), lost(since=NOW - 3600), None, [])
    assert plan.calls == []
    assert (plan.verdict.phase, plan.verdict.synced_reason) == ("Lost", Reason.IDENTITY_IN_DOUBT)
    assert doubt in plan.verdict.message


def test_a_vm_with_its_name_anywhere_it_may_be_means_no_recreate() -> None:
    elsewhere = observed(uuid=OTHER_UUID, cluster="650ea11b-0000-4000-8000-000000000001", with_shape=False)
    plan = plan_virtual_machine(spec(), context(), lost(since=NOW - 3600), None, [elsewhere])
    assert plan.calls == [] and plan.verdict.synced_reason == Reason.IDENTITY_IN_DOUBT
    assert OTHER_UUID in plan.verdict.message


def test_a_second_create_within_the_guard_window_waits_for_a_person() -> None:
    recent = lost(since=NOW - LOSS_WAIT, created=NOW - 600)
    plan = plan_virtual_machine(spec(), context(), recent, None, [])
    assert plan.calls == []
    assert (plan.verdict.phase, plan.verdict.synced_reason) == ("Lost", Reason.DUPLICATE_GUARD)
    assert f"vmop.io/confirm-recreate={VM_UUID}" in plan.verdict.message
    # confirmed for another (older) loss: still refused; for this one: created
    assert plan_virtual_machine(spec(), context(recreate_confirmed=OTHER_UUID), recent, None, []).calls == []
    confirmed = plan_virtual_machine(spec(), context(recreate_confirmed=VM_UUID), recent, None, [])
    assert [c.operation for c in confirmed.calls] == ["unified_create"]
    off = context(safety=Safety(duplicate_guard=0))
    assert [c.operation for c in plan_virtual_machine(spec(), off, recent, None, []).calls] == ["unified_create"]


def test_a_vm_another_object_manages_is_refused_and_nothing_is_called() -> None:
    for mem, vm in ((Memory(), observed()), (memory(), observed()), (Memory(), None)):
        plan = plan_virtual_machine(spec(adopt={"uuid": VM_UUID}), context(managed_by="ns/web"), mem, vm, [])
        assert plan.calls == []
        assert (plan.verdict.phase, plan.verdict.synced_reason) == ("Conflict", Reason.ALREADY_MANAGED)
        assert "ns/web" in plan.verdict.message


# ---------------------------------------------------------------- a create with no known outcome


@pytest.mark.parametrize("age", [0, 60, CREATE_MATCH_SKEW_SECONDS])
def test_after_a_crash_mid_create_the_vm_made_within_the_skew_is_adopted(age: float) -> None:
    made = observed("shutoff", created_at=int(PENDING_SINCE - age), with_shape=False)
    pending = memory(uuid=None, create_pending_since=PENDING_SINCE, disks={})
    identity = resolve_identity(spec(), pending, None, [made], context())
    assert (identity.kind, identity.uuid) == ("adopted", VM_UUID)


def test_a_vm_another_object_manages_is_never_adopted_after_a_crash() -> None:
    made = observed("shutoff", created_at=int(PENDING_SINCE), with_shape=False)
    pending = memory(uuid=None, create_pending_since=PENDING_SINCE, disks={})
    assert resolve_identity(spec(), pending, None, [made], context(taken=frozenset({VM_UUID}))).kind == "doubt"


@pytest.mark.parametrize("template", [False, True])
def test_a_create_with_no_known_outcome_waits_out_the_grace_period_before_creating_again(template: bool) -> None:
    fields: dict[str, Any] = {"template": {"uuid": TEMPLATE}, "disks": []} if template else {}
    uuid = assigned_vm_uuid(OBJECT_UID) if template else None
    pending = memory(uuid=uuid, create_pending_since=PENDING_SINCE, disks={})
    grace = Safety().create_grace
    waiting = plan_virtual_machine(spec(**fields), context(), pending, None, [])
    assert waiting.calls == [] and waiting.requeue_after is not None
    assert (waiting.verdict.phase, waiting.verdict.synced_reason) == ("Creating", Reason.CREATE_IN_DOUBT)
    assert f"in {PENDING_SINCE + grace - NOW:.0f} s" in waiting.verdict.message
    assert waiting.memory.create_pending_since == PENDING_SINCE  # the mark stays until the doubt is over
    later = plan_virtual_machine(spec(**fields), context(PENDING_SINCE + grace), pending, None, [])
    assert [c.operation for c in later.calls] == ["create/from_template" if template else "unified_create"]


def test_after_a_crash_mid_create_an_older_vm_with_the_name_is_not_adopted() -> None:
    old = observed("shutoff", created_at=int(PENDING_SINCE - CREATE_MATCH_SKEW_SECONDS - 1), with_shape=False)
    pending = memory(uuid=None, create_pending_since=PENDING_SINCE, disks={})
    assert resolve_identity(spec(), pending, None, [old], context()).kind == "doubt"
    assert resolve_identity(spec(), pending, None, [old], context(PENDING_SINCE + 3600)).kind == "create"


def test_after_a_crash_mid_create_several_candidates_are_a_conflict() -> None:
    first = observed("shutoff", created_at=int(PENDING_SINCE), with_shape=False)
    second = observed("shutoff", uuid=OTHER_UUID, created_at=int(PENDING_SINCE + 1), with_shape=False)
    pending = memory(uuid=None, create_pending_since=PENDING_SINCE, disks={})
    identity = resolve_identity(spec(), pending, None, [first, second], context())
    assert (identity.kind, identity.uuid) == ("conflict", None)
    assert VM_UUID in identity.message and OTHER_UUID in identity.message


def test_a_vm_that_already_has_the_name_is_a_conflict_not_an_adoption() -> None:
    existing = observed(with_shape=False)
    identity = resolve_identity(spec(), Memory(), None, [existing], context())
    assert (identity.kind, identity.uuid) == ("conflict", None)
    assert "spec.adopt.uuid" in identity.message


def test_nothing_known_and_no_name_taken_means_create() -> None:
    assert resolve_identity(spec(), Memory(), None, [], context()).kind == "create"


# ---------------------------------------------------------------- creating


def test_create_is_planned_and_marked_pending_before_the_call() -> None:
    plan = plan_virtual_machine(spec(), context(), Memory(), None, [])
    assert [c.operation for c in plan.calls] == ["unified_create"]
    request = plan.calls[0].request
    assert isinstance(request, UnifiedCreateRequest)
    assert request.meta is not None and request.meta.compute_name == NAME
    assert plan.persist_first
    assert plan.memory.create_pending_since == NOW and plan.memory.uuid is None
    assert (plan.verdict.phase, plan.verdict.ready) == ("Creating", False)


def test_create_from_template_assigns_and_remembers_the_uuid() -> None:
    plan = plan_virtual_machine(spec(template={"uuid": TEMPLATE}, disks=[]), context(), Memory(), None, [])
    request = plan.calls[0].request
    assert isinstance(request, FromTemplateRequest)
    assert request.assign_vm_uuid == assigned_vm_uuid(OBJECT_UID) == plan.memory.uuid


def test_an_adopted_half_made_vm_is_reconciled_not_created_again() -> None:
    made = observed("shutoff", created_at=int(PENDING_SINCE), with_shape=False)
    pending = memory(uuid=None, create_pending_since=PENDING_SINCE, disks={})
    plan = plan_virtual_machine(spec(), context(), pending, None, [made])
    assert [c.operation for c in plan.calls] == ["start"]
    assert (plan.memory.uuid, plan.memory.create_pending_since) == (VM_UUID, None)


@pytest.mark.parametrize(("kind", "phase"), [("conflict", "Conflict"), ("lost", "Lost")])
def test_conflicts_and_losses_plan_nothing_and_say_so(kind: str, phase: str) -> None:
    if kind == "conflict":
        plan = plan_virtual_machine(spec(), context(), Memory(), None, [observed(with_shape=False)])
    else:
        plan = plan_virtual_machine(spec(recreate_on_loss=False), context(), memory(), None, [])
    assert plan.calls == []
    assert (plan.verdict.phase, plan.verdict.ready, plan.verdict.synced) == (phase, False, False)


# ---------------------------------------------------------------- changes and power


def cold_and_hot_spec(**fields: Any) -> VirtualMachineSpec:
    """2x2 vCPU (was 1x1), 512Mi (was 1Gi), Windows (was CentOS), without the owned virtio data
    disk: all cold while running. Plus a cdrom: hot."""
    return spec(
        cpu={"sockets": 2, "cores": 2},
        memory="512Mi",
        os="Windows Server 2019",
        cdrom={"image": "centos7x64.iso", "repository": "c5c6e82d-e7ea-47bc-b422-f2d9c767b080"},
        **fields,
    )


def running_with_data_disk() -> tuple[Observed, Memory]:
    data = ObservedDisk("vdb", "virtio", DATA_VOLUME, GIB)
    vm = observed(vm_shape=shape(disks=(ROOT_DISK, data)))
    return vm, memory(disks={"root": ROOT_DISK.volume, "data": DATA_VOLUME})


def test_every_pending_change_is_listed_not_just_the_first() -> None:
    vm, mem = running_with_data_disk()
    plan = plan_virtual_machine(cold_and_hot_spec(), context(), mem, vm, [])
    assert sorted(plan.pending_changes) == ["cpu.topology", "disks[data]", "memory", "os"]
    assert [c.operation for c in plan.calls] == ["cdrom/attach"]  # the hot one, now
    assert plan.verdict.synced_reason == Reason.PENDING_CHANGES
    for field in plan.pending_changes:
        assert field in plan.verdict.message


def test_update_policy_restart_shuts_down_to_apply_cold_changes() -> None:
    vm, mem = running_with_data_disk()
    plan = plan_virtual_machine(cold_and_hot_spec(update_policy="Restart"), context(), mem, vm, [])
    assert [c.operation for c in plan.calls] == ["cdrom/attach", "shutdown"]
    assert sorted(plan.pending_changes) == ["cpu.topology", "disks[data]", "memory", "os"]
    assert plan.memory.shutdown_requested_at == NOW
    assert plan.verdict.synced_reason == Reason.UPDATING
    assert plan.requeue_after == WAIT_SECONDS


def test_once_stopped_every_change_applies_and_then_it_starts() -> None:
    _, mem = running_with_data_disk()
    data = ObservedDisk("vdb", "virtio", DATA_VOLUME, GIB)
    vm = observed("shutoff", agent="disconnected", vm_shape=shape(disks=(ROOT_DISK, data)))
    plan = plan_virtual_machine(cold_and_hot_spec(update_policy="Restart"), context(), mem, vm, [])
    operations = [c.operation for c in plan.calls]
    assert sorted(operations[:-1]) == ["cdrom/attach", "disk/detach", "meta/set", "vcpu/set", "vmemory/set"]
    assert operations[-1] == "start"
    assert plan.pending_changes == []


def test_update_policy_on_power_cycle_never_restarts() -> None:
    vm, mem = running_with_data_disk()
    plan = plan_virtual_machine(cold_and_hot_spec(update_policy="OnPowerCycle"), context(), mem, vm, [])
    assert "shutdown" not in [c.operation for c in plan.calls]
    assert "shutoff" not in [c.operation for c in plan.calls]


def test_changes_wait_while_suspended_or_hibernated() -> None:
    for state, action in (("paused", "noaction"), ("shutoff", "save")):
        vm = observed(state, action, "disconnected", vm_shape=shape(memory=2 * GIB))
        plan = plan_virtual_machine(spec(power_state="Running", memory="4Gi"), context(), memory(), vm, [])
        assert plan.pending_changes == ["memory"], state
        assert "vmemory/set" not in [c.operation for c in plan.calls]


@pytest.mark.parametrize("action", ["migrating", "cloning", "importing", "exporting"])
def test_nothing_is_planned_while_the_platform_runs_an_action(action: str) -> None:
    vm = observed("running", action, vm_shape=shape(memory=2 * GIB))
    plan = plan_virtual_machine(spec(memory="4Gi", power_state="Stopped"), context(), memory(), vm, [])
    assert plan.calls == []
    assert plan.requeue_after == WAIT_SECONDS
    assert action in plan.verdict.message


def test_a_migrating_running_vm_stays_ready() -> None:
    plan = plan_virtual_machine(spec(), context(), memory(), observed("running", "migrating"), [])
    assert (plan.verdict.ready, plan.verdict.ready_reason, plan.verdict.phase) == (True, Reason.MIGRATING, "Migrating")


@pytest.mark.parametrize(
    ("state", "action"), [("shutoff", "noaction"), ("running", "noaction"), ("paused", "noaction")]
)
def test_observe_only_never_plans_a_call(state: str, action: str) -> None:
    vm = observed(state, action, vm_shape=shape(memory=2 * GIB, cpu_current=1))
    watched = spec(adopt={"uuid": VM_UUID, "observeOnly": True}, power_state="Hibernated", memory="4Gi", disks=[])
    plan = plan_virtual_machine(watched, context(), Memory(), vm, [])
    assert plan.calls == []
    assert plan.verdict.ready_reason == Reason.OBSERVE_ONLY
    assert plan.memory.uuid == VM_UUID


def test_a_vm_a_migration_holds_waits_for_the_release_without_polling() -> None:
    """The release is a change the VirtualMachine reacts to: a retry meanwhile would keep kopf from
    recording the claim, and the release would then look like no change (the VM stayed Migrating)."""
    plan = plan_virtual_machine(spec(), context(migration="move-1"), memory(), observed(), [])
    assert (plan.calls, plan.verdict.phase, plan.requeue_after) == ([], "Migrating", None)


@pytest.mark.parametrize(
    ("vm", "power_state", "message"),
    [
        (observed(host="h-1"), "Running", "running on host h-1; guest agent connected"),
        (
            observed(agent="pending", host=""),
            "Running",
            "running on the platform; host not reported yet; guest agent not connected yet",
        ),
        (observed(agent="disconnected", host="h-1"), "Running", "running on host h-1; guest agent disconnected"),
        (observed("shutoff", agent="disconnected"), "Stopped", "shut off on the platform, as declared"),
    ],
)
def test_ready_says_what_it_means(vm: Observed, power_state: str, message: str) -> None:
    """Ready: in the declared power state on the platform; it does not wait for the guest agent."""
    plan = plan_virtual_machine(spec(power_state=power_state), context(), memory(), vm, [])
    assert (plan.verdict.ready, plan.verdict.ready_message) == (True, message)
    assert plan.verdict.message == "in sync"  # Synced's


@pytest.mark.parametrize(
    ("created_ago", "agent", "host", "look_again"),
    [
        (1.0, "pending", "", BOOT_LOOK_SECONDS),
        (10.0, "pending", "h-1", 10.0),  # as long as it has been: 2 s, 4 s, 8 s, ...
        (10.0, "connected", "", 10.0),
        (10.0, "connected", "h-1", None),  # both known: the next resync
        (BOOT_WATCH_SECONDS, "pending", "", None),  # long enough: the next resync
        (None, "pending", "", None),  # not created by vmop (adopted, found after a crash)
    ],
)
def test_a_vm_created_moments_ago_is_looked_at_again_until_host_and_agent_show(
    created_ago: float | None, agent: str, host: str, look_again: float | None
) -> None:
    remembered = replace(memory(), last_created_at=None if created_ago is None else NOW - created_ago)
    plan = plan_virtual_machine(spec(), context(), remembered, observed(agent=agent, host=host), [])
    # Nothing to wait for (no retry), only news to pick up: the next resync comes sooner.
    assert (plan.calls, plan.verdict.ready, plan.requeue_after, plan.refresh_after) == ([], True, None, look_again)


def test_in_sync_is_ready_with_no_calls() -> None:
    plan = plan_virtual_machine(spec(), context(), memory(), observed(), [])
    assert plan.calls == []
    assert (plan.verdict.ready, plan.verdict.ready_reason, plan.verdict.phase) == (True, Reason.AVAILABLE, "Running")


def test_a_new_disk_without_a_volume_is_reported_as_unsupported() -> None:
    grown = spec(
        disks=[{"name": "root", "size": "10Gi", "pool": VM_UUID}, {"name": "new", "size": "5Gi", "pool": VM_UUID}]
    )
    plan = plan_virtual_machine(grown, context(), memory(), observed(), [])
    assert plan.verdict.synced is False
    assert plan.verdict.synced_reason == "UnsupportedChange"
    assert "disks[new]" in plan.verdict.message


def test_attaching_an_existing_volume_is_planned_while_running() -> None:
    grown = spec(
        disks=[
            {"name": "root", "size": "10Gi", "pool": VM_UUID},
            {"name": "data", "volume": DATA_VOLUME, "bus": "scsi"},
        ]
    )
    plan = plan_virtual_machine(grown, context(), memory(), observed(), [])
    assert [c.operation for c in plan.calls] == ["disk/attach"]
    request = plan.calls[0].request
    assert isinstance(request, DiskAttachRequest)
    assert request.source_vsd == DiskVsdSource(volume_uuid=DATA_VOLUME)
    assert request.target_bus == "scsi"


def test_a_crashed_vm_is_reported_stuck() -> None:
    plan = plan_virtual_machine(spec(), context(), memory(), observed("crashed", agent="disconnected"), [])
    assert plan.calls == []
    assert (plan.verdict.synced, plan.verdict.synced_reason, plan.verdict.phase) == (
        False,
        Reason.COMPUTE_ERROR,
        "Failed",
    )


def test_a_graceful_shutdown_is_remembered_until_the_vm_is_off() -> None:
    stopping = spec(power_state="Stopped")
    first = plan_virtual_machine(stopping, context(), memory(), observed(), [])
    assert [c.operation for c in first.calls] == ["shutdown"]
    assert first.memory.shutdown_requested_at == NOW
    later = plan_virtual_machine(stopping, context(NOW + 10), first.memory, observed(), [])
    assert later.calls == [] and later.memory.shutdown_requested_at == NOW
    forced = plan_virtual_machine(stopping, context(NOW + 120), first.memory, observed(), [])
    assert [c.operation for c in forced.calls] == ["shutoff"]
    off = plan_virtual_machine(stopping, context(NOW + 121), forced.memory, observed("shutoff"), [])
    assert off.memory.shutdown_requested_at is None


def test_a_graceful_shutdown_given_up_on_does_not_shorten_the_next_one() -> None:
    # Stopped was asked for, then Running again before the guest went down: a later Stopped
    # must start over with a graceful shutdown, not power off at once on the old request's clock.
    stopping, running = spec(power_state="Stopped"), spec(power_state="Running")
    asked = plan_virtual_machine(stopping, context(), memory(), observed(), [])
    assert asked.memory.shutdown_requested_at == NOW
    back = plan_virtual_machine(running, context(NOW + 10), asked.memory, observed(), [])
    assert back.calls == []
    again = plan_virtual_machine(stopping, context(NOW + 3600), back.memory, observed(), [])
    assert [c.operation for c in again.calls] == ["shutdown"]


# ---------------------------------------------------------------- specs the planner cannot send


def test_a_request_the_spec_cannot_make_is_an_invalid_spec_verdict_not_an_exception() -> None:
    """memory 0.5 (0 bytes) on a running VM, stored before the CRD refused it: vmemory/set needs >= 1."""
    stored = spec().model_copy(update={"memory": "0.5"})  # as if read past the model's own check
    plan = plan_virtual_machine(stored, context(), memory(), observed(), [])
    assert plan.calls == []
    assert (plan.verdict.ready, plan.verdict.synced, plan.verdict.synced_reason) == (
        False,
        False,
        Reason.INVALID_SPEC,
    )
    assert "spec.memory" in plan.verdict.message and "vmemory" in plan.verdict.message, plan.verdict.message
    assert plan.verdict.phase == "Running"


def test_the_spec_model_refuses_memory_that_is_not_whole_mib() -> None:
    for bad in ("1", "0.5", "1000k", "1.5Mi", "257Gi"):
        with pytest.raises(ValueError, match="whole number of MiB"):
            spec(memory=bad)
    assert spec(memory="1.5Gi").memory == "1.5Gi"


# ---------------------------------------------------------------- fields the create sends: never a silent "in sync"


SEVEN_OPTIONS = {
    "meta": {"vnc": True, "nestedVirtualization": True, "panicModel": "none", "memorySecurity": True},
    "cpu": {"baseline": "Haswell-noTSX"},
}
AS_CREATED = shape(baseline="Skylake", vnc=False, panic_model="isa", memory_security=False)
OPTION_FIELDS = ["cpu.baseline", "meta.memorySecurity", "meta.nestedVirtualization", "meta.panicModel", "meta.vnc"]


def test_changed_options_of_a_running_vm_wait_for_the_next_power_cycle() -> None:
    vm = observed(vm_shape=AS_CREATED, nested=False)
    plan = plan_virtual_machine(spec(**SEVEN_OPTIONS), context(), memory(), vm, [])
    assert sorted(plan.pending_changes) == OPTION_FIELDS
    assert plan.calls == []
    assert plan.verdict.synced_reason == Reason.PENDING_CHANGES and "in sync" not in plan.verdict.message


def test_changed_options_of_a_stopped_vm_are_set() -> None:
    vm = observed("shutoff", agent="disconnected", vm_shape=AS_CREATED, nested=False)
    plan = plan_virtual_machine(spec(**SEVEN_OPTIONS, power_state="Stopped"), context(), memory(), vm, [])
    assert [c.operation for c in plan.calls] == ["meta/set"] * 5 and plan.pending_changes == []


def test_a_zone_or_type_the_vm_does_not_have_is_unsupported_not_in_sync() -> None:
    vm = observed(zone="a6f8ad4a-3fdf-4cf6-8fda-90a8093f5316", type="VDI")
    plan = plan_virtual_machine(spec(zone="2871bab9-d6ed-4100-8d74-9c4442b52bb5"), context(), memory(), vm, [])
    verdict = plan.verdict
    assert (verdict.synced, verdict.synced_reason) == (False, Reason.UNSUPPORTED_CHANGE)
    assert "zone: " in verdict.message and "type: " in verdict.message
