"""Shape and devices: vcpu/set, vmemory/set, meta/set, bootorder/set, disks, interfaces (and
their network, MAC and IP binding changed in place), cdrom, floppy, balloon, CPU and memory
reservations. Passed-through host devices: sim/passthrough.py."""

from __future__ import annotations

import ipaddress
import re
import uuid as uuidlib

from vmop.compute.models import Disk, DiskVsdSource, Interface
from vmop.compute.requests import (
    BalloonSetRequest,
    BootOrderSetRequest,
    CdromAttachRequest,
    CpuReserveRequest,
    DiskAttachRequest,
    DiskUpdateRequest,
    InterfaceAttachRequest,
    InterfaceMacUpdateRequest,
    InterfaceSetQosRequest,
    IpMacBindRequest,
    MemoryReserveRequest,
    MetaSetRequest,
    ModifyNetworkRequest,
    VcpuSetRequest,
    VmemorySetRequest,
)
from vmop.compute.rules import (
    BUSY_ACTIONS,
    CACHE_MODES_FORCING_VIRTIO,
    DEVICE_PATTERN,
    HOT_DETACH_BUSES,
    MEMORY_MAX_BYTES,
    bus_of_device,
    device_matches_bus,
    devices_for_bus,
    os_family,
)
from vmop.compute.scodes import Scode
from vmop.sim.errors import SimError
from vmop.sim.platform import MAC_PATTERN, Platform, require, require_idle
from vmop.sim.world import Vm

ON_OR_OFF = ("running", "shutoff")
BOOT_DEVICE = re.compile(rf"{DEVICE_PATTERN}|^(hdd|fd[ab])$|^usb\d+-\d+$")


def set_vcpu(p: Platform, vm: Vm, req: VcpuSetRequest) -> None:
    sockets, cores = vm.cpu_sockets, vm.cpu_socket_cores
    if req.cpu_sockets is not None or req.cpu_socket_cores is not None or req.cpu_max is not None:
        require(vm, "vcpu/set (max, sockets or cores)", states=("shutoff",))
    if req.cpu_sockets is not None or req.cpu_socket_cores is not None:
        sockets = req.cpu_sockets or sockets
        cores = req.cpu_socket_cores or cores
        if req.cpu_max is not None and req.cpu_max != sockets * cores:
            raise SimError(
                Scode.CPU_INVALID,
                f"cpu_sockets*cpu_socket_cores={sockets * cores} conflicts with cpu_max={req.cpu_max}",
            )
    elif req.cpu_max is not None:
        if req.cpu_max % sockets:
            raise SimError(Scode.CPU_INVALID, f"cpu_max={req.cpu_max} is not a multiple of cpu_sockets={sockets}")
        cores = req.cpu_max // sockets
    current = req.cpu_current if req.cpu_current is not None else vm.cpu_current
    if current > sockets * cores:
        raise SimError(Scode.CPU_INVALID, f"cpu_current={current} exceeds cpu_max={sockets * cores}")
    if req.cpu_current is not None:
        require(vm, "vcpu/set (current)", states=ON_OR_OFF)
        if vm.state == "running" and current < vm.cpu_current:
            raise SimError(
                Scode.VM_STATE_INVALID, f"cpu_current can only be raised while running ({vm.cpu_current} -> {current})"
            )
    vm.cpu_sockets, vm.cpu_socket_cores, vm.cpu_current = sockets, cores, current


def set_memory(p: Platform, vm: Vm, req: VmemorySetRequest) -> None:
    if req.vmemory > MEMORY_MAX_BYTES:
        raise SimError(Scode.MEMORY_INVALID, f"vmemory={req.vmemory} exceeds 256G")
    require(vm, "vmemory/set", states=ON_OR_OFF)
    if vm.state == "running" and req.vmemory < vm.mem_size:
        raise SimError(
            Scode.VM_STATE_INVALID, f"memory can only be hot-added while running ({vm.mem_size} -> {req.vmemory})"
        )
    vm.mem_size = req.vmemory


def set_meta(p: Platform, vm: Vm, req: MetaSetRequest) -> None:
    require_idle(vm, "meta/set")
    if req.os is not None and os_family(req.os) != os_family(vm.os) and vm.state != "shutoff":
        raise SimError(Scode.VM_STATE_INVALID, f"changing os family ({vm.os} -> {req.os}) needs the vm shut off")
    if req.object_group is not None:
        p.group(req.object_group, vm.cluster_uuid, vm.tenant)
    if req.meta is not None:
        changes = req.meta.model_dump(exclude_unset=True, mode="json")
        if changes.get("ha_mode", "off") != "off" and vm.passthrough:
            raise SimError(
                Scode.PASSTHROUGH_HA_CONFLICT, f"meta/set: vm {vm.uuid} has passthrough devices; HA stays off"
            )
        if changes.get("compute_name"):
            vm.name = changes["compute_name"]
        vm.meta.update(changes)
    if req.virt_nested_enable is not None:  # meta/set takes it at the top as well as in meta
        vm.meta["virt_nested_enable"] = req.virt_nested_enable
    for name in ("os", "object_group", "baseline"):
        value = getattr(req, name)
        if value is not None:
            setattr(vm, name, value)


def set_boot_order(p: Platform, vm: Vm, req: BootOrderSetRequest) -> None:
    for device in req.device_order:
        if not (BOOT_DEVICE.match(device) or MAC_PATTERN.match(device)):
            raise SimError(
                Scode.INVALID_PARAMETER,
                f"device_order entry {device!r}: disks by device, NICs by lower-case mac, usb as usbN-M",
            )
    vm.device_order = list(req.device_order)


def _assign_device(vm: Vm, device: str, bus: str, operation: str) -> tuple[str, str]:
    """Validate or pick a device name for a bus, as the platform does."""
    if device:
        implied = bus_of_device(device)
        if implied is None or (bus and not device_matches_bus(device, bus)):
            raise SimError(Scode.DISK_DEVICE_INVALID, f"{operation}: device {device!r} does not fit bus {bus!r}")
        if device == vm.cloud_init_device or any(d.disk_target_device == device for d in vm.disks):
            raise SimError(Scode.DISK_DEVICE_IN_USE, f"{operation}: device {device} is in use")
        return device, bus or implied
    if bus not in ("ide", "scsi", "virtio", "sata"):
        raise SimError(Scode.INVALID_PARAMETER, f"{operation}: target_device or a valid target_bus is required")
    used = {d.disk_target_device for d in vm.disks} | {vm.cloud_init_device}
    free = [d for d in devices_for_bus(bus) if d not in used]
    if not free:
        raise SimError(Scode.DISK_DEVICE_INVALID, f"{operation}: no free device left on bus {bus}")
    return free[0], bus


def _claim_volume(p: Platform, vm: Vm, volume_uuid: str, operation: str) -> DiskVsdSource:
    volume = p.world.volumes.get(volume_uuid)
    if volume is None or volume.trashed or volume.cluster_uuid != vm.cluster_uuid:
        raise SimError(Scode.DISK_SOURCE_INVALID, f"{operation}: volume {volume_uuid!r} does not exist")
    if volume.vm_uuid and volume.vm_uuid != vm.uuid:
        raise SimError(Scode.DISK_SOURCE_INVALID, f"{operation}: volume {volume_uuid} is used by vm {volume.vm_uuid}")
    volume.vm_uuid = vm.uuid
    return DiskVsdSource(
        volume_uuid=volume.uuid, volume_name=volume.name, disk_capacity=volume.capacity, pool_uuid=volume.pool_uuid
    )


def attach_disk(p: Platform, vm: Vm, req: DiskAttachRequest) -> None:
    require(vm, "disk/attach", states=ON_OR_OFF)
    if not req.target_device and not req.target_bus:
        raise SimError(Scode.INVALID_PARAMETER, "disk/attach: target_device or target_bus is required")
    sources = req.sources()
    if len(sources) != 1:
        raise SimError(Scode.INVALID_PARAMETER, f"disk/attach: exactly one source is required, got {len(sources)}")
    bus = req.target_bus
    device = req.target_device
    if req.disk_cache_mode in CACHE_MODES_FORCING_VIRTIO and (bus == "scsi" or device.startswith("sd")):
        bus, device = "virtio", ""  # the platform switches scsi to virtio for these cache modes
    device, bus = _assign_device(vm, device, bus, "disk/attach")
    disk = Disk(disk_target_device=device, disk_target_bus=bus, disk_cache_mode=req.disk_cache_mode or "none")
    if req.disk_source_passthrough is not None:
        passthrough = req.disk_source_passthrough
        if not passthrough.disk_id or passthrough.host_uuid not in p.world.hosts:
            raise SimError(Scode.DISK_SOURCE_INVALID, "disk/attach: passthrough needs disk_id and a known host_uuid")
        disk.disk_source_passthrough = passthrough
    else:
        volume_uuid = str(getattr(sources[0], "volume_uuid", ""))
        disk.disk_vsd_source = _claim_volume(p, vm, volume_uuid, "disk/attach")
    vm.disks.append(disk)


def _disk(vm: Vm, device: str, operation: str) -> Disk:
    for disk in vm.disks:
        if disk.disk_target_device == device:
            return disk
    raise SimError(Scode.DISK_NOT_FOUND, f"{operation}: vm {vm.uuid} has no disk {device!r}")


def update_disk(p: Platform, vm: Vm, req: DiskUpdateRequest) -> None:
    require(vm, "disk/update", states=ON_OR_OFF)
    disk = _disk(vm, req.old_disk.disk_target_device, "disk/update")
    new = req.new_disk
    if new.disk_target_device or (new.disk_target_bus and new.disk_target_bus != disk.disk_target_bus):
        others = [d for d in vm.disks if d is not disk]
        probe = Vm(vm.uuid, vm.name, vm.cluster_uuid, vm.tenant, vm.namespace, disks=others)
        disk.disk_target_device, disk.disk_target_bus = _assign_device(
            probe, new.disk_target_device, new.disk_target_bus, "disk/update"
        )
    if new.disk_cache_mode:
        disk.disk_cache_mode = new.disk_cache_mode
    if new.volume_uuid() and new.volume_uuid() != disk.volume_uuid():
        source = _claim_volume(p, vm, new.volume_uuid(), "disk/update")
        old = p.world.volumes.get(disk.volume_uuid())
        if old is not None:
            old.vm_uuid = ""
        disk.disk_vsd_source = source


def detach_disk(p: Platform, vm: Vm, device: str) -> None:
    require(vm, "disk/detach", states=ON_OR_OFF)
    disk = _disk(vm, device, "disk/detach")
    if vm.state == "running" and disk.disk_target_bus not in HOT_DETACH_BUSES:
        raise SimError(
            Scode.DISK_HOT_DETACH_UNSUPPORTED,
            f"disk/detach: {device} is on {disk.disk_target_bus}; shut the vm off first",
        )
    vm.disks.remove(disk)
    volume = p.world.volumes.get(disk.volume_uuid())
    if volume is not None:
        volume.vm_uuid = ""


def _free_mac(p: Platform, cluster_uuid: str, mac: str, operation: str) -> str:
    """A MAC a NIC may take: well-formed and unused in the cluster (the doc: unique in it)."""
    mac = mac.lower()
    if not MAC_PATTERN.match(mac):
        raise SimError(Scode.INVALID_PARAMETER, f"{operation}: mac_address {mac!r} is not a MAC")
    if any(i.mac_address == mac for v in p.world.vms.values() if v.cluster_uuid == cluster_uuid for i in v.interfaces):
        raise SimError(Scode.INVALID_PARAMETER, f"{operation}: mac_address {mac} is used in the cluster")
    return mac


def new_interface(p: Platform, cluster_uuid: str, spec: Interface, operation: str) -> Interface:
    """Validate a NIC against the seeded networks and give it an id and a MAC."""
    if spec.interface_type != "internal":
        port_group = p.world.port_groups.get(spec.port_group)
        if port_group is None or port_group.cluster_uuid != cluster_uuid:
            raise SimError(Scode.INVALID_PARAMETER, f"{operation}: port_group {spec.port_group!r} does not exist")
    mac = _free_mac(p, cluster_uuid, spec.mac_address, operation) if spec.mac_address else p.new_mac(cluster_uuid)
    fields = Interface.model_fields
    values = {name: getattr(spec, name) for name in fields}
    values.update(
        interface_id=str(uuidlib.uuid4()), mac_address=mac, interface_model_type=spec.interface_model_type or "virtio"
    )
    return Interface(**values)


def attach_interface(p: Platform, vm: Vm, req: InterfaceAttachRequest) -> Interface:
    require(vm, "interface/attach", states=ON_OR_OFF)
    nic = new_interface(p, vm.cluster_uuid, req, "interface/attach")
    vm.interfaces.append(nic)
    return Interface(
        interface_model_type=nic.interface_model_type, mac_address=nic.mac_address, interface_id=nic.interface_id
    )


def _nic(vm: Vm, mac: str, operation: str) -> Interface:
    for nic in vm.interfaces:
        if nic.mac_address == mac.lower():
            return nic
    raise SimError(Scode.INTERFACE_NOT_FOUND, f"{operation}: vm {vm.uuid} has no interface {mac}")


def detach_interface(p: Platform, vm: Vm, mac: str) -> None:
    require(vm, "interface/detach", states=ON_OR_OFF)
    vm.interfaces.remove(_nic(vm, mac, "interface/detach"))


# modify/network: "该接口要求虚拟机处于关机状态，无动作、克隆中或导入中动作".
MODIFY_NETWORK_ACTIONS = ("noaction", "cloning", "importing")


def modify_network(p: Platform, vm: Vm, req: ModifyNetworkRequest) -> None:
    """Another local network, port group or VLAN for the NIC of ``mac_address``. The doc: the port
    group's QoS then overrides the NIC's; simulated port groups have none, so the NIC keeps its own."""
    if vm.action not in MODIFY_NETWORK_ACTIONS and vm.action in BUSY_ACTIONS:
        raise SimError(Scode.VM_ACTION_IN_PROGRESS, f"modify/network: vm {vm.uuid} is {vm.action}")
    if vm.state != "shutoff" or vm.action not in MODIFY_NETWORK_ACTIONS:
        raise SimError(
            Scode.VM_STATE_INVALID,
            f"modify/network needs the vm shut off (action none, cloning or importing); vm {vm.uuid} is "
            f"state={vm.state} action={vm.action}",
        )
    nic = _nic(vm, req.mac_address, "modify/network")
    if "internal" in (nic.interface_type, req.interface_type):
        raise SimError(Scode.INTERFACE_VPC_UNSUPPORTED, "modify/network: not from or to a VPC (internal) network")
    port_group = p.world.port_groups.get(req.port_group)
    if port_group is None or port_group.cluster_uuid != vm.cluster_uuid:
        raise SimError(Scode.INVALID_PARAMETER, f"modify/network: port_group {req.port_group!r} does not exist")
    if req.interface_type and req.interface_type != port_group.network:
        raise SimError(
            Scode.INVALID_PARAMETER,
            f"modify/network: port group {port_group.name} is on {port_group.network}, not {req.interface_type}",
        )
    vlans = req.vlan_tag_ids or port_group.vlan_tag_ids
    if any(vlans) and not any(port_group.vlan_tag_ids):  # the doc: VLANs only where the port group has them
        raise SimError(Scode.INVALID_PARAMETER, f"modify/network: port group {port_group.name} has no VLAN")
    nic.interface_type, nic.port_group, nic.port_group_name = port_group.network, port_group.uuid, port_group.name
    nic.vlan_tag_ids = list(vlans)


def _renamed_in_boot_order(vm: Vm, old_mac: str, new_mac: str) -> None:
    vm.device_order = [new_mac if device == old_mac else device for device in vm.device_order]


def update_interface_mac(p: Platform, vm: Vm, req: InterfaceMacUpdateRequest) -> None:
    require(vm, "interface/mac/update", states=("shutoff",))
    nic = _nic(vm, req.old_mac_address, "interface/mac/update")
    new = _free_mac(p, vm.cluster_uuid, req.new_mac_address, "interface/mac/update")
    _renamed_in_boot_order(vm, nic.mac_address, new)
    nic.mac_address = new


def update_ip_mac_bind(p: Platform, vm: Vm, req: IpMacBindRequest) -> None:
    """The doc: running or shut off; a new MAC only shut off. peer "" keeps the binding, "mac"
    binds, anything else unbinds."""
    require(vm, "ip_mac_bind/update", states=ON_OR_OFF)
    nic = next((i for i in vm.interfaces if i.interface_id == req.interface_id), None)
    if nic is None:
        raise SimError(
            Scode.INTERFACE_NOT_FOUND, f"ip_mac_bind/update: vm {vm.uuid} has no interface {req.interface_id}"
        )
    if req.bound_ip:
        try:
            ipaddress.ip_address(req.bound_ip)
        except ValueError:
            raise SimError(Scode.INVALID_PARAMETER, f"ip_mac_bind/update: bound_ip {req.bound_ip!r}") from None
    if req.mac_address.lower() != nic.mac_address:
        require(vm, "ip_mac_bind/update (a new mac_address)", states=("shutoff",))
        new = _free_mac(p, vm.cluster_uuid, req.mac_address, "ip_mac_bind/update")
        _renamed_in_boot_order(vm, nic.mac_address, new)
        nic.mac_address = new
    nic.bound_ip = req.bound_ip
    if req.peer:
        nic.peer = "mac" if req.peer == "mac" else ""


def set_interface_qos(p: Platform, vm: Vm, req: InterfaceSetQosRequest) -> None:
    require(vm, "interface/setqos", states=ON_OR_OFF, noaction=False)
    nic = _nic(vm, req.mac_address, "interface/setqos")
    if req.in_bount is not None:
        nic.in_bount = req.in_bount
    if req.out_bount is not None:
        nic.out_bount = req.out_bount


def attach_cdrom(p: Platform, vm: Vm, req: CdromAttachRequest) -> None:
    require(vm, "cdrom/attach", states=ON_OR_OFF, noaction=False)
    if not any(
        i.name == req.source_network_name and i.repository_uuid == req.repository_uuid for i in p.world.images.values()
    ):
        raise SimError(
            Scode.DISK_SOURCE_INVALID,
            f"cdrom/attach: no image {req.source_network_name!r} in repository {req.repository_uuid}",
        )
    vm.cdrom = {"name": req.source_network_name, "repository_uuid": req.repository_uuid}


def detach_cdrom(p: Platform, vm: Vm) -> None:
    require(vm, "cdrom/detach", states=ON_OR_OFF, noaction=False)
    vm.cdrom = {}


def check_image(p: Platform, name: str, repository: str, operation: str) -> None:
    if not any(i.name == name and i.repository_uuid == repository for i in p.world.images.values()):
        raise SimError(Scode.DISK_SOURCE_INVALID, f"{operation}: no image {name!r} in repository {repository}")


def attach_floppy(p: Platform, vm: Vm, req: CdromAttachRequest) -> None:
    require(vm, "floppy/attach", states=ON_OR_OFF, noaction=False)
    check_image(p, req.source_network_name, req.repository_uuid, "floppy/attach")
    vm.floppy = {"name": req.source_network_name, "repository_uuid": req.repository_uuid}


def detach_floppy(p: Platform, vm: Vm) -> None:
    """The doc: only the image goes; the floppy drive stays."""
    require(vm, "floppy/detach", states=ON_OR_OFF, noaction=False)
    vm.floppy = {}


def set_balloon(p: Platform, vm: Vm, req: BalloonSetRequest) -> None:
    """The doc gives no state rule (``--balloon-needs-running`` plays the stricter one) and no
    bound; a balloon larger than the VM's memory is refused here. No memory: nothing changes."""
    require(vm, "balloon/set", states=("running",) if p.dialect.balloon_needs_running else ON_OR_OFF)
    if req.memory is None:
        return
    if req.memory > vm.mem_size:
        raise SimError(Scode.MEMORY_INVALID, f"balloon/set: {req.memory} exceeds the vm's memory {vm.mem_size}")
    vm.balloon = req.memory


def set_cpu_reserve(p: Platform, vm: Vm, req: CpuReserveRequest) -> None:
    require(vm, "cpu/reserve", states=ON_OR_OFF)
    vm.cpu_reserve = req.cpu_reserve_enable


def set_memory_reserve(p: Platform, vm: Vm, req: MemoryReserveRequest) -> None:
    require(vm, "memory/reserve", states=("shutoff",))
    field = p.dialect.memory_reserve_field
    value = getattr(req, field)
    if value is None:
        raise SimError(Scode.INVALID_PARAMETER, f"memory/reserve: {field} is required")
    vm.memory_reserve = value
