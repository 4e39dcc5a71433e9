"""The VmGroup planner: the doc's group rules are checked before any call."""

from __future__ import annotations

import pytest

from vmop.api.vmgroup import VmGroupSpec
from vmop.compute.models import ComputeGroupObjectMeta, GroupTree
from vmop.reconcile.vmgroup import (
    GroupEntry,
    GroupMemory,
    Parent,
    TreeView,
    plan_vm_group,
    plan_vm_group_deletion,
    resolve_parent,
)

CLUSTER, TENANT = "c1", "a1"
SPEC = VmGroupSpec(cluster=CLUSTER, tenant=TENANT)


def node(uuid: str, name: str, *children: ComputeGroupObjectMeta, refs: int = 0) -> ComputeGroupObjectMeta:
    return ComputeGroupObjectMeta(uuid=uuid, name=name, ref_count=refs, children=list(children))


def tree(*tops: ComputeGroupObjectMeta) -> TreeView:
    tenant = ComputeGroupObjectMeta(uuid=TENANT, name="tenant", fake=True, children=list(tops))
    return TreeView.from_tree(GroupTree(nodes=[tenant]))


def chain(depth: int) -> ComputeGroupObjectMeta:
    current = node(f"g{depth}", f"level{depth}")
    for level in reversed(range(1, depth)):
        current = node(f"g{level}", f"level{level}", current)
    return current


def test_the_tree_view_skips_fake_nodes_and_knows_depths() -> None:
    view = tree(node("d", "default"), chain(3))
    assert {u: n.depth for u, n in view.nodes.items()} == {"d": 1, "g1": 1, "g2": 2, "g3": 3}
    assert view.nodes["d"].is_default
    assert view.height("g1") == 3


def test_create_at_the_top_is_planned_with_a_pending_mark() -> None:
    plan = plan_vm_group(SPEC, "web", Parent("top"), GroupMemory(), tree(), now=100.0)
    assert [c.operation for c in plan.calls] == ["group/create"]
    assert plan.persist_first
    assert plan.memory.create_pending_since == 100.0


def test_a_sixth_level_is_refused_before_any_call() -> None:
    plan = plan_vm_group(SPEC, "six", Parent("group", "g5"), GroupMemory(), tree(chain(5)), now=0)
    assert (plan.calls, plan.refused, plan.reason) == ([], True, "DepthExceeded")


def test_nothing_goes_under_default() -> None:
    plan = plan_vm_group(SPEC, "x", Parent("group", "d"), GroupMemory(), tree(node("d", "default")), now=0)
    assert (plan.calls, plan.reason) == ([], "DefaultHasNoChildren")


def test_a_sibling_with_the_name_is_a_conflict_unless_we_made_it() -> None:
    view = tree(node("other", "web"))
    conflict = plan_vm_group(SPEC, "web", Parent("top"), GroupMemory(), view, now=0)
    assert (conflict.calls, conflict.phase) == ([], "Conflict")
    ours = plan_vm_group(SPEC, "web", Parent("top"), GroupMemory(None, create_pending_since=5.0), view, now=10)
    assert (ours.calls, ours.memory.uuid, ours.ready) == ([], "other", True)


def test_rename_and_move() -> None:
    view = tree(node("a", "a"), node("b", "b", node("c", "old")))
    plan = plan_vm_group(SPEC, "new", Parent("group", "a"), GroupMemory("c"), view, now=0)
    assert [c.operation for c in plan.calls] == ["group/move", "group/update"]


def test_a_move_that_would_exceed_the_depth_is_refused() -> None:
    view = tree(chain(3), node("x", "x", node("y", "y", node("z", "z"))))
    plan = plan_vm_group(SPEC, "level1", Parent("group", "z"), GroupMemory("g1"), view, now=0)
    assert (plan.calls, plan.reason) == ([], "DepthExceeded")
    into_self = plan_vm_group(SPEC, "level1", Parent("group", "g3"), GroupMemory("g1"), view, now=0)
    assert into_self.reason == "ParentCycle"


@pytest.mark.parametrize(
    ("lookup", "reason"),
    [
        ({}, "ParentNotFound"),
        ({("ns", "p"): GroupEntry(None, None, CLUSTER, TENANT)}, "ParentNotReady"),
        ({("ns", "p"): GroupEntry("u", None, "c2", TENANT)}, "ParentElsewhere"),
        ({("ns", "p"): GroupEntry("u", "me", CLUSTER, TENANT)}, "ParentCycle"),
    ],
)
def test_parents_resolve_or_wait(lookup: dict[tuple[str, str], GroupEntry], reason: str) -> None:
    spec = VmGroupSpec(cluster=CLUSTER, tenant=TENANT, parent_ref={"name": "p"})
    assert resolve_parent(spec, "ns", "me", lookup).reason == reason


def test_a_ready_parent_resolves_to_its_uuid() -> None:
    spec = VmGroupSpec(cluster=CLUSTER, tenant=TENANT, parent_ref={"name": "p"})
    lookup = {("ns", "p"): GroupEntry("u", None, CLUSTER, TENANT)}
    assert resolve_parent(spec, "ns", "me", lookup) == Parent("group", "u")


def test_delete_waits_for_vms_anywhere_below_and_for_child_objects() -> None:
    view = tree(node("g1", "top", node("g2", "sub", refs=1)))
    held = plan_vm_group_deletion(SPEC, GroupMemory("g1"), view, child_objects=[], vms_by_group={"g2": ["vm-a"]})
    assert (held.calls, held.done, held.blocking) == ([], False, ["vm-a"])
    waiting = plan_vm_group_deletion(
        SPEC, GroupMemory("g1"), tree(node("g1", "top")), child_objects=["kid"], vms_by_group={}
    )
    assert (waiting.done, "kid" in waiting.message) == (False, True)
    free = plan_vm_group_deletion(SPEC, GroupMemory("g1"), tree(node("g1", "top")), child_objects=[], vms_by_group={})
    assert ([c.operation for c in free.calls], free.done) == (["group/delete"], True)


def test_default_and_retained_groups_are_never_deleted() -> None:
    assert (
        plan_vm_group_deletion(
            SPEC, GroupMemory("d"), tree(node("d", "default")), child_objects=[], vms_by_group={}
        ).calls
        == []
    )
    retained = VmGroupSpec(cluster=CLUSTER, tenant=TENANT, deletion_policy="Retain")
    assert (
        plan_vm_group_deletion(
            retained, GroupMemory("g1"), tree(node("g1", "x")), child_objects=[], vms_by_group={}
        ).calls
        == []
    )
