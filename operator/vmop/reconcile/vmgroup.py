"""plan_vm_group: create, rename (group/update), re-parent (group/move) or delete one platform
group, with the doc's rules checked before any call: depth at most 5, nothing under `default`,
unique sibling names, no delete while the group or a descendant holds VMs, `default` never
deleted. A rule that would be broken is reported, never sent."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from vmop.api.conditions import Reason
from vmop.api.vmgroup import VmGroupSpec
from vmop.compute.models import ComputeGroupObjectMeta, GroupTree
from vmop.compute.requests import GroupCreateRequest, GroupMoveRequest, GroupRef, GroupUpdateRequest
from vmop.compute.rules import DEFAULT_GROUP_NAME, GROUP_MAX_DEPTH
from vmop.reconcile.calls import Call


@dataclass(frozen=True)
class Node:
    uuid: str
    name: str
    parent: str  # "" at the tenant's top level
    depth: int
    ref_count: int
    children: tuple[str, ...]

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_GROUP_NAME and not self.parent


@dataclass(frozen=True)
class TreeView:
    """The groups of one (cluster, tenant), from group/tree."""

    nodes: dict[str, Node]

    @classmethod
    def from_tree(cls, tree: GroupTree) -> TreeView:
        nodes: dict[str, Node] = {}

        def walk(node: ComputeGroupObjectMeta, parent: str, depth: int) -> None:
            if node.fake:  # cluster, tenant and namespace levels: the real groups are below
                for child in node.children:
                    walk(child, "", 1)
                return
            nodes[node.uuid] = Node(
                node.uuid, node.name, parent, depth, node.ref_count, tuple(c.uuid for c in node.children)
            )
            for child in node.children:
                walk(child, node.uuid, depth + 1)

        for top in tree.nodes:
            walk(top, "", 1)
        return cls(nodes)

    def children_named(self, parent: str, name: str) -> list[Node]:
        return [n for n in self.nodes.values() if n.parent == parent and n.name == name]

    def subtree(self, uuid: str) -> list[Node]:
        node = self.nodes.get(uuid)
        if node is None:
            return []
        return [node, *(n for child in node.children for n in self.subtree(child))]

    def height(self, uuid: str) -> int:
        node = self.nodes[uuid]
        return 1 + max((self.height(c) for c in node.children if c in self.nodes), default=0)


ParentKind = Literal["top", "group", "waiting"]


@dataclass(frozen=True)
class Parent:
    """Where the group should hang: the tenant's top level, a platform group, or not known yet."""

    kind: ParentKind
    uuid: str = ""
    reason: str = ""  # for waiting: ParentNotFound, ParentNotReady, ParentCycle...
    message: str = ""


@dataclass(frozen=True)
class GroupMemory:
    uuid: str | None = None
    create_pending_since: float | None = None


@dataclass(frozen=True)
class GroupPlan:
    calls: list[Call]
    memory: GroupMemory
    ready: bool
    reason: str
    message: str
    phase: str
    node: Node | None = None
    refused: bool = False  # a doc rule would be broken: nothing sent, the spec must change
    persist_first: bool = False
    blocking: list[str] = field(default_factory=list)


def _scope(spec: VmGroupSpec) -> dict[str, str]:
    return {"cluster_uuid": spec.cluster, "tenant": spec.tenant}


def _refuse(memory: GroupMemory, reason: str, message: str, node: Node | None = None) -> GroupPlan:
    return GroupPlan([], memory, False, reason, message, "Failed", node, refused=True)


def _placement_problem(
    tree: TreeView, parent: Parent, name: str, height: int, moving: str | None
) -> tuple[str, str] | None:
    """Why hanging a subtree of ``height`` named ``name`` under ``parent`` breaks a doc rule, if it does."""
    base = 0
    if parent.kind == "group":
        target = tree.nodes.get(parent.uuid)
        if target is None:
            return "ParentNotFound", f"parent group {parent.uuid} does not exist on the platform"
        if target.is_default:
            return "DefaultHasNoChildren", "the platform allows no groups under default"
        if moving is not None and target.uuid in {n.uuid for n in tree.subtree(moving)}:
            return Reason.PARENT_CYCLE, "a group cannot move under itself or its descendants"
        base = target.depth
    if base + height > GROUP_MAX_DEPTH:
        return "DepthExceeded", (
            f"the group would reach depth {base + height}; the platform allows at most {GROUP_MAX_DEPTH} levels"
        )
    clash = [n for n in tree.children_named(parent.uuid, name) if n.uuid != moving]
    if clash:
        return Reason.CONFLICT, f"a sibling group is already named {name!r} ({clash[0].uuid})"
    return None


def plan_vm_group(
    spec: VmGroupSpec, platform_name: str, parent: Parent, memory: GroupMemory, tree: TreeView, *, now: float
) -> GroupPlan:
    if parent.kind == "waiting":
        return GroupPlan([], memory, False, parent.reason, parent.message, "Pending")
    wanted = memory.uuid or (spec.adopt.uuid if spec.adopt else None)
    if wanted is not None and wanted in tree.nodes:
        return _plan_existing(spec, platform_name, parent, replace(memory, uuid=wanted), tree.nodes[wanted], tree)
    if spec.adopt is not None:
        return _refuse(memory, "Lost", f"group {spec.adopt.uuid} does not exist on the platform")
    same_name = tree.children_named(parent.uuid, platform_name)
    if same_name and memory.create_pending_since is not None:  # created just before a restart: ours
        return _plan_existing(spec, platform_name, parent, GroupMemory(same_name[0].uuid), same_name[0], tree)
    problem = _placement_problem(tree, parent, platform_name, 1, None)
    if problem is not None:
        reason, message = problem
        if reason == Reason.CONFLICT:
            message += "; set spec.adopt.uuid to take it over, or choose another spec.name"
            return GroupPlan([], memory, False, reason, message, "Conflict", refused=True)
        return _refuse(memory, reason, message)
    request = GroupCreateRequest(**_scope(spec), parent_group=parent.uuid, group_name=platform_name)
    lost = " (the group disappeared from the platform)" if wanted else ""
    call = Call("group/create", request, f"create group {platform_name}{lost}")
    return GroupPlan(
        [call], GroupMemory(None, now), False, "Creating", f"creating {platform_name}", "Pending", persist_first=True
    )


def _plan_existing(
    spec: VmGroupSpec, platform_name: str, parent: Parent, memory: GroupMemory, node: Node, tree: TreeView
) -> GroupPlan:
    memory = replace(memory, create_pending_since=None)
    calls: list[Call] = []
    if node.parent != parent.uuid:
        problem = _placement_problem(tree, parent, platform_name, tree.height(node.uuid), node.uuid)
        if problem is not None:
            return _refuse(memory, *problem, node=node)
        request = GroupMoveRequest(**_scope(spec), group_uuid=node.uuid, parent_group=parent.uuid)
        calls.append(Call("group/move", request, f"move under {parent.uuid or 'the top level'}"))
    elif node.name != platform_name:
        clash = [n for n in tree.children_named(node.parent, platform_name) if n.uuid != node.uuid]
        if clash:
            return _refuse(memory, Reason.CONFLICT, f"a sibling group is already named {platform_name!r}", node)
    if node.name != platform_name:
        update = GroupUpdateRequest(**_scope(spec), group_uuid=node.uuid, group_name=platform_name)
        calls.append(Call("group/update", update, f"rename {node.name} -> {platform_name}"))
    if calls:
        return GroupPlan(calls, memory, False, "Updating", "; ".join(c.reason for c in calls), "Pending", node)
    return GroupPlan([], memory, True, "Available", "in sync", "Ready", node)


@dataclass(frozen=True)
class GroupDeletion:
    calls: list[Call]
    done: bool
    message: str
    blocking: list[str] = field(default_factory=list)


def plan_vm_group_deletion(
    spec: VmGroupSpec,
    memory: GroupMemory,
    tree: TreeView,
    *,
    child_objects: list[str],
    vms_by_group: dict[str, list[str]],
) -> GroupDeletion:
    """``child_objects``: VmGroup objects naming this one as parent; ``vms_by_group``: VM names per group uuid."""
    if spec.deletion_policy == "Retain" or spec.adopt is not None:
        return GroupDeletion([], True, "the group stays on the platform")
    if memory.uuid is None or memory.uuid not in tree.nodes:
        return GroupDeletion([], True, "no group on the platform")
    node = tree.nodes[memory.uuid]
    if node.is_default:
        return GroupDeletion([], True, "the default group is never deleted")
    if child_objects:
        return GroupDeletion([], False, f"waiting for child VmGroups to go first: {', '.join(sorted(child_objects))}")
    subtree = tree.subtree(node.uuid)
    holding = sorted(vm for n in subtree for vm in vms_by_group.get(n.uuid, []))
    if holding or any(n.ref_count for n in subtree):
        shown = ", ".join(holding) or f"{sum(n.ref_count for n in subtree)} VMs"
        return GroupDeletion([], False, f"the group or a group below it still holds VMs: {shown}", holding)
    request = GroupRef(**_scope(spec), group_uuid=node.uuid)
    return GroupDeletion([Call("group/delete", request, f"delete group {node.name}")], True, "deleting")


@dataclass(frozen=True)
class GroupEntry:
    """What the operator knows of a VmGroup object (from a kopf index)."""

    uuid: str | None
    parent_ref: str | None
    cluster: str
    tenant: str


def resolve_parent(spec: VmGroupSpec, namespace: str, name: str, lookup: dict[tuple[str, str], GroupEntry]) -> Parent:
    """The parent a VmGroup should hang under; children applied before their parents wait."""
    if spec.parent is not None:
        return Parent("group", spec.parent)
    if spec.parent_ref is None:
        return Parent("top")
    chain = [name]
    current = spec.parent_ref.name
    while current not in chain:
        entry = lookup.get((namespace, current))
        if entry is None:
            if current == spec.parent_ref.name:
                return Parent("waiting", reason="ParentNotFound", message=f"waiting for VmGroup {current} to exist")
            break  # an ancestor further up is missing: the parent waits for it, this one for the parent
        chain.append(current)
        if entry.parent_ref is None:
            break
        current = entry.parent_ref
    else:
        return Parent(
            "waiting", reason=Reason.PARENT_CYCLE, message=f"parentRef cycle: {' -> '.join([*chain, current])}"
        )
    parent = lookup[(namespace, spec.parent_ref.name)]
    if (parent.cluster, parent.tenant) != (spec.cluster, spec.tenant):
        return Parent(
            "waiting",
            reason="ParentElsewhere",
            message=f"VmGroup {spec.parent_ref.name} is in another cluster or tenant",
        )
    if parent.uuid is None:
        return Parent(
            "waiting",
            reason="ParentNotReady",
            message=f"waiting for VmGroup {spec.parent_ref.name} to exist on the platform",
        )
    return Parent("group", parent.uuid)
