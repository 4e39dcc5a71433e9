"""What a VM looks like after calls succeed, so status can be written without reading it back.

Synchronous calls (start, shutoff, suspend, resume, save, restore) have taken effect when they
return, per the doc. A shape call sets what its request says: the planner makes one only to set
a field to the spec's value, so the status of the pass that made it shows the new value (memory,
vCPUs, ...) rather than the observation from before the call. An attach leaves the shape unknown
(the platform picks the device, and the MAC when none is given): the planner plans nothing more
from it in this pass, and the status shows what is known (the volume, the MAC it answered). The
doc does not say whether shape calls apply before they return; the next list or inspect corrects
anything this gets wrong.
"""

from __future__ import annotations

from dataclasses import replace

from vmop.compute.models import ComputeMeta, CreateResult, Interface
from vmop.compute.requests import (
    BootOrderSetRequest,
    CdromAttachRequest,
    DiskAttachRequest,
    DiskDetachRequest,
    FloppyAttachRequest,
    InterfaceDetachRequest,
    InterfaceSetQosRequest,
    IpMacBindRequest,
    MetaSetRequest,
    VcpuSetRequest,
    VmemorySetRequest,
)
from vmop.compute.rules import HIBERNATED_ACTION, HIBERNATED_STATE
from vmop.reconcile.calls import Call
from vmop.reconcile.changes import bound_triple
from vmop.reconcile.observed import Observed

# operation -> (state, action, agent) after it returns; None keeps what was there.
_POWER_EFFECTS: dict[str, tuple[str, str | None, str | None]] = {
    "start": ("running", "noaction", "pending"),
    "restore": ("running", "noaction", "pending"),
    "resume": ("running", None, None),
    "shutoff": ("shutoff", None, "disconnected"),
    "suspend": ("paused", None, None),
    "save": (HIBERNATED_STATE, HIBERNATED_ACTION, "disconnected"),
}


def expect_after(vm: Observed, call: Call, result: object = None) -> Observed:
    """``vm`` once ``call`` has succeeded (``result``: what the endpoint answered)."""
    effect = _POWER_EFFECTS.get(call.operation)
    if effect is not None:
        state, action, agent = effect
        return replace(vm, state=state, action=action or vm.action, agent=agent or vm.agent)
    if call.operation in ("shutdown", "reboot", "reboot_ga", "reset"):
        return vm  # asynchronous (the guest decides when), or a reboot (reset): still running
    request = call.request
    match request:
        case VmemorySetRequest():
            vm = replace(vm, memory_hint=request.vmemory)
            return _reshaped(vm, memory=request.vmemory)
        case VcpuSetRequest():
            vm = replace(vm, cpu_hint=request.cpu_current or vm.cpu_hint)
            return _reshaped(vm, **_cpu_fields(request))
        case MetaSetRequest():
            meta = request.meta or ComputeMeta()
            vm = replace(
                vm, name=meta.compute_name or vm.name, os=request.os or vm.os, group=request.object_group or vm.group
            )
            options = {"ha_mode": meta.ha_mode, "os_loader": meta.os_loader_path}
            return _reshaped(vm, **{k: v for k, v in options.items() if v})
        case BootOrderSetRequest():
            return _reshaped(vm, boot_order=tuple(request.device_order))
        case FloppyAttachRequest():  # before its base class, CdromAttachRequest
            return _reshaped(vm, floppy=request.source_network_name, floppy_repository=request.repository_uuid)
        case CdromAttachRequest():
            return _reshaped(vm, cdrom=request.source_network_name)
        case InterfaceSetQosRequest() if vm.shape is not None:
            inbound, outbound = bound_triple(request.in_bount), bound_triple(request.out_bount)
            nics = tuple(
                replace(n, inbound=inbound, outbound=outbound) if n.mac == request.mac_address else n
                for n in vm.shape.nics
            )
            return _reshaped(vm, nics=nics)
        case IpMacBindRequest() if vm.shape is not None:
            nics = tuple(
                replace(n, bound_ip=request.bound_ip) if n.interface_id == request.interface_id else n
                for n in vm.shape.nics
            )
            return _reshaped(vm, nics=nics)
        case DiskDetachRequest() if vm.shape is not None:
            return _reshaped(vm, disks=tuple(d for d in vm.shape.disks if d.device != request.target_device))
        case InterfaceDetachRequest():
            gone = request.mac_address.lower()
            vm = replace(vm, macs=tuple(m for m in vm.macs if m.lower() != gone))
            if vm.shape is None:
                return vm
            return _reshaped(vm, nics=tuple(n for n in vm.shape.nics if n.mac.lower() != gone))
        case DiskAttachRequest():
            added = (request.source_vsd.volume_uuid,) if request.source_vsd else ()
            known = vm.volumes
            return replace(vm, shape=None, volumes_hint=(*known, *added) if known is not None else None)
    if call.operation == "cloud_init/set":
        return replace(vm, cloud_init=None)  # what the platform now shows is read at the next details
    if call.operation == "cdrom/detach":
        return _reshaped(vm, cdrom="")
    if call.operation == "floppy/detach":
        return _reshaped(vm, floppy="", floppy_repository="")
    if call.operation == "interface/attach" and isinstance(result, Interface) and result.mac_address:
        return _unshaped(replace(vm, macs=(*vm.macs, result.mac_address.lower())))
    return _unshaped(vm)


def _unshaped(vm: Observed) -> Observed:
    """The shape unknown (the planner plans nothing from it); the volumes as they were."""
    return replace(vm, shape=None, volumes_hint=vm.volumes)


def _reshaped(vm: Observed, **fields: object) -> Observed:
    """The shape with these fields set, when it is known (unknown stays unknown)."""
    if vm.shape is None:
        return vm
    return replace(vm, shape=replace(vm.shape, **fields))  # type: ignore[arg-type]


def _cpu_fields(request: VcpuSetRequest) -> dict[str, int]:
    named = {
        "cpu_sockets": request.cpu_sockets,
        "cpu_cores": request.cpu_socket_cores,
        "cpu_current": request.cpu_current,
    }
    return {k: v for k, v in named.items() if v is not None}


def created(
    result: CreateResult,
    call: Call,
    *,
    cluster: str,
    tenant: str,
    os: str,
    now: float,
    cpus: int,
    memory: int,
    volumes: tuple[str, ...],
) -> Observed:
    """The VM a successful create has just made: shut off, cloning (template) or importing (image)."""
    # A template's volumes are cloned and an image is imported after the call returns.
    action = {"create/from_template": "cloning", "unified_import": "importing"}.get(call.operation, "noaction")
    return Observed(
        uuid=result.vm_uuid,
        name=result.vm_name,
        cluster=cluster,
        tenant=tenant,
        state="shutoff",
        action=action,
        agent="disconnected",
        host="",
        group=result.group,
        os=os,  # as sent
        created_at=int(now),
        macs=tuple(result.mac_addresses),
        cpu_hint=cpus,
        memory_hint=memory,
        volumes_hint=volumes,
    )
