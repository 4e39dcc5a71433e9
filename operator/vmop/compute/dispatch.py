"""Perform a planned call by its operation name with the client's typed method."""

from __future__ import annotations

from typing import Any

from vmop.compute.batching import Batcher
from vmop.compute.client import BatchResults, ComputeClient
from vmop.compute.errors import ComputeProtocolError
from vmop.compute.models import ComputeIdentifier, CreateResult, RequestModel
from vmop.compute.requests import (
    BalloonSetRequest,
    BootOrderSetRequest,
    CdromAttachRequest,
    CloudInitSetRequest,
    CpuReserveRequest,
    CrossClusterMigrateRequest,
    DeleteRequest,
    DiskAttachRequest,
    DiskDetachRequest,
    FloppyAttachRequest,
    FromTemplateRequest,
    GraphicsPasswordSetRequest,
    GroupCreateRequest,
    GroupMoveRequest,
    GroupRef,
    GroupUpdateRequest,
    InterfaceAttachRequest,
    InterfaceDetachRequest,
    InterfaceSetQosRequest,
    IpMacBindRequest,
    MdevDeviceRequest,
    MemoryReserveRequest,
    MetaSetRequest,
    MigrateRequest,
    ModifyNetworkRequest,
    PciDeviceRequest,
    StartRequest,
    UnifiedCreateRequest,
    UsbAttachRequest,
    UsbDetachRequest,
    VcpuSetRequest,
    VgpuSetRequest,
    VmemorySetRequest,
)

POWER = ("start", "shutdown", "shutoff", "reboot", "reboot_ga", "reset", "suspend", "resume", "save", "restore")


def _vm(request: RequestModel) -> ComputeIdentifier:
    assert isinstance(request, ComputeIdentifier)
    return ComputeIdentifier.of(request)


def _single(results: BatchResults[CreateResult]) -> CreateResult:
    if results.failures:
        raise results.failures[0]
    made = results.succeeded()
    if not made:
        raise ComputeProtocolError("create", "the platform reported no created VM")
    return made[0]


def _all_attached(results: BatchResults[Any]) -> None:
    """usb/attach answers per device (BatchOutput): one that failed fails the call."""
    if results.failures:
        raise results.failures[0]


async def perform(client: ComputeClient, operation: str, request: RequestModel, batcher: Batcher | None = None) -> Any:
    """Run one call; returns what the endpoint returns (a CreateResult for creates). With a
    ``batcher``, starts, shutdowns and deletes may share a batch call with others made meanwhile."""
    if batcher is not None and batcher.takes(operation, request):
        assert isinstance(request, ComputeIdentifier)
        return await batcher.submit(operation, request)
    if operation == "start" and isinstance(request, StartRequest):
        return await client.start(_vm(request), cloud_init=request.cloud_init)
    if operation in POWER:
        return await getattr(client, operation)(_vm(request))
    match operation, request:
        case "unified_create", UnifiedCreateRequest():
            return _single(await client.unified_create(request))
        case "unified_import", UnifiedCreateRequest():
            return _single(await client.unified_import(request))
        case "create/from_template", FromTemplateRequest():
            return _single(await client.create_from_template(request))
        case "delete", DeleteRequest():
            return await client.delete(request)
        case "vcpu/set", VcpuSetRequest():
            return await client.set_vcpu(request)
        case "vmemory/set", VmemorySetRequest():
            return await client.set_memory(_vm(request), request.vmemory)
        case "meta/set", MetaSetRequest():
            return await client.set_meta(request)
        case "bootorder/set", BootOrderSetRequest():
            return await client.set_boot_order(_vm(request), request.device_order)
        case "disk/attach", DiskAttachRequest():
            return await client.attach_disk(request)
        case "disk/detach", DiskDetachRequest():
            return await client.detach_disk(_vm(request), request.target_device)
        case "interface/attach", InterfaceAttachRequest():
            return await client.attach_interface(request)
        case "interface/detach", InterfaceDetachRequest():
            return await client.detach_interface(_vm(request), request.mac_address)
        case "interface/setqos", InterfaceSetQosRequest():
            return await client.set_interface_qos(
                _vm(request), request.mac_address, in_bound=request.in_bount, out_bound=request.out_bount
            )
        case "floppy/attach", FloppyAttachRequest():
            return await client.attach_floppy(_vm(request), request.source_network_name, request.repository_uuid)
        case "floppy/detach", ComputeIdentifier():
            return await client.detach_floppy(_vm(request))
        case "usb/attach", UsbAttachRequest():
            return _all_attached(await client.attach_usb(_vm(request), request.usb))
        case "usb/detach", UsbDetachRequest():
            return await client.detach_usb(_vm(request), request.target_bus, request.target_port)
        case "pci/attach", PciDeviceRequest():
            return await client.attach_pci(_vm(request), request.pci_device)
        case "pci/detach", PciDeviceRequest():
            return await client.detach_pci(_vm(request), request.pci_device)
        case "mdev/attach", MdevDeviceRequest():
            return await client.attach_mdev(_vm(request), request.mdev_device)
        case "mdev/detach", MdevDeviceRequest():
            return await client.detach_mdev(_vm(request), request.mdev_device.src_address_uuid)
        case "cpu/reserve", CpuReserveRequest():
            return await client.set_cpu_reserve(_vm(request), request.cpu_reserve_enable)
        case "memory/reserve", MemoryReserveRequest() if request.memory_reserve_enable is not None:
            return await client.set_memory_reserve(_vm(request), request.memory_reserve_enable)
        case "vgpu/set", VgpuSetRequest():
            return await client.set_graphics(_vm(request), compression=request.compression, streaming=request.mode)
        case "balloon/set", BalloonSetRequest() if request.memory is not None:
            return await client.set_balloon(_vm(request), request.memory)
        case "ip_mac_bind/update", IpMacBindRequest():
            return await client.update_ip_mac_bind(
                _vm(request), request.interface_id, request.mac_address, bound_ip=request.bound_ip, peer=request.peer
            )
        case "modify/network", ModifyNetworkRequest():
            return await client.modify_network(
                _vm(request),
                request.mac_address,
                interface_type=request.interface_type,
                port_group=request.port_group,
                vlan_tag_ids=request.vlan_tag_ids,
            )
        case "cloud_init/set", CloudInitSetRequest():
            return await client.set_cloud_init(_vm(request), request.cloud_init_data)
        case "graphics/password/set", GraphicsPasswordSetRequest():
            return await client.set_graphics_password(
                _vm(request), vnc=request.vnc_password, spice=request.spice_password
            )
        case "cdrom/attach", CdromAttachRequest():
            return await client.attach_cdrom(_vm(request), request.source_network_name, request.repository_uuid)
        case "cdrom/detach", ComputeIdentifier():
            return await client.detach_cdrom(_vm(request))
        case "migrate", MigrateRequest():
            return await client.migrate(_vm(request), request.destination)
        case "migrate/abort", ComputeIdentifier():
            return await client.migrate_abort(_vm(request))
        case "cross_cluster_migrate", CrossClusterMigrateRequest():
            return await client.cross_cluster_migrate(request)
        case "cross_cluster_cancel", ComputeIdentifier():
            return await client.cross_cluster_cancel(_vm(request))
        case "group/create", GroupCreateRequest():
            return await client.group_create(request)
        case "group/update", GroupUpdateRequest():
            return await client.group_update(request)
        case "group/move", GroupMoveRequest():
            return await client.group_move(request)
        case "group/delete", GroupRef():
            return await client.group_delete(request)
        case "cross_cluster_pregress", ComputeIdentifier():
            return await client.cross_cluster_progress(_vm(request))
    raise ValueError(f"no client method for {operation} with {type(request).__name__}")
