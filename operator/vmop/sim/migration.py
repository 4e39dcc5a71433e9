"""migrate, migrate/abort, cross_cluster_migrate, cross_cluster_pregress, cross_cluster_cancel."""

from __future__ import annotations

from vmop.compute.requests import CrossClusterMigrateRequest
from vmop.compute.scodes import Scode
from vmop.sim.errors import SimError
from vmop.sim.passthrough import require_not_pinned
from vmop.sim.platform import Platform, require
from vmop.sim.world import Migration, Vm


def _tag(vm: Vm) -> str:
    return f"{vm.uuid}:migration"


def _require_migrating(vm: Vm, kind: str, operation: str) -> Migration:
    if vm.state != "running" or vm.action != "migrating" or vm.migration is None or vm.migration.kind != kind:
        raise SimError(
            Scode.VM_STATE_INVALID,
            f"{operation} needs a running vm that is migrating ({kind}); vm "
            f"{vm.uuid} is state={vm.state} action={vm.action}",
        )
    return vm.migration


def _finish(p: Platform, vm: Vm) -> None:
    migration = vm.migration
    vm.action, vm.migration = "noaction", None
    if migration is None:
        return
    if migration.fails:
        p.world.log(vm, "云服务器迁移失败")
        return
    vm.host = migration.destination_host
    if migration.kind == "cross_cluster":
        vm.cluster_uuid = migration.destination_cluster
        vm.tenant = migration.destination_tenant
        vm.namespace = p.world.namespace_of(vm.cluster_uuid, vm.tenant)
        vm.zone = migration.destination_zone
        vm.object_group = migration.destination_group
        for volume in p.world.volumes.values():
            if volume.vm_uuid == vm.uuid:
                volume.cluster_uuid = vm.cluster_uuid
    p.world.log(vm, "云服务器迁移完成")


def _begin(p: Platform, vm: Vm, migration: Migration) -> None:
    vm.action, vm.migration = "migrating", migration
    p.world.schedule(migration.duration, lambda: _finish(p, vm), _tag(vm))


def migrate(p: Platform, vm: Vm, destination: str) -> str:
    require(vm, "migrate", states=("running",))
    require_not_pinned(vm, "migrate")
    host = p.world.hosts.get(destination)
    if host is None or host.cluster_uuid != vm.cluster_uuid:
        raise SimError(Scode.HOST_NOT_FOUND, f"destination {destination!r} is not a host of cluster {vm.cluster_uuid}")
    if destination == vm.host:
        raise SimError(Scode.INVALID_PARAMETER, f"vm {vm.uuid} already runs on {destination}")
    _begin(p, vm, Migration("migrate", p.world.now(), p.timings.migration, p.faults.migration_fails, destination))
    return vm.name


def migrate_abort(p: Platform, vm: Vm) -> None:
    _require_migrating(vm, "migrate", "migrate/abort")
    p.world.cancel(_tag(vm))
    vm.action, vm.migration = "noaction", None
    p.world.log(vm, "云服务器中断迁移")


def cross_cluster_migrate(p: Platform, vm: Vm, req: CrossClusterMigrateRequest) -> None:
    require(vm, "cross_cluster_migrate", states=("running",))
    require_not_pinned(vm, "cross_cluster_migrate")
    p.cluster(req.destination_cluster)
    if req.destination_cluster == vm.cluster_uuid:
        raise SimError(Scode.INVALID_PARAMETER, "destination_cluster is the vm's own cluster; use migrate")
    host = p.world.hosts.get(req.destination_host_uuid)
    if host is None or host.cluster_uuid != req.destination_cluster:
        raise SimError(Scode.HOST_NOT_FOUND, f"destination_host_uuid {req.destination_host_uuid!r}")
    if host.ip != req.destination_host_ip or req.destination_host_ip in p.faults.unreachable_hosts:
        raise SimError(Scode.HOST_UNREACHABLE, f"vm host cannot reach {req.destination_host_ip}")
    p.tenant(req.destination_tenant)
    pool = p.world.pools.get(req.pool_uuid)
    if pool is None or pool.cluster_uuid != req.destination_cluster:
        raise SimError(Scode.POOL_NOT_FOUND, f"pool_uuid {req.pool_uuid!r}")
    zone = p.world.zones.get(req.zone_uuid)
    if zone is None or zone.cluster_uuid != req.destination_cluster:
        raise SimError(Scode.ZONE_NOT_FOUND, f"zone_uuid {req.zone_uuid!r}")
    p.group(req.object_group, req.destination_cluster, req.destination_tenant)
    _begin(
        p,
        vm,
        Migration(
            "cross_cluster",
            p.world.now(),
            p.timings.migration,
            p.faults.migration_fails,
            host.uuid,
            req.destination_cluster,
            req.destination_tenant,
            req.object_group,
            req.zone_uuid,
        ),
    )


def cross_cluster_progress(p: Platform, vm: Vm) -> int:
    migration = _require_migrating(vm, "cross_cluster", "cross_cluster_pregress")
    elapsed = p.world.now() - migration.started
    share = elapsed / migration.duration if migration.duration else 1.0
    if migration.fails and share >= 0.5:
        # The doc: on detecting a failure it also removes the destination VM and volumes.
        p.world.cancel(_tag(vm))
        _finish(p, vm)
        raise SimError(Scode.MIGRATION_FAILED, f"cross-cluster migration of vm {vm.uuid} failed")
    return min(99, int(100 * share))


def cross_cluster_cancel(p: Platform, vm: Vm) -> None:
    if vm.action != "migrating" or vm.migration is None or vm.migration.kind != "cross_cluster":
        raise SimError(
            Scode.VM_STATE_INVALID,
            f"cross_cluster_cancel needs a cross-cluster migration; vm {vm.uuid} is action={vm.action}",
        )
    p.world.cancel(_tag(vm))
    vm.action, vm.migration = "noaction", None
    p.world.log(vm, "云服务器取消跨集群迁移")
