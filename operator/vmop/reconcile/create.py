"""The create call for a VirtualMachine: unified_create (unified_import when a disk has an image),
or create/from_template."""

from __future__ import annotations

import uuid

from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.compute.models import CloudInitData, ComputeMeta, DiskVsdSource
from vmop.compute.requests import FromTemplateRequest, MediaRef, UnifiedCreateRequest, UnifiedDisk, UnifiedVsd, VmConfig
from vmop.reconcile.calls import Call
from vmop.reconcile.changes import desired_cpus, memory_bytes, nic_interface

# uuid5 namespace for VM uuids derived from Kubernetes object UIDs (create/from_template's
# assign_vm_uuid): a retried create collides with the first instead of duplicating it.
VM_UUID_NAMESPACE = uuid.UUID("2d8c4f0e-6a59-4b8e-9f0a-7c1e5d3b9a42")


def assigned_vm_uuid(object_uid: str) -> str:
    return str(uuid.uuid5(VM_UUID_NAMESPACE, object_uid))


def _config(spec: VirtualMachineSpec, name: str, group: str | None, cloud_init: CloudInitData | None) -> VmConfig:
    options = spec.meta
    meta = ComputeMeta(compute_name=name, ha_mode=spec.ha_mode).model_copy(
        update={
            k: v
            for k, v in {
                "os_loader_path": options.os_loader if options else None,
                "vnc_enable": spec.vnc_enabled(),
                "virt_nested_enable": options.nested_virtualization if options else None,
                "panic_model": options.panic_model if options else None,
                "mem_sec_enabled": options.memory_security if options else None,
            }.items()
            if v is not None
        }
    )
    disks = []
    for disk in spec.disks:
        unified = UnifiedDisk(
            disk_target_bus=disk.bus, disk_target_device=disk.device or "", disk_cache_mode=disk.cache_mode or "none"
        )
        if disk.volume:
            unified.disk_vsd_source = DiskVsdSource(volume_uuid=disk.volume)
        else:
            capacity = memory_bytes(disk.size or "0")
            unified.disk_unified_vsd = UnifiedVsd(
                pool_uuid=disk.pool or "", volume_name=f"{name}-{disk.name}", disk_capacity=capacity, capacity=capacity
            )
        if disk.image is not None:
            unified.image_uuid, unified.repository_uuid = disk.image.uuid, disk.image.repository
            unified.image_name = disk.image.name or ""
        disks.append(unified)
    return VmConfig(
        tenant=spec.tenant,
        object_group=group or "",
        zone=spec.zone or "",
        cpunr=desired_cpus(spec),
        cpu_sockets=spec.cpu.sockets,
        cpu_socket_cores=spec.cpu.cores,
        max_cpu_nr=spec.cpu.sockets * spec.cpu.cores,
        baseline=spec.cpu.baseline or "",
        mem_size=memory_bytes(spec.memory),
        type=spec.type,
        os=spec.os,
        meta=meta,
        interfaces=[nic_interface(nic, nic.mac or "") for nic in spec.interfaces],
        disks=disks,
        cdrom=MediaRef(name=spec.cdrom.image, repository_uuid=spec.cdrom.repository) if spec.cdrom else None,
        floppy=MediaRef(name=spec.floppy.image, repository_uuid=spec.floppy.repository) if spec.floppy else None,
        **({"cloud_init_data": cloud_init} if cloud_init is not None else {}),
    )


def settings_after_create(spec: VirtualMachineSpec) -> list[str]:
    """Spec fields the create cannot send and only the VM's details (inspect) show: a VM just made
    is inspected before its first start, so that these are set before it boots (those that need it
    shut off), not left for a later pass that happens to read its details."""
    console = spec.console
    fields = {
        "cpu.reserve": spec.cpu.reserve,
        "memoryReserve": spec.memory_reserve,
        "console.compression": console.compression if console else None,
        "console.streaming": console.streaming if console else None,
    }
    return [name for name, value in fields.items() if value is not None]


def create_call(
    spec: VirtualMachineSpec, *, name: str, group: str | None, object_uid: str, cloud_init: CloudInitData | None = None
) -> Call:
    """``cloud_init``: the data of spec.cloudInit's Secret (sent with the create: cloud_init_data)."""
    config = _config(spec, name, group, cloud_init)
    if spec.template is not None:
        request = FromTemplateRequest(
            cluster_uuid=spec.cluster,
            tenant=spec.tenant,
            vm_template_id=spec.template.uuid,
            vm_config_override=config,
            object_group=group or "",
            assign_vm_uuid=assigned_vm_uuid(object_uid),
            link=spec.template.linked_clone,
            snapshot=spec.template.snapshot or "",
            component_cache=spec.template.component_cache,
            baseline=spec.cpu.baseline or "",
        )
        return Call("create/from_template", request, f"create {name} from template {spec.template.uuid}")
    unified = UnifiedCreateRequest(cluster_uuid=spec.cluster, **config.model_dump(exclude_unset=True))
    if any(disk.image is not None for disk in spec.disks):  # images are imported only by unified_import
        return Call("unified_import", unified, f"create {name} and import its image")
    return Call("unified_create", unified, f"create {name}")
