"""VM groups (分组): create, delete, update (rename), move, inspect, tree."""

from __future__ import annotations

import uuid as uuidlib

from vmop.compute.models import ComputeGroupObjectMeta, GroupTree, ObjectGroupCache
from vmop.compute.requests import GroupCreateRequest, GroupMoveRequest, GroupRef, GroupTreeQuery, GroupUpdateRequest
from vmop.compute.rules import DEFAULT_GROUP_NAME, GROUP_MAX_DEPTH
from vmop.compute.scodes import Scode
from vmop.sim.errors import SimError
from vmop.sim.platform import Platform
from vmop.sim.views import group_cache, group_depth, group_vms
from vmop.sim.world import Group, World


def _children(world: World, group_uuid: str) -> list[Group]:
    return [g for g in world.groups.values() if g.parent == group_uuid]


def _subtree(world: World, group: Group) -> list[Group]:
    found = [group]
    for child in _children(world, group.uuid):
        found.extend(_subtree(world, child))
    return found


def _subtree_height(world: World, group: Group) -> int:
    return 1 + max((_subtree_height(world, c) for c in _children(world, group.uuid)), default=0)


def _check_sibling_name(world: World, cluster_uuid: str, tenant: str, parent: str, name: str, self_uuid: str) -> None:
    for g in world.groups.values():
        if (g.cluster_uuid, g.tenant, g.parent, g.name) == (cluster_uuid, tenant, parent, name) and g.uuid != self_uuid:
            raise SimError(Scode.GROUP_NAME_CONFLICT, f"a sibling group is already named {name!r}")


def _parent(p: Platform, parent_uuid: str, cluster_uuid: str, tenant: str) -> Group | None:
    if not parent_uuid:
        return None
    parent = p.group(parent_uuid, cluster_uuid, tenant)
    if parent.name == DEFAULT_GROUP_NAME and not parent.parent:
        raise SimError(Scode.GROUP_DEFAULT_NO_CHILDREN, "no group can be created under default")
    return parent


def _scope(p: Platform, req: GroupRef | GroupCreateRequest) -> None:
    p.cluster(req.cluster_uuid)
    p.tenant(req.tenant)
    p.world.default_group(req.cluster_uuid, req.tenant)  # every tenant has one


def create(p: Platform, req: GroupCreateRequest) -> ObjectGroupCache:
    _scope(p, req)
    parent = _parent(p, req.parent_group, req.cluster_uuid, req.tenant)
    depth = group_depth(p.world, parent) + 1 if parent else 1
    if depth > GROUP_MAX_DEPTH:
        raise SimError(Scode.GROUP_DEPTH_EXCEEDED, f"depth {depth} > {GROUP_MAX_DEPTH}")
    _check_sibling_name(p.world, req.cluster_uuid, req.tenant, req.parent_group, req.group_name, "")
    group = Group(
        str(uuidlib.uuid4()),
        req.group_name,
        req.cluster_uuid,
        req.tenant,
        p.world.namespace_of(req.cluster_uuid, req.tenant),
        req.parent_group,
    )
    p.world.groups[group.uuid] = group
    return group_cache(p.world, group)


def delete(p: Platform, req: GroupRef) -> None:
    _scope(p, req)
    group = p.group(req.group_uuid, req.cluster_uuid, req.tenant)
    if group.name == DEFAULT_GROUP_NAME and not group.parent:
        raise SimError(Scode.GROUP_DEFAULT_UNDELETABLE, "default")
    subtree = _subtree(p.world, group)
    holding = [vm.uuid for g in subtree for vm in group_vms(p.world, g)]
    if holding:
        raise SimError(Scode.GROUP_NOT_EMPTY, f"vms in the group or below it: {', '.join(sorted(holding))}")
    for g in subtree:
        del p.world.groups[g.uuid]


def update(p: Platform, req: GroupUpdateRequest) -> None:
    _scope(p, req)
    group = p.group(req.group_uuid, req.cluster_uuid, req.tenant)
    if not req.group_name:
        return  # the doc: no group_name, no change, no error
    _check_sibling_name(p.world, group.cluster_uuid, group.tenant, group.parent, req.group_name, group.uuid)
    group.name = req.group_name


def move(p: Platform, req: GroupMoveRequest) -> None:
    _scope(p, req)
    group = p.group(req.group_uuid, req.cluster_uuid, req.tenant)
    if group.name == DEFAULT_GROUP_NAME and not group.parent:
        raise SimError(Scode.GROUP_DEFAULT_UNDELETABLE, "the default group cannot be moved")
    parent = _parent(p, req.parent_group, req.cluster_uuid, req.tenant)
    if parent is not None and parent in _subtree(p.world, group):
        raise SimError(Scode.GROUP_MOVE_INTO_SELF, f"{parent.uuid} is {group.uuid} or below it")
    deepest = (group_depth(p.world, parent) if parent else 0) + _subtree_height(p.world, group)
    if deepest > GROUP_MAX_DEPTH:
        raise SimError(Scode.GROUP_DEPTH_EXCEEDED, f"the moved subtree would reach depth {deepest} > {GROUP_MAX_DEPTH}")
    _check_sibling_name(p.world, group.cluster_uuid, group.tenant, req.parent_group, group.name, group.uuid)
    group.parent = req.parent_group


def _node(p: Platform, group: Group) -> ComputeGroupObjectMeta:
    return ComputeGroupObjectMeta(
        uuid=group.uuid,
        namespace=group.namespace,
        name=group.name,
        parent=group.parent or group.namespace,
        ref_count=len(group_vms(p.world, group)),
        children=[_node(p, c) for c in _children(p.world, group.uuid)],
        cluster_uuid=group.cluster_uuid,
        cluster_name=p.world.clusters.get(group.cluster_uuid, ""),
        tenant=group.tenant,
        tenant_name=p.world.tenants[group.tenant].name if group.tenant in p.world.tenants else "",
    )


def _tops(p: Platform, cluster_uuid: str, tenant: str) -> list[ComputeGroupObjectMeta]:
    p.world.default_group(cluster_uuid, tenant)
    return [
        _node(p, g)
        for g in p.world.groups.values()
        if g.cluster_uuid == cluster_uuid and g.tenant == tenant and not g.parent
    ]


def _fake(
    uuid: str, name: str, parent: str, children: list[ComputeGroupObjectMeta], cluster_uuid: str, p: Platform
) -> ComputeGroupObjectMeta:
    return ComputeGroupObjectMeta(
        uuid=uuid,
        name=name,
        parent=parent,
        children=children,
        fake=True,
        is_health=True,
        cluster_uuid=cluster_uuid,
        cluster_name=p.world.clusters.get(cluster_uuid, ""),
    )


def tree(p: Platform, q: GroupTreeQuery) -> GroupTree:
    if q.cluster_uuid and q.tenant:
        p.cluster(q.cluster_uuid)
        tenant = p.world.tenants[p.tenant(q.tenant)]
        node = _fake(tenant.uuid, tenant.name, q.cluster_uuid, _tops(p, q.cluster_uuid, tenant.uuid), q.cluster_uuid, p)
        return GroupTree(nodes=[node], total_count=1)
    clusters = [p.cluster(q.cluster_uuid)] if q.cluster_uuid else sorted(p.world.clusters)
    tenants = [p.tenant(q.tenant)] if q.tenant else sorted(p.world.tenants)
    nodes = []
    for cluster_uuid in clusters:
        tenant_nodes = []
        for tenant_uuid in tenants:
            namespace = p.world.namespace_of(cluster_uuid, tenant_uuid)
            ns_node = _fake(
                namespace,
                p.world.tenants[tenant_uuid].name,
                tenant_uuid,
                _tops(p, cluster_uuid, tenant_uuid),
                cluster_uuid,
                p,
            )
            tenant_nodes.append(
                _fake(tenant_uuid, p.world.tenants[tenant_uuid].name, cluster_uuid, [ns_node], cluster_uuid, p)
            )
        nodes.append(_fake(cluster_uuid, p.world.clusters[cluster_uuid], "", tenant_nodes, cluster_uuid, p))
    return GroupTree(nodes=nodes, total_count=len(nodes))


def inspect(p: Platform, cluster_uuid: str, tenant: str, group_uuid: str) -> ObjectGroupCache:
    p.cluster(cluster_uuid)
    return group_cache(p.world, p.group(group_uuid, cluster_uuid, tenant))
