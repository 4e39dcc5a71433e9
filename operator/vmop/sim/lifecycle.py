"""Creating, cloning, deleting and reading VMs."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from typing import Any

from vmop.compute.models import (
    CloneResult,
    CreateResult,
    Disk,
    DiskVsdSource,
    EachResourceRangeListState,
    ExportStarted,
    Output,
    StateSummary,
    VmList,
    VmLog,
    VmLogPage,
)
from vmop.compute.requests import (
    CloneRequest,
    DeleteRequest,
    DiskExportRequest,
    FromTemplateRequest,
    ListQuery,
    StateSummaryQuery,
    UnifiedCreateRequest,
    UnifiedDisk,
    VmConfig,
)
from vmop.compute.rules import CACHE_MODES_FORCING_VIRTIO, MEMORY_MAX_BYTES
from vmop.compute.scodes import Scode
from vmop.sim.console import check_cloud_init
from vmop.sim.devices import _assign_device, check_image, new_interface
from vmop.sim.errors import SimError
from vmop.sim.platform import Platform, require, require_idle
from vmop.sim.views import compute_info
from vmop.sim.world import Vm, Volume

Item = tuple[Output[Any], Any]


def ok_output(data: Any) -> Output[Any]:
    return Output(scode=0, message="success", message_cn="成功", data=data)


def failed_output(error: SimError, data: Any) -> Output[Any]:
    return Output(scode=error.scode, message=error.message, message_cn=error.message_cn, desc=error.desc, data=data)


# ---------------------------------------------------------------- create


def _check_shape(config: VmConfig) -> tuple[int, int, int]:
    sockets = config.cpu_sockets or 1
    cores = config.cpu_socket_cores or 1
    if config.max_cpu_nr and config.max_cpu_nr != sockets * cores:
        raise SimError(
            Scode.CPU_INVALID, f"max_cpu_nr={config.max_cpu_nr} != cpu_sockets*cpu_socket_cores={sockets * cores}"
        )
    current = config.cpunr or sockets * cores
    if current > sockets * cores:
        raise SimError(Scode.CPU_INVALID, f"cpunr={current} exceeds max_cpu_nr={sockets * cores}")
    if config.mem_size > MEMORY_MAX_BYTES:
        raise SimError(Scode.MEMORY_INVALID, f"mem_size={config.mem_size} exceeds 256G")
    return sockets, cores, current


def _check_placement(p: Platform, cluster_uuid: str, tenant: str, config: VmConfig, group_uuid: str) -> str:
    p.cluster(cluster_uuid)
    p.tenant(tenant)
    if config.zone:
        zone = p.world.zones.get(config.zone)
        if zone is None or zone.cluster_uuid != cluster_uuid:
            raise SimError(Scode.ZONE_NOT_FOUND, f"zone {config.zone!r}")
    if group_uuid:
        return p.group(group_uuid, cluster_uuid, tenant).uuid
    return p.world.default_group(cluster_uuid, tenant).uuid


def _make_disk(p: Platform, vm: Vm, spec: UnifiedDisk, made: list[Volume]) -> Disk:
    bus, device = spec.disk_target_bus, spec.disk_target_device
    if spec.disk_cache_mode in CACHE_MODES_FORCING_VIRTIO and bus == "scsi":
        bus, device = "virtio", ""
    device, bus = _assign_device(vm, device, bus or ("" if device else "virtio"), "create")
    disk = Disk(disk_target_device=device, disk_target_bus=bus, disk_cache_mode=spec.disk_cache_mode or "none")
    if spec.disk_unified_vsd is not None:
        new = spec.disk_unified_vsd
        pool = p.world.pools.get(new.pool_uuid)
        if pool is None or pool.cluster_uuid != vm.cluster_uuid:
            raise SimError(Scode.POOL_NOT_FOUND, f"disk {device}: pool {new.pool_uuid!r}")
        capacity = new.disk_capacity or new.capacity
        if capacity <= 0:
            raise SimError(Scode.INVALID_PARAMETER, f"disk {device}: capacity must be positive")
        volume = Volume(
            str(uuidlib.uuid4()),
            new.volume_name or f"{vm.name}-volume-{len(vm.disks) + 1}",
            pool.uuid,
            capacity,
            vm.cluster_uuid,
            vm.uuid,
        )
        p.world.volumes[volume.uuid] = volume
        made.append(volume)
        disk.disk_vsd_source = DiskVsdSource(
            volume_uuid=volume.uuid,
            volume_name=volume.name,
            disk_capacity=capacity,
            pool_uuid=pool.uuid,
            pool_name=pool.name,
        )
        return disk
    existing = spec.disk_vsd_source or spec.disk_volume_source
    if existing is None or not existing.volume_uuid:
        raise SimError(Scode.INVALID_PARAMETER, f"disk {device}: disk_unified_vsd or an existing volume is required")
    volume_found = p.world.volumes.get(existing.volume_uuid)
    if volume_found is None or volume_found.vm_uuid or volume_found.cluster_uuid != vm.cluster_uuid:
        raise SimError(Scode.DISK_SOURCE_INVALID, f"disk {device}: volume {existing.volume_uuid!r} is not free")
    volume_found.vm_uuid = vm.uuid
    disk.disk_vsd_source = DiskVsdSource(
        volume_uuid=volume_found.uuid,
        volume_name=volume_found.name,
        disk_capacity=volume_found.capacity,
        pool_uuid=volume_found.pool_uuid,
    )
    return disk


def _create_one(
    p: Platform, cluster_uuid: str, tenant: str, config: VmConfig, group: str, name: str, vm_uuid: str
) -> CreateResult:
    sockets, cores, current = _check_shape(config)
    check_cloud_init(p, config.cloud_init_data, "create")
    floppy = config.floppy if config.floppy is not None and config.floppy.name else None
    if floppy is not None:
        check_image(p, floppy.name, floppy.repository_uuid, "create (floppy)")
    vm = Vm(
        vm_uuid,
        name,
        cluster_uuid,
        tenant,
        p.world.namespace_of(cluster_uuid, tenant),
        zone=config.zone or p.world.default_zone(cluster_uuid),
        object_group=group,
        os=config.os or "CentOS x64",
        type=config.type or "GUS",
        cpu_current=current,
        cpu_sockets=sockets,
        cpu_socket_cores=cores,
        baseline=config.baseline,
        mem_size=config.mem_size or 1024**3,
        mem_max=config.mem_max or MEMORY_MAX_BYTES,
    )
    made: list[Volume] = []
    try:
        for spec in config.disks:
            vm.disks.append(_make_disk(p, vm, spec, made))
        vm.interfaces = [new_interface(p, cluster_uuid, nic, "create") for nic in config.interfaces]
    except SimError:
        for volume in made:  # the platform rolls back the volumes of a VM it could not create
            del p.world.volumes[volume.uuid]
        for volume in p.world.volumes.values():
            if volume.vm_uuid == vm.uuid:
                volume.vm_uuid = ""
        raise
    if config.meta is not None:
        vm.meta = config.meta.model_dump(exclude_none=True, mode="json")
    vm.cloud_init = config.cloud_init_data
    if floppy is not None:
        vm.floppy = {"name": floppy.name, "repository_uuid": floppy.repository_uuid}
    now = int(p.world.now())
    vm.create_time = vm.modify_time = now
    p.world.vms[vm.uuid] = vm
    p.world.log(vm, "创建云服务器")
    group_obj = p.world.groups[group]
    return CreateResult(
        tenant=tenant,
        vm_uuid=vm.uuid,
        vm_name=name,
        volume_uuids=[v.uuid for v in made],
        mac_addresses=[n.mac_address for n in vm.interfaces],
        group=group,
        group_name=group_obj.name,
    )


def _names(base: str, count: int) -> list[str]:
    return [base] if count == 1 else [f"{base}-{i}" for i in range(count)]


def _create_batch(
    p: Platform,
    cluster_uuid: str,
    tenant: str,
    config: VmConfig,
    group: str,
    base_name: str,
    count: int,
    uuids: list[str],
) -> list[Output[Any]]:
    results = []
    for index, (name, vm_uuid) in enumerate(zip(_names(base_name, count), uuids, strict=True)):
        try:
            result = _create_one(p, cluster_uuid, tenant, config, group, name, vm_uuid)
            result.index = index
            results.append(ok_output(result))
        except SimError as error:
            results.append(failed_output(error, CreateResult(index=index, vm_name=name)))
    return results


def unified_create(p: Platform, req: UnifiedCreateRequest) -> list[Output[Any]]:
    group = _check_placement(p, req.cluster_uuid, req.tenant, req, req.object_group)
    name = req.meta.compute_name if req.meta is not None else None
    if not name:
        raise SimError(Scode.INVALID_PARAMETER, "meta.compute_name is required")
    _check_shape(req)
    uuids = [str(uuidlib.uuid4()) for _ in range(req.create_num)]
    return _create_batch(p, req.cluster_uuid, req.tenant, req, group, name, req.create_num, uuids)


def unified_import(p: Platform, req: UnifiedCreateRequest) -> list[Output[Any]]:
    """unified_create, then an image import into the new volumes: the VM shows action importing.
    An image that cannot be found fails the item with 22211, as in the doc's example."""
    for disk in req.disks:
        if disk.image_uuid and not any(
            i.uuid == disk.image_uuid and i.repository_uuid == disk.repository_uuid for i in p.world.images.values()
        ):
            error = SimError(Scode.IMPORT_IMAGE_FAILED, f"image {disk.image_uuid} not in {disk.repository_uuid}")
            name = req.meta.compute_name if req.meta is not None else ""
            return [failed_output(error, CreateResult(vm_name=name or ""))]
    results = unified_create(p, req)
    for output in results:
        if isinstance(output.data, CreateResult) and output.data.vm_uuid:
            _start_timed_action(p, p.world.vms[output.data.vm_uuid], "importing")
    return results


def import_progress(p: Platform, vm: Vm) -> int:
    if vm.action != "importing":
        raise SimError(Scode.VM_STATE_INVALID, f"import/progress needs an importing vm; vm {vm.uuid} is {vm.action}")
    elapsed = p.world.now() - vm.clone_started
    return min(99, int(100 * elapsed / vm.clone_duration)) if vm.clone_duration else 99


def create_from_template(p: Platform, req: FromTemplateRequest) -> list[Output[Any]]:
    template = p.world.templates.get(req.vm_template_id)
    if template is None or template.cluster_uuid != req.cluster_uuid:
        raise SimError(Scode.TEMPLATE_NOT_FOUND, f"vm_template_id {req.vm_template_id!r}")
    if req.assign_vm_uuid:
        if req.create_num != 1:
            raise SimError(Scode.INVALID_PARAMETER, "assign_vm_uuid needs create_num 1")
        if req.assign_vm_uuid in p.world.vms:
            raise SimError(Scode.VM_UUID_CONFLICT, f"assign_vm_uuid {req.assign_vm_uuid}")
    config = VmConfig(
        cpu_sockets=template.cpu_sockets,
        cpu_socket_cores=template.cpu_socket_cores,
        mem_size=template.mem_size,
        os=template.os,
        disks=[
            UnifiedDisk(
                disk_target_bus="virtio",
                disk_unified_vsd={"pool_uuid": template.pool_uuid, "disk_capacity": template.disk_capacity},
            )
        ],
    )
    override = req.vm_config_override
    if override is not None:
        config = config.model_copy(
            update={
                k: getattr(override, k)
                for k in override.model_fields_set
                if k in VmConfig.model_fields and getattr(override, k)
            }
        )
    if req.baseline:
        config.baseline = req.baseline
    group = _check_placement(p, req.cluster_uuid, req.tenant, config, req.object_group or config.object_group)
    name = (config.meta.compute_name if config.meta is not None else None) or f"{template.name}-{p.world.next_serial()}"
    uuids = [req.assign_vm_uuid] if req.assign_vm_uuid else [str(uuidlib.uuid4()) for _ in range(req.create_num)]
    results = _create_batch(p, req.cluster_uuid, req.tenant, config, group, name, req.create_num, uuids)
    for output in results:
        if isinstance(output.data, CreateResult) and output.data.vm_uuid:
            _start_timed_action(p, p.world.vms[output.data.vm_uuid], "cloning")
    return results


def _start_timed_action(p: Platform, vm: Vm, action: str) -> None:
    """Volumes are copied (cloning) or an image written (importing): the VM shows the action a while."""
    if p.timings.clone <= 0:
        return
    vm.action, vm.clone_started, vm.clone_duration = action, p.world.now(), p.timings.clone

    def done() -> None:
        vm.action = "noaction"

    p.world.schedule(p.timings.clone, done, f"{vm.uuid}:clone")


def clone(p: Platform, vm: Vm, req: CloneRequest) -> list[Output[Any]]:
    require(vm, "clone", states=("running", "shutoff"))
    _start_timed_action(p, vm, "cloning")
    results = []
    for index, name in enumerate(_names(req.clone_name, req.clone_num)):
        config = VmConfig(
            cpu_sockets=vm.cpu_sockets,
            cpu_socket_cores=vm.cpu_socket_cores,
            cpunr=vm.cpu_current,
            mem_size=vm.mem_size,
            os=vm.os,
            zone=req.zone or vm.zone,
            disks=[
                UnifiedDisk(
                    disk_target_device=d.disk_target_device,
                    disk_unified_vsd={"pool_uuid": _clone_pool(req, d), "disk_capacity": d.capacity()},
                )
                for d in vm.disks
            ],
        )
        tenant = req.migrate_namespace or vm.tenant
        group = req.object_group or p.world.default_group(vm.cluster_uuid, tenant).uuid
        try:
            _create_one(p, vm.cluster_uuid, tenant, config, group, name, str(uuidlib.uuid4()))
            results.append(ok_output(CloneResult(vm_uuid=vm.uuid, index=index, clone_name=name)))
        except SimError as error:
            results.append(failed_output(error, CloneResult(vm_uuid=vm.uuid, index=index, clone_name=name)))
    return results


def _clone_pool(req: CloneRequest, disk: Disk) -> str:
    for spec in req.disks:
        if spec.target_device == disk.disk_target_device:
            return spec.source_pool_uuid
    return disk.disk_vsd_source.pool_uuid if disk.disk_vsd_source else ""


def clone_progress(p: Platform, vm: Vm) -> int:
    if vm.action != "cloning":
        raise SimError(Scode.NOT_CLONING, f"vm {vm.uuid} is {vm.action}")
    elapsed = p.world.now() - vm.clone_started
    return min(99, int(100 * elapsed / vm.clone_duration)) if vm.clone_duration else 99


def export_disk(p: Platform, vm: Vm, req: DiskExportRequest) -> ExportStarted:
    """disk/export: from a running VM, one volume disk (not a block device or passthrough)."""
    require(vm, "disk/export", states=("running",))
    device = req.disk[0].device
    disk = next((d for d in vm.disks if d.disk_target_device == device), None)
    if disk is None:
        raise SimError(Scode.DISK_NOT_FOUND, f"disk/export: vm {vm.uuid} has no disk {device}")
    if disk.disk_block_source is not None or disk.disk_source_passthrough is not None:
        raise SimError(Scode.DISK_SOURCE_INVALID, "disk/export: block device and passthrough disks do not export")
    _start_timed_action(p, vm, "exporting")
    return ExportStarted(name=vm.name)


def export_progress(p: Platform, vm: Vm) -> int:
    """The doc: 22151 when no export was started or it has finished."""
    if vm.action != "exporting":
        raise SimError(Scode.NOT_EXPORTING, f"vm {vm.uuid} is {vm.action}")
    elapsed = p.world.now() - vm.clone_started
    return min(99, int(100 * elapsed / vm.clone_duration)) if vm.clone_duration else 99


# ---------------------------------------------------------------- delete


def delete(p: Platform, vm: Vm, req: DeleteRequest) -> None:
    require_idle(vm, "delete")
    p.world.cancel(f"{vm.uuid}:power")
    volumes = [v for v in p.world.volumes.values() if v.vm_uuid == vm.uuid]
    if req.real_delete:
        del p.world.vms[vm.uuid]
        for volume in volumes:
            if req.is_delete_volumes:
                del p.world.volumes[volume.uuid]
            else:
                volume.vm_uuid = ""
        return
    vm.deleted_time = int(p.world.now())  # to the recycle bin, volumes with it
    vm.state, vm.ga_state = "shutoff", "disconnected"
    for volume in volumes:
        volume.trashed = req.is_delete_volumes


# ---------------------------------------------------------------- read


def _matches(vm: Vm, q: ListQuery, p: Platform) -> bool:
    info = compute_info(p.world, vm)
    macs = [n.mac_address for n in vm.interfaces]
    checks: list[tuple[object, Callable[[], bool]]] = [
        (q.cluster_uuid, lambda: vm.cluster_uuid == q.cluster_uuid),
        (q.tenant, lambda: vm.tenant == q.tenant),
        (q.filter_name, lambda: vm.name == q.filter_name),
        (q.filter_uuid, lambda: vm.uuid == q.filter_uuid),
        (q.filter_host_type, lambda: vm.type == q.filter_host_type),
        (q.filter_vm_ip, lambda: q.filter_vm_ip in info.interface_ips),
        (q.filter_mac_address, lambda: q.filter_mac_address.lower() in macs),
        (q.filter_object_group, lambda: vm.object_group == q.filter_object_group),
        (q.filter_zone, lambda: vm.zone == q.filter_zone),
        (q.filter_state, lambda: vm.state == q.filter_state),
        (q.filter_agent, lambda: vm.ga_state == q.filter_agent),
        (q.filter_action, lambda: vm.action == q.filter_action),
        (
            q.filter_recover_to_related_zones,
            lambda: vm.meta.get("recover_to_related_zones", 2) == q.filter_recover_to_related_zones,
        ),
        (q.filter_fuzzy, lambda: _fuzzy(q.filter_fuzzy, vm, info.interface_ips, macs)),
    ]
    return (q.include_trash_vm or not vm.trashed) and all(check() for value, check in checks if value)


def _fuzzy(needle: str, vm: Vm, ips: list[str], macs: list[str]) -> bool:
    lowered = needle.lower()
    return (
        needle in vm.name
        or lowered in vm.uuid.lower()
        or any(lowered in ip.lower() for ip in ips)
        or any(lowered in mac for mac in macs)
    )


def list_vms(p: Platform, q: ListQuery) -> VmList:
    clusters = [q.cluster_uuid] if q.cluster_uuid else sorted(p.world.clusters)
    if q.cluster_uuid:
        p.cluster(q.cluster_uuid)
    found = sorted(
        (vm for vm in p.world.vms.values() if _matches(vm, q, p)), key=lambda v: v.create_time
    )  # stable: creation order
    number = q.page_num if p.dialect.page_param == "page_num" else q.page_number  # the other one is ignored
    page = found[number * q.page_size : (number + 1) * q.page_size] if q.page_size > 0 else found  # <= 0: all
    counts: dict[str, int] = {}
    for vm in found:
        counts[vm.object_group] = counts.get(vm.object_group, 0) + 1
    ranges = [
        EachResourceRangeListState(
            cluster_uuid=c,
            cluster_name=p.world.clusters[c],
            result=ok_output(""),
            total_count=sum(1 for vm in found if vm.cluster_uuid == c),
        )
        for c in clusters
    ]
    return VmList(
        domains=[compute_info(p.world, vm) for vm in page],
        total_count=len(found),
        each_range_list_state=ranges,
        object_group_counts=counts,
    )


def state_summary(p: Platform, q: StateSummaryQuery) -> StateSummary:
    p.cluster(q.cluster_uuid)
    vms = [
        vm
        for vm in p.world.vms.values()
        if vm.cluster_uuid == q.cluster_uuid
        and not vm.trashed
        and (not q.tenant or vm.tenant == q.tenant)
        and (not q.filter_machine_uuid or vm.host == q.filter_machine_uuid)
    ]
    counts: dict[str, int] = {"total": len(vms)}
    for vm in vms:
        state_key = "no_state_count" if vm.state == "nostate" else f"{vm.state}_count"
        counts[state_key] = counts.get(state_key, 0) + 1
        if vm.action != "noaction":
            action_key = f"{vm.action}_count" if f"{vm.action}_count" in StateSummary.model_fields else "unknown_count"
            counts[action_key] = counts.get(action_key, 0) + 1
    return StateSummary(**counts)


def vm_log(p: Platform, vm: Vm) -> VmLogPage:
    entries = [e for e in p.world.logs if e.vm_uuid == vm.uuid]
    infos = [
        VmLog(
            UUID=e.uuid,
            ObjectType="Compute",
            ObjectUUID=e.vm_uuid,
            ObjectName=e.vm_name,
            Ctime=e.ctime,
            Message=e.message,
            StartTime=e.ctime,
            EndTime=e.ctime,
        )
        for e in reversed(entries)
    ]
    return VmLogPage(total_count=len(infos), infos=infos)
