"""plan_vm_deletion and resolve_deletion_policy: what deleting a VirtualMachine does on the platform."""

from __future__ import annotations

import pytest

from tests.support.reconcile import NOW, VM_UUID, memory, observed, spec
from vmop.compute.requests import DeleteRequest
from vmop.reconcile.deletion import DeletionPlan, plan_vm_deletion, release_message, resolve_deletion_policy
from vmop.reconcile.virtualmachine import WAIT_SECONDS


def operations(plan: DeletionPlan) -> list[str]:
    return [c.operation for c in plan.calls]


# ---------------------------------------------------------------- policy


@pytest.mark.parametrize(
    ("on_object", "on_namespace", "default", "policy"),
    [
        ("Retain", "Delete", "Delete", "Retain"),
        ("Delete", "Retain", "Retain", "Delete"),
        (None, "Retain", "Delete", "Retain"),
        (None, "Delete", "Retain", "Delete"),
        (None, None, "Retain", "Retain"),
        (None, None, "Delete", "Delete"),
        (None, "bogus", "Retain", "Retain"),  # a mistyped annotation falls through
        (None, None, "bogus", "Delete"),
    ],
)
def test_policy_comes_from_object_then_namespace_then_default(
    on_object: str | None, on_namespace: str | None, default: str, policy: str
) -> None:
    assert resolve_deletion_policy(on_object, on_namespace, default) == policy


# ---------------------------------------------------------------- nothing to do


def test_retain_leaves_the_vm() -> None:
    plan = plan_vm_deletion(spec(), "Retain", memory(), observed(), now=NOW)
    assert (plan.calls, plan.done) == ([], True)
    assert VM_UUID in plan.message


def test_observe_only_leaves_the_vm_whatever_the_policy() -> None:
    watched = spec(adopt={"uuid": VM_UUID, "observeOnly": True})
    plan = plan_vm_deletion(watched, "Delete", memory(), observed(), now=NOW)
    assert (plan.calls, plan.done) == ([], True)
    assert "observe-only" in plan.message


def test_a_vm_already_gone_needs_nothing() -> None:
    plan = plan_vm_deletion(spec(), "Delete", memory(), None, now=NOW)
    assert (plan.calls, plan.done) == ([], True)


@pytest.mark.parametrize("action", ["migrating", "cloning", "exporting"])
def test_a_busy_vm_is_waited_for(action: str) -> None:
    plan = plan_vm_deletion(spec(), "Delete", memory(), observed("running", action), now=NOW)
    assert (plan.calls, plan.done, plan.requeue_after) == ([], False, WAIT_SECONDS)


# ---------------------------------------------------------------- stop, then delete


def test_a_running_vm_is_shut_down_gracefully_first() -> None:
    plan = plan_vm_deletion(spec(), "Delete", memory(), observed(), now=NOW)
    assert (operations(plan), plan.done) == (["shutdown"], False)
    assert plan.memory.shutdown_requested_at == NOW
    assert plan.requeue_after == WAIT_SECONDS


def test_a_guest_that_does_not_shut_down_is_powered_off_after_the_timeout() -> None:
    asked = memory(shutdown_requested_at=NOW)
    waiting = plan_vm_deletion(spec(shutdown_timeout_seconds=60), "Delete", asked, observed(), now=NOW + 30)
    assert (operations(waiting), waiting.done) == ([], False)
    forced = plan_vm_deletion(spec(shutdown_timeout_seconds=60), "Delete", asked, observed(), now=NOW + 60)
    assert (operations(forced), forced.done) == (["shutoff"], False)


def test_a_running_vm_without_agent_is_powered_off() -> None:
    plan = plan_vm_deletion(spec(), "Delete", memory(), observed(agent="disconnected"), now=NOW)
    assert operations(plan) == ["shutoff"]


def test_a_paused_vm_is_woken_to_be_stopped() -> None:
    plan = plan_vm_deletion(spec(), "Delete", memory(), observed("paused"), now=NOW)
    assert (operations(plan), plan.done) == (["resume"], False)


@pytest.mark.parametrize(("state", "action"), [("shutoff", "save"), ("pmsuspend", "noaction")])
def test_a_hibernated_vm_in_either_shape_is_deleted_as_it_is(state: str, action: str) -> None:
    plan = plan_vm_deletion(spec(), "Delete", memory(), observed(state, action=action), now=NOW)
    assert (operations(plan), plan.done) == (["delete"], True)


@pytest.mark.parametrize(
    ("mode", "volumes", "real_delete"),
    [("Permanent", True, True), ("Permanent", False, True), ("Trash", True, False), ("Trash", False, False)],
)
def test_a_stopped_vm_is_deleted_as_the_spec_says(mode: str, volumes: bool, real_delete: bool) -> None:
    wanted = spec(delete_mode=mode, delete_volumes=volumes)
    plan = plan_vm_deletion(wanted, "Delete", memory(), observed("shutoff", agent="disconnected"), now=NOW)
    assert (operations(plan), plan.done) == (["delete"], True)
    request = plan.calls[0].request
    assert isinstance(request, DeleteRequest)
    assert (request.compute_uuid, request.real_delete, request.is_delete_volumes) == (VM_UUID, real_delete, volumes)
    assert ("recycle bin" in plan.message) == (mode == "Trash")


def test_a_hibernated_vm_is_deleted_without_waking_it() -> None:
    plan = plan_vm_deletion(spec(), "Delete", memory(), observed("shutoff", "save", "disconnected"), now=NOW)
    assert (operations(plan), plan.done) == (["delete"], True)


@pytest.mark.parametrize("state", ["crashed", "nostate", "blocked"])
def test_a_vm_no_call_can_stop_is_deleted_as_it_is(state: str) -> None:
    # No power call is allowed from these states and delete needs none: waiting for a stop that
    # cannot come would hold the finalizer forever.
    plan = plan_vm_deletion(spec(), "Delete", memory(), observed(state, agent="disconnected"), now=NOW)
    assert (operations(plan), plan.done) == (["delete"], True)


def test_a_release_says_the_vm_stays() -> None:
    paused = release_message(paused=True, uuid="u-1")
    assert "paused" in paused and "u-1 stays" in paused and "deletionPolicy Delete" in paused
    forced = release_message(paused=False, uuid=None)
    assert "force-release" in forced and "any VM stays" in forced
