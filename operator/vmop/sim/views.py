"""How the simulator shows its state: the same wire models the client parses."""

from __future__ import annotations

from vmop.compute.models import (
    ComputeInfo,
    ComputeInspectInfo,
    CpuStatistic,
    ObjectGroupCache,
    ObjectGroupMeta,
    ObjectGroupRef,
    UsbInfo,
    VmStatistic,
)
from vmop.sim.world import Group, Vm, World


def compute_info(world: World, vm: Vm) -> ComputeInfo:
    return ComputeInfo.model_validate(_info_fields(world, vm))


def _info_fields(world: World, vm: Vm) -> dict[str, object]:
    tenant = world.tenants.get(vm.tenant)
    group = world.groups.get(vm.object_group)
    zone = world.zones.get(vm.zone)
    return {
        "uuid": vm.uuid,
        "name": vm.name,
        "tenant": vm.tenant,
        "tenant_name": tenant.name if tenant else "",
        "type": vm.type,
        "create_time": vm.create_time,
        "modify_time": vm.modify_time,
        "deleted_time": vm.deleted_time,
        "state": vm.state,
        "ga_state": vm.ga_state,
        "action": vm.action,
        "os": vm.os,
        "first_shown_ip": next((ip for nic in vm.interfaces for ip in nic.ips), ""),
        "namespace": vm.namespace,
        "machine_uuid": vm.host if vm.state != "shutoff" else "",
        "interface_ips": [ip for nic in vm.interfaces for ip in nic.ips],
        "object_group": vm.object_group,
        "object_group_name": group.name if group else "",
        "zone": vm.zone,
        "zone_name": zone.name if zone else "",
        "statistic": VmStatistic(cpu=CpuStatistic(logical=vm.cpu_current), mem=CpuStatistic(logical=vm.mem_size)),
        "interface": vm.interfaces,
        "virt_nested_enable": bool(vm.meta.get("virt_nested_enable", False)),
        "cluster_uuid": vm.cluster_uuid,
        "cluster_name": world.clusters.get(vm.cluster_uuid, ""),
    }


SPICE_VMC_PRODUCT = "控制台USB重定向接口"  # the doc's inspect example


def inspect_info(world: World, vm: Vm) -> ComputeInspectInfo:
    fields = _info_fields(world, vm)
    fields.update(
        mem_size=vm.mem_size,
        mem_max=vm.mem_max,
        compute_name=vm.name,
        ha_mode=vm.meta.get("ha_mode", "on"),
        os_loader_path=vm.meta.get("os_loader_path", "BIOS"),
        video=vm.video,
        baseline=vm.baseline,
        migrate_dest=vm.migration.destination_host if vm.migration else "",
        cpu_current=vm.cpu_current,
        cpu_max_count=vm.cpu_max,
        cpu_sockets=vm.cpu_sockets,
        cpu_socket_cores=vm.cpu_socket_cores,
        interfaces=vm.interfaces,
        cdrom=vm.cdrom,
        disks=vm.disks,
        device_order=vm.device_order or [d.disk_target_device for d in vm.disks],
        # The doc's inspect shows vnc_enable both at the top and in meta: one value, shown twice.
        vnc_enable=bool(vm.meta.get("vnc_enable", False)),
        meta={**vm.meta, "vnc_enable": bool(vm.meta.get("vnc_enable", False))},
        floppy=vm.floppy,
        usbs=[
            UsbInfo(
                bus=u.bus,
                port=u.port,
                source_type=u.source_type,
                product_name=SPICE_VMC_PRODUCT if u.source_type == "spice_vmc" else "",
            )
            for u in vm.usbs
        ],
        pci_devices=vm.pci_devices,
        mdev_devices=vm.mdev_devices,
        cpu_reserve_enable=vm.cpu_reserve,
        memory_reserve_enable=vm.memory_reserve,
        streaming_mode=vm.streaming_mode,
        compression_mode=vm.compression_mode,
        device_name=vm.device_name,
        vnc_password=vm.vnc_password,
        spice_password=vm.spice_password,
        mem_sec_enabled=bool(vm.meta.get("mem_sec_enabled", False)),
        # The doc's inspect shows "panic": "on" for a VM made with panic_model "isa" ("isa为开启").
        panic="off" if vm.meta.get("panic_model", "isa") == "none" else "on",
    )
    return ComputeInspectInfo.model_validate(fields)


def group_depth(world: World, group: Group) -> int:
    depth = 1
    while group.parent and group.parent in world.groups:
        group = world.groups[group.parent]
        depth += 1
    return depth


def group_vms(world: World, group: Group) -> list[Vm]:
    return [vm for vm in world.vms.values() if vm.object_group == group.uuid and not vm.trashed]


def group_cache(world: World, group: Group) -> ObjectGroupCache:
    return ObjectGroupCache(
        metadata=ObjectGroupMeta(
            uuid=group.uuid,
            namespace=group.namespace,
            name=group.name,
            parent=group.parent,
            ref_count=len(group_vms(world, group)),
        ),
        children=[g.uuid for g in world.groups.values() if g.parent == group.uuid],
        refs=[ObjectGroupRef(uuid=vm.uuid, type=1) for vm in group_vms(world, group)],
        depth=group_depth(world, group),
    )
