"""The difference between the declared shape and the observed one, as calls: each marked hot (the
doc allows it while running) or cold (it needs the VM shut off)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from vmop.api.treatment import SPEC_TREATMENTS, Treatment
from vmop.api.virtualmachine import Disk, MdevDevice, Meta, NetworkInterface, UsbDevice, VirtualMachineSpec
from vmop.compute.models import ComputeIdentifier, ComputeMeta, DiskVsdSource, Interface, InterfaceBound, PCIDevice
from vmop.compute.models import MdevDevice as WireMdevDevice
from vmop.compute.requests import (
    BootOrderSetRequest,
    CdromAttachRequest,
    CpuReserveRequest,
    DiskAttachRequest,
    DiskDetachRequest,
    FloppyAttachRequest,
    InterfaceAttachRequest,
    InterfaceDetachRequest,
    InterfaceSetQosRequest,
    IpMacBindRequest,
    MdevDeviceRequest,
    MemoryReserveRequest,
    MetaSetRequest,
    ModifyNetworkRequest,
    PciDeviceRequest,
    UsbAttachment,
    UsbAttachRequest,
    UsbDetachRequest,
    VcpuSetRequest,
    VgpuSetRequest,
    VmemorySetRequest,
)
from vmop.compute.rules import CACHE_MODES_FORCING_VIRTIO, HOT_DETACH_BUSES, os_family
from vmop.reconcile.calls import Call
from vmop.reconcile.observed import (
    Observed,
    ObservedDisk,
    ObservedMdev,
    ObservedNic,
    ObservedUsb,
    Shape,
    pci_address,
)

# spec.usb's types as inspect's usbs name a device's source (sim and the doc's example: spice_vmc).
USB_SOURCE_TYPES = {"Redirect": "redirect", "PassThrough": "pass_through", "SpiceVmc": "spice_vmc"}
# Detaches of host devices go before every other change: HA may be turned on only once they are gone
# (the doc: passthrough devices and HA exclude each other), and meta/set comes first otherwise.
PASSTHROUGH_DETACHES = frozenset({"pci/detach", "mdev/detach", "usb/detach"})


@dataclass(frozen=True)
class Change:
    field: str  # what a person sees in status.pendingChanges, e.g. "cpu.sockets", "disks[data]"
    call: Call
    hot: bool
    needs_running: bool = False  # the doc allows it only while the VM runs (a usb pass-through)


@dataclass(frozen=True)
class Owned:
    """Devices vmop created or attached for this object (from status): only these are ever detached."""

    disks: dict[str, str]  # disk name -> volume uuid
    nics: dict[str, str]  # interface name -> mac
    usb: dict[str, tuple[int, int]] = field(default_factory=dict)  # usb device name -> (bus, port)
    pci: dict[str, str] = field(default_factory=dict)  # pci device name -> host PCI address
    mdev: dict[str, str] = field(default_factory=dict)  # mdev device name -> its uuid


def recover_owned(spec: VirtualMachineSpec, shape: Shape) -> Owned:
    """Which devices the create made, when the record of them was lost: a crash between the create
    call and the status write, an adoption after a restart, a restore without status. The create
    makes a volume for each disk without ``volume`` and a NIC for each interface without ``mac``, in
    spec order, so those are the VM's devices not named in the spec, in order: the mapping
    ``_after_create`` records from the create's answer. Without it, a NIC would be attached twice."""
    named_volumes = {disk.volume for disk in spec.disks if disk.volume}
    made_volumes = iter(d.volume for d in shape.disks if d.volume and d.volume not in named_volumes)
    disks = {disk.name: disk.volume or next(made_volumes, "") for disk in spec.disks}
    named_macs = {nic.mac.lower() for nic in spec.interfaces if nic.mac}
    made_macs = iter(n.mac for n in shape.nics if n.mac and n.mac.lower() not in named_macs)
    nics = {nic.name: nic.mac or next(made_macs, "") for nic in spec.interfaces}
    owned = Owned({k: v for k, v in disks.items() if v}, {k: v for k, v in nics.items() if v}, matched_usb(spec, shape))
    return held_passthrough(spec, shape, owned)


def matched_usb(spec: VirtualMachineSpec, shape: Shape) -> dict[str, tuple[int, int]]:
    """The spec's usb devices the VM has at their bus and port, of their type."""
    present = {(u.bus, u.port): u.source_type for u in shape.usbs}
    return {d.name: (d.bus, d.port) for d in spec.usb if present.get((d.bus, d.port)) == USB_SOURCE_TYPES[d.type]}


def match_adopted(spec: VirtualMachineSpec, shape: Shape) -> Owned:
    """Which of an adopted VM's devices each spec disk and NIC is, when the spec names no volume
    or MAC: a disk is the one disk of its bus (and device and size, when given) — several alike
    are ambiguous and stay unmatched, reported, never attached; a NIC is the next one, in order, on
    its network and port group (and VLANs, when given). Only what matches nothing is missing."""
    free_disks = [d for d in shape.disks if d.volume and d.volume not in {disk.volume for disk in spec.disks}]
    disks: dict[str, str] = {}
    for disk in spec.disks:
        if disk.volume:
            disks[disk.name] = disk.volume
            continue
        size = memory_bytes(disk.size) if disk.size else None
        alike = [
            d
            for d in free_disks
            if d.bus == disk.bus and disk.device in (None, d.device) and size in (None, d.capacity)
        ]
        if len(alike) == 1:
            disks[disk.name] = alike[0].volume
            free_disks.remove(alike[0])
    free_nics = [n for n in shape.nics if n.mac.lower() not in {(nic.mac or "").lower() for nic in spec.interfaces}]
    nics: dict[str, str] = {}
    for nic in spec.interfaces:
        if nic.mac:
            nics[nic.name] = nic.mac.lower()
            continue
        same = next(
            (
                n
                for n in free_nics
                if n.network == nic.network
                and (nic.port_group or n.port_group) == n.port_group
                and (not nic.vlan_ids or tuple(nic.vlan_ids) == n.vlan_ids)
            ),
            None,
        )
        if same is not None:
            nics[nic.name] = same.mac
            free_nics.remove(same)
    return held_passthrough(spec, shape, Owned(disks, nics, matched_usb(spec, shape)))


def held_passthrough(spec: VirtualMachineSpec, shape: Shape, owned: Owned) -> Owned:
    """Which PCI and mdev devices are this object's: each declared one the VM has (by address or
    uuid), and those vmop attached that the spec no longer names and the VM still has (to be
    detached, each once); a record of a device the VM no longer has and the spec does not name is
    dropped."""
    return replace(
        owned,
        pci=_held({d.name: d.address for d in spec.pci}, owned.pci, set(shape.pci)),
        mdev=_held({d.name: d.uuid for d in spec.mdev}, owned.mdev, {m.uuid for m in shape.mdevs}),
    )


def _held(declared: dict[str, str], recorded: dict[str, str], present: set[str]) -> dict[str, str]:
    held = {name: key for name, key in declared.items() if key in present}
    for name, key in recorded.items():
        if key in present and key not in held.values():
            held[name] = key
    return held


def memory_bytes(quantity: str) -> int:
    return int(parse_quantity(quantity))  # type: ignore[no-untyped-call]


def desired_cpus(spec: VirtualMachineSpec) -> int:
    return spec.cpu.current or spec.cpu.sockets * spec.cpu.cores


def _cpu(spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier) -> list[Change]:
    current = desired_cpus(spec)
    if (spec.cpu.sockets, spec.cpu.cores) != (shape.cpu_sockets, shape.cpu_cores):
        request = VcpuSetRequest(
            **vm.model_dump(), cpu_sockets=spec.cpu.sockets, cpu_socket_cores=spec.cpu.cores, cpu_current=current
        )
        reason = f"cpu {shape.cpu_sockets}x{shape.cpu_cores} -> {spec.cpu.sockets}x{spec.cpu.cores}"
        return [Change("cpu.topology", Call("vcpu/set", request, reason), hot=False)]
    if current != shape.cpu_current:
        request = VcpuSetRequest(**vm.model_dump(), cpu_current=current)
        reason = f"cpu.current {shape.cpu_current} -> {current}"
        return [Change("cpu.current", Call("vcpu/set", request, reason), hot=current > shape.cpu_current)]
    return []


def _memory(spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier) -> list[Change]:
    wanted = memory_bytes(spec.memory)
    if wanted == shape.memory:
        return []
    call = Call("vmemory/set", VmemorySetRequest(**vm.model_dump(), vmemory=wanted), f"memory -> {spec.memory}")
    return [Change("memory", call, hot=wanted > shape.memory)]


def _reservations(spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier) -> list[Change]:
    """cpu/reserve (running or shut off) and memory/reserve (shut off only), each when the spec sets
    it and the platform shows another value (one it does not report is not compared)."""
    changes = []
    wanted, seen = spec.cpu.reserve, shape.cpu_reserve
    if wanted is not None and seen is not None and wanted != seen:
        request = CpuReserveRequest(**vm.model_dump(), cpu_reserve_enable=wanted)
        changes.append(Change("cpu.reserve", Call("cpu/reserve", request, f"cpu.reserve {seen} -> {wanted}"), hot=True))
    wanted, seen = spec.memory_reserve, shape.memory_reserve
    if wanted is not None and seen is not None and wanted != seen:
        # Both names the doc gives for the field (requests.MemoryReserveRequest).
        reserve = MemoryReserveRequest(**vm.model_dump(), memory_reserve_enable=wanted, cpu_reserve_enable=wanted)
        call = Call("memory/reserve", reserve, f"memoryReserve {seen} -> {wanted}")
        changes.append(Change("memoryReserve", call, hot=False))
    return changes


def _graphics(spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier) -> list[Change]:
    """vgpu/set, shut off (the doc): spice image compression and streaming, one call each (a field
    left out is not changed), when the spec sets it and the platform shows another."""
    console = spec.console
    if console is None:
        return []
    wanted: dict[str, Any] = {"compression": console.compression, "mode": console.streaming}
    seen = {"compression": shape.compression, "mode": shape.streaming}
    changes = []
    for parameter, path in (("compression", "console.compression"), ("mode", "console.streaming")):
        value = wanted[parameter]
        if value is not None and seen[parameter] and value != seen[parameter]:
            request = VgpuSetRequest.model_validate({**vm.model_dump(), parameter: value})
            reason = f"{path} {seen[parameter]} -> {value}"
            changes.append(Change(path, Call("vgpu/set", request, reason), hot=False))
    return changes


def _detaches(shape: Shape, vm: ComputeIdentifier, owned: Owned, wanted_volumes: set[str]) -> dict[str, Change]:
    """Disks vmop attached that the spec no longer lists (only these are ever detached), by device."""
    attached = {d.volume: d for d in shape.disks if d.volume}
    changes = {}
    for name, volume in owned.disks.items():
        current = attached.get(volume)
        if current is None or volume in wanted_volumes:
            continue
        detach = DiskDetachRequest(**vm.model_dump(), target_device=current.device)
        call = Call("disk/detach", detach, f"detach disk {name} ({current.device})", owner=name)
        changes[current.device] = Change(f"disks[{name}]", call, hot=current.bus in HOT_DETACH_BUSES)
    return changes


def platform_bus(bus: str, cache_mode: str | None) -> str:
    """The bus the platform gives a disk declared on ``bus`` (disk/attach: writeback or
    writethrough on scsi is switched to virtio)."""
    return "virtio" if bus == "scsi" and cache_mode in CACHE_MODES_FORCING_VIRTIO else bus


def _disks(
    spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier, owned: Owned
) -> tuple[list[Change], list[str]]:
    """Detaches first: an attach may need the device a detach frees, and then waits with it.
    Attaches to a named device go before those the platform assigns one to, which could pick it."""
    unsupported: list[str] = []
    attached = {d.volume: d for d in shape.disks if d.volume}
    wanted_volumes = {disk.volume or owned.disks.get(disk.name, "") for disk in spec.disks}
    detaches = _detaches(shape, vm, owned, wanted_volumes)
    in_use = {d.device for d in shape.disks}
    named: list[Change] = []
    assigned: list[Change] = []
    for disk in spec.disks:
        volume = disk.volume or owned.disks.get(disk.name, "")
        if volume and volume in attached:
            unsupported += _attached_disk(disk, attached[volume])
            continue
        if not volume:
            unsupported.append(
                f"disks[{disk.name}]: no disk of the VM is this one (an adopted VM's disk is matched by bus, "
                "device and size, and only when one alone matches), and the compute API creates new volumes "
                "only with the VM: name an existing volume"
            )
            continue
        if disk.device in in_use and disk.device not in detaches:
            unsupported.append(f"disks[{disk.name}]: device {disk.device} is used by another disk of the VM")
            continue
        request = DiskAttachRequest(
            **vm.model_dump(),
            target_device=disk.device or "",
            target_bus=disk.bus,
            disk_cache_mode=disk.cache_mode or "",
            source_vsd=DiskVsdSource(volume_uuid=volume),
        )
        freeing = detaches.get(disk.device or "")
        hot = freeing.hot if freeing else True  # after the detach that frees its device, hot or cold alike
        change = Change(
            f"disks[{disk.name}]", Call("disk/attach", request, f"attach disk {disk.name}", owner=disk.name), hot
        )
        (named if disk.device else assigned).append(change)
    return [*detaches.values(), *named, *assigned], unsupported


def _attached_disk(disk: Disk, seen: ObservedDisk) -> list[str]:
    """What of an attached disk's declaration it does not have, and vmop cannot give it: said, never
    "in sync" (disk/update, which could change bus, device and cache mode, is not used yet)."""
    found = []
    again = "detach it and attach it again under another name"
    if seen.bus and seen.bus != platform_bus(disk.bus, disk.cache_mode):
        found.append(f"disks[{disk.name}]: bus {seen.bus} -> {disk.bus}: an attached disk's bus cannot change; {again}")
    if disk.device and seen.device and seen.device != disk.device:
        found.append(
            f"disks[{disk.name}]: device {seen.device} -> {disk.device}: an attached disk's device cannot change; "
            f"{again}"
        )
    if disk.cache_mode and seen.cache_mode and seen.cache_mode != disk.cache_mode:
        found.append(
            f"disks[{disk.name}]: cacheMode {seen.cache_mode} -> {disk.cache_mode}: an attached disk's cache mode "
            f"cannot change; {again}"
        )
    if disk.size and seen.capacity and seen.capacity != memory_bytes(disk.size):
        found.append(
            f"disks[{disk.name}]: size {disk.size}, but the volume has {seen.capacity} bytes: the compute API "
            "cannot resize a volume"
        )
    return found


def bound_triple(bandwidth: object) -> tuple[int, int, int]:
    if bandwidth is None:
        return (0, 0, 0)
    return (bandwidth.average, bandwidth.peak, bandwidth.burst)  # type: ignore[attr-defined]


def _qos(nic: NetworkInterface) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    qos = nic.qos
    return (bound_triple(qos.inbound), bound_triple(qos.outbound)) if qos else ((0, 0, 0), (0, 0, 0))


def nic_interface(nic: NetworkInterface, mac: str = "") -> Interface:
    """A spec NIC as the platform's Interface."""
    inbound, outbound = _qos(nic)
    return Interface(
        interface_model_type=nic.model,
        interface_type=nic.network,
        port_group=nic.port_group or "",
        vlan_tag_ids=nic.vlan_ids or [],
        mac_address=mac,
        bound_ip=nic.bound_ip or "",
        switch_uuid=nic.switch or "",
        in_bount=InterfaceBound(average=inbound[0], peak=inbound[1], burst=inbound[2]),
        out_bount=InterfaceBound(average=outbound[0], peak=outbound[1], burst=outbound[2]),
    )


def _nics(
    spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier, owned: Owned
) -> tuple[list[Change], list[str]]:
    changes: list[Change] = []
    unsupported: list[str] = []
    present: dict[str, ObservedNic] = {n.mac: n for n in shape.nics}
    wanted_macs = set()
    for nic in spec.interfaces:
        mac = nic.mac or owned.nics.get(nic.name, "")
        wanted_macs.add(mac)
        seen = present.get(mac) if mac else None
        if seen is None:
            request = InterfaceAttachRequest(
                **vm.model_dump(), **nic_interface(nic, mac).model_dump(exclude_unset=True)
            )
            call = Call("interface/attach", request, f"attach interface {nic.name}", owner=nic.name)
            changes.append(Change(f"interfaces[{nic.name}]", call, hot=True))
            continue
        unsupported += _attached_nic(nic, seen)
        changes += _moved_nic(nic, seen, vm)
        changes += _rebound_nic(nic, seen, vm)
        inbound, outbound = _qos(nic)
        if (seen.inbound, seen.outbound) != (inbound, outbound):
            qos = InterfaceSetQosRequest(
                **vm.model_dump(),
                mac_address=mac,
                in_bount=InterfaceBound(average=inbound[0], peak=inbound[1], burst=inbound[2]),
                out_bount=InterfaceBound(average=outbound[0], peak=outbound[1], burst=outbound[2]),
            )
            changes.append(Change(f"interfaces[{nic.name}].qos", Call("interface/setqos", qos, "qos"), hot=True))
    for name, mac in owned.nics.items():
        if mac in present and mac not in wanted_macs:
            detach_nic = InterfaceDetachRequest(**vm.model_dump(), mac_address=mac)
            changes.append(
                Change(f"interfaces[{name}]", Call("interface/detach", detach_nic, f"detach {name}", owner=name), True)
            )
    return changes, unsupported


def _network_differs(nic: NetworkInterface, seen: ObservedNic) -> bool:
    """Network, port group or VLANs (those only when the spec names them) differ."""
    moved = (seen.network, seen.port_group) != (nic.network, nic.port_group or seen.port_group)
    return moved or bool(nic.vlan_ids and list(seen.vlan_ids) != nic.vlan_ids)


def _moved_nic(nic: NetworkInterface, seen: ObservedNic, vm: ComputeIdentifier) -> list[Change]:
    """modify/network, shut off (the doc), for a NIC on another local network, port group or VLAN."""
    if not _network_differs(nic, seen) or "internal" in (seen.network, nic.network):
        return []
    request = ModifyNetworkRequest(
        **vm.model_dump(),
        mac_address=seen.mac,
        interface_type=nic.network,
        port_group=nic.port_group or "",
        vlan_tag_ids=nic.vlan_ids or [],
    )
    reason = f"move interface {nic.name} to {nic.network} port group {nic.port_group}"
    return [Change(f"interfaces[{nic.name}].network", Call("modify/network", request, reason), hot=False)]


def _rebound_nic(nic: NetworkInterface, seen: ObservedNic, vm: ComputeIdentifier) -> list[Change]:
    """ip_mac_bind/update, running or shut off (the doc), for a NIC bound to another IP: the same
    MAC (a new one would need the VM shut off) and peer "" (the MAC-IP binding kept as it is)."""
    if nic.bound_ip is None or seen.bound_ip == nic.bound_ip or not seen.interface_id:
        return []
    request = IpMacBindRequest(
        **vm.model_dump(), interface_id=seen.interface_id, mac_address=seen.mac, bound_ip=nic.bound_ip, peer=""
    )
    reason = f"bind interface {nic.name} to {nic.bound_ip}"
    return [Change(f"interfaces[{nic.name}].boundIp", Call("ip_mac_bind/update", request, reason), hot=True)]


def _attached_nic(nic: NetworkInterface, seen: ObservedNic) -> list[str]:
    """What of an attached NIC's declaration it does not have, and vmop cannot give it
    (modify/network never moves a NIC to or from VPC; ip_mac_bind/update needs the NIC's id)."""
    replace = "replace the interface (new name) instead"
    found = []
    if _network_differs(nic, seen) and "internal" in (seen.network, nic.network):
        found.append(
            f"interfaces[{nic.name}]: {seen.network} -> {nic.network}: modify/network never moves a NIC to or from "
            f"the VPC network (internal); {replace}"
        )
    compared: list[tuple[str, object, object, bool]] = [  # (field, platform, spec, whether to compare)
        ("model", seen.model, nic.model, bool(seen.model)),
        # ip_mac_bind/update names the NIC by its interface_id: without one shown, reported.
        ("boundIp", seen.bound_ip, nic.bound_ip, nic.bound_ip is not None and not seen.interface_id),
        ("switch", seen.switch, nic.switch, bool(nic.switch and seen.switch)),  # "": not reported
    ]
    for name, has, wanted, compare in compared:
        if compare and has != wanted:
            found.append(f"interfaces[{nic.name}].{name}: {has or 'none'} -> {wanted}: not changed in place; {replace}")
    return found


def _cdrom(spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier) -> list[Change]:
    wanted = spec.cdrom.image if spec.cdrom else ""
    if wanted == shape.cdrom and not (
        spec.cdrom and shape.cdrom_repository and shape.cdrom_repository != spec.cdrom.repository
    ):
        return []
    if spec.cdrom is None:
        return [Change("cdrom", Call("cdrom/detach", vm, "eject cdrom"), hot=True)]
    request = CdromAttachRequest(
        **vm.model_dump(), source_network_name=spec.cdrom.image, repository_uuid=spec.cdrom.repository
    )
    return [Change("cdrom", Call("cdrom/attach", request, f"insert {spec.cdrom.image}"), hot=True)]


def _floppy(spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier) -> list[Change]:
    """floppy/attach and floppy/detach, running or shut off (the doc); detach leaves the drive."""
    wanted = spec.floppy
    if wanted is None:
        return [Change("floppy", Call("floppy/detach", vm, "eject floppy"), hot=True)] if shape.floppy else []
    if (shape.floppy, shape.floppy_repository or wanted.repository) == (wanted.image, wanted.repository):
        return []
    request = FloppyAttachRequest(
        **vm.model_dump(), source_network_name=wanted.image, repository_uuid=wanted.repository
    )
    return [Change("floppy", Call("floppy/attach", request, f"insert floppy {wanted.image}"), hot=True)]


def usb_attachment(device: UsbDevice) -> UsbAttachment:
    """AttachUSBSingleRequest: the device's place under its own kind's names, the host's device for
    Redirect and PassThrough."""
    kind = USB_SOURCE_TYPES[device.type]
    fields: dict[str, Any] = {f"{kind}_usb_bus": device.bus, f"{kind}_usb_port": device.port}
    if device.type != "SpiceVmc":
        fields |= {
            "source_usb_host_uuid": device.host,
            "source_usb_bus": device.host_bus,
            "source_usb_device": device.host_device,
        }
    return UsbAttachment(**fields)


def usb_place(attachment: UsbAttachment) -> tuple[int, int]:
    """The (bus, port) an attachment names, under whichever kind's names it uses."""
    for kind in USB_SOURCE_TYPES.values():
        bus = getattr(attachment, f"{kind}_usb_bus")
        if bus is not None:
            return bus, getattr(attachment, f"{kind}_usb_port") or 0
    return 0, 0


def _usb(spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier, owned: Owned) -> tuple[list[Change], list[str]]:
    """Detaches first (of devices vmop attached that the spec no longer lists at their port): an
    attach may need the port one frees. A PassThrough attach waits for the VM to run (the doc)."""
    present: dict[tuple[int, int], ObservedUsb] = {(u.bus, u.port): u for u in shape.usbs}
    declared = {(d.name, d.bus, d.port) for d in spec.usb}
    changes: list[Change] = []
    freed: set[tuple[int, int]] = set()
    for name, (bus, port) in owned.usb.items():
        if (bus, port) in present and (name, bus, port) not in declared:
            detach = UsbDetachRequest(**vm.model_dump(), target_bus=bus, target_port=port)
            call = Call("usb/detach", detach, f"detach usb {name} ({bus}-{port})", owner=name)
            changes.append(Change(f"usb[{name}]", call, hot=True))
            freed.add((bus, port))
    unsupported: list[str] = []
    for device in spec.usb:
        place = (device.bus, device.port)
        seen = present.get(place)
        if seen is not None and place not in freed:
            if seen.source_type != USB_SOURCE_TYPES[device.type]:
                unsupported.append(
                    f"usb[{device.name}]: port {device.bus}-{device.port} holds a {seen.source_type or 'usb'} device, "
                    f"not {device.type}; vmop detaches only devices it attached: choose another port"
                )
            continue
        request = UsbAttachRequest(**vm.model_dump(), usb=[usb_attachment(device)])
        call = Call("usb/attach", request, f"attach usb {device.name} ({device.bus}-{device.port})", owner=device.name)
        changes.append(Change(f"usb[{device.name}]", call, hot=True, needs_running=device.type == "PassThrough"))
    return changes, unsupported


def pci_device(address: str) -> PCIDevice:
    """spec.pci's address (domain:bus:slot.function, hex) as the platform's PCIDevice."""
    domain, bus, rest = address.split(":")
    slot, function = rest.split(".")
    return PCIDevice(domain=int(domain, 16), bus=int(bus, 16), slot=int(slot, 16), function=int(function, 16))


def _pci(spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier, owned: Owned) -> list[Change]:
    """Detaches (hot) of devices vmop attached that no spec entry names any more; attaches of the
    declared ones the VM lacks, only while it runs (the doc: pci/attach refuses a VM shut off)."""
    declared = {d.address for d in spec.pci}
    changes = []
    detached = set()
    for name, address in owned.pci.items():
        if address in shape.pci and address not in declared and address not in detached:
            detached.add(address)
            request = PciDeviceRequest(**vm.model_dump(), pci_device=pci_device(address))
            call = Call("pci/detach", request, f"detach pci {name} ({address})", owner=name)
            changes.append(Change(f"pci[{name}]", call, hot=True))
    for device in spec.pci:
        if device.address not in shape.pci:
            request = PciDeviceRequest(**vm.model_dump(), pci_device=pci_device(device.address))
            call = Call("pci/attach", request, f"attach pci {device.name} ({device.address})", owner=device.name)
            changes.append(Change(f"pci[{device.name}]", call, hot=True, needs_running=True))
    return changes


def _mdev_differs(device: MdevDevice, seen: ObservedMdev) -> bool:
    """The attached mdev's driver or display is not the declared one (those it does not report: equal)."""
    display = "on" if device.display else "off"
    return (seen.model not in ("", device.model)) or (seen.display not in ("", display))


def _mdev(spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier, owned: Owned) -> list[Change]:
    """As _pci, by uuid. An attached mdev of another model or display is detached and attached
    again (no call changes one in place), both only while the VM runs: never left without it."""
    present = {m.uuid: m for m in shape.mdevs}
    declared = {d.uuid: d for d in spec.mdev}
    changes = []
    detached = set()
    for name, uuid in owned.mdev.items():
        seen, wanted = present.get(uuid), declared.get(uuid)
        if seen is None or uuid in detached or (wanted is not None and not _mdev_differs(wanted, seen)):
            continue
        request = MdevDeviceRequest(**vm.model_dump(), mdev_device=WireMdevDevice(src_address_uuid=uuid))
        call = Call("mdev/detach", request, f"detach mdev {name} ({uuid})", owner=name)
        changes.append(Change(f"mdev[{wanted.name if wanted else name}]", call, hot=True, needs_running=bool(wanted)))
        detached.add(uuid)
    for device in spec.mdev:
        if device.uuid in present and device.uuid not in detached:
            continue
        attachment = WireMdevDevice(
            src_address_uuid=device.uuid, model=device.model, display="on" if device.display else "off"
        )
        request = MdevDeviceRequest(**vm.model_dump(), mdev_device=attachment)
        call = Call("mdev/attach", request, f"attach mdev {device.name} ({device.uuid})", owner=device.name)
        changes.append(Change(f"mdev[{device.name}]", call, hot=True, needs_running=True))
    return changes


def boot_devices(spec: VirtualMachineSpec, shape: Shape, owned: Owned) -> list[str]:
    """bootOrder names -> the platform's identifiers: disk devices, lower-case NIC MACs."""
    by_volume = {d.volume: d.device for d in shape.disks if d.volume}
    devices = []
    for name in spec.boot_order or []:
        disk = next((d for d in spec.disks if d.name == name), None)
        if disk is not None:
            device = disk.device or by_volume.get(disk.volume or owned.disks.get(name, ""), "")
        else:
            nic = next((n for n in spec.interfaces if n.name == name), None)
            device = ((nic.mac if nic else None) or owned.nics.get(name, "")).lower()
        if device:
            devices.append(device)
    return devices


def _boot_order(spec: VirtualMachineSpec, shape: Shape, vm: ComputeIdentifier, owned: Owned) -> list[Change]:
    devices = boot_devices(spec, shape, owned)
    if not devices or list(shape.boot_order[: len(devices)]) == devices:
        return []
    request = BootOrderSetRequest(**vm.model_dump(), device_order=devices)
    return [Change("bootOrder", Call("bootorder/set", request, "boot order"), hot=True)]


def _meta(
    spec: VirtualMachineSpec,
    observed: Observed,
    shape: Shape,
    vm: ComputeIdentifier,
    name: str,
    group: str | None,
    *,
    ha_allowed: bool = True,
) -> list[Change]:
    """``ha_allowed``: False while passthrough devices stay on the VM (HA is then not turned on)."""
    changes = []
    meta: dict[str, object] = {}
    if observed.name != name:
        meta["compute_name"] = name
    if spec.ha_mode != shape.ha_mode and (ha_allowed or spec.ha_mode == "off"):
        meta["ha_mode"] = spec.ha_mode
    if meta:
        request = MetaSetRequest(**vm.model_dump(), meta=ComputeMeta.model_validate(meta))
        changes.append(Change("meta", Call("meta/set", request, ", ".join(f"{k}={v}" for k, v in meta.items())), True))
    changes += _options(spec, observed, shape, vm)
    if spec.os != observed.os:
        request = MetaSetRequest(**vm.model_dump(), os=spec.os)
        same_family = os_family(spec.os) == os_family(observed.os)
        changes.append(Change("os", Call("meta/set", request, f"os {spec.os}"), hot=same_family))
    if group and group != observed.group:
        request = MetaSetRequest(**vm.model_dump(), object_group=group)
        changes.append(Change("group", Call("meta/set", request, f"group {group}"), hot=True))
    return changes


def _options(spec: VirtualMachineSpec, observed: Observed, shape: Shape, vm: ComputeIdentifier) -> list[Change]:
    """Options the create sends that meta/set changes later, each when the spec sets it and the
    platform shows another value (one it does not report, None, is not compared). Hot or at the
    next power cycle: as the table says (the doc names no state for any of them)."""
    meta = spec.meta or Meta()
    options: list[tuple[str, object, object, dict[str, Any]]] = [  # (field, wanted, seen, meta/set parameters)
        ("cpu.baseline", spec.cpu.baseline, shape.baseline, {"baseline": spec.cpu.baseline}),
        ("meta.osLoader", meta.os_loader, shape.os_loader, {"meta": ComputeMeta(os_loader_path=meta.os_loader)}),
        (_vnc_path(spec), spec.vnc_enabled(), shape.vnc, {"meta": ComputeMeta(vnc_enable=spec.vnc_enabled())}),
        # meta/set takes virt_nested_enable as its own parameter (and in meta): the parameter.
        (
            "meta.nestedVirtualization",
            meta.nested_virtualization,
            observed.nested,
            {"virt_nested_enable": meta.nested_virtualization},
        ),
        (
            "meta.panicModel",
            meta.panic_model,
            shape.panic_model or None,
            {"meta": ComputeMeta(panic_model=meta.panic_model)},
        ),
        (
            "meta.memorySecurity",
            meta.memory_security,
            shape.memory_security,
            {"meta": ComputeMeta(mem_sec_enabled=meta.memory_security)},
        ),
    ]
    changes = []
    for path, wanted, seen, parameters in options:
        if wanted is None or seen is None or wanted == seen:
            continue
        treatment = SPEC_TREATMENTS[path].treatment
        assert treatment in (Treatment.HOT, Treatment.POWER_CYCLE), (path, treatment)
        call = Call("meta/set", MetaSetRequest(**vm.model_dump(), **parameters), f"{path} {seen} -> {wanted}")
        changes.append(Change(path, call, hot=treatment is Treatment.HOT))
    return changes


def _vnc_path(spec: VirtualMachineSpec) -> str:
    return "console.vnc" if spec.console is not None and spec.console.vnc is not None else "meta.vnc"


def _immutable(spec: VirtualMachineSpec, observed: Observed) -> list[str]:
    """Immutable fields (CEL) the VM does not match: a value set after the create, or drift."""
    found = []
    if observed.type and observed.type != spec.type:
        found.append(f"type: the VM is of type {observed.type} on the platform, not {spec.type}; no call changes it")
    # The zone belongs to spec.cluster: after a VmMigration to another cluster it describes where the VM was.
    if spec.zone and observed.zone and observed.cluster == spec.cluster and observed.zone != spec.zone:
        found.append(
            f"zone: the VM is in resource pool {observed.zone}, not {spec.zone}; no call moves a VM between "
            "resource pools"
        )
    return found


def plan_changes(
    spec: VirtualMachineSpec,
    observed: Observed,
    vm: ComputeIdentifier,
    owned: Owned,
    *,
    name: str,
    group: str | None,
) -> tuple[list[Change], list[str]]:
    """Every change between spec and the observed shape, and what cannot be changed at all."""
    shape = observed.shape
    if shape is None:
        return [], []
    disk_changes, disk_unsupported = _disks(spec, shape, vm, owned)
    nic_changes, nic_unsupported = _nics(spec, shape, vm, owned)
    usb_changes, usb_unsupported = _usb(spec, shape, vm, owned)
    devices = [*usb_changes, *_pci(spec, shape, vm, owned), *_mdev(spec, shape, vm, owned)]
    detaches = [c for c in devices if c.call.operation in PASSTHROUGH_DETACHES]
    staying = _passthrough_staying(shape, detaches)
    ha_blocked = []
    if staying and spec.ha_mode != "off" and shape.ha_mode != spec.ha_mode:
        ha_blocked.append(
            f"haMode: {spec.ha_mode} is not set while the VM has passthrough devices vmop does not detach "
            f"({', '.join(staying)}): passthrough devices and HA exclude each other (the doc)"
        )
    changes = [
        *detaches,
        *_meta(spec, observed, shape, vm, name, group, ha_allowed=not staying),
        *_cpu(spec, shape, vm),
        *_memory(spec, shape, vm),
        *_reservations(spec, shape, vm),
        *_graphics(spec, shape, vm),
        *disk_changes,
        *nic_changes,
        *_cdrom(spec, shape, vm),
        *_floppy(spec, shape, vm),
        *(c for c in devices if c.call.operation not in PASSTHROUGH_DETACHES),
        *_boot_order(spec, shape, vm, owned),
    ]
    unsupported = _immutable(spec, observed) + disk_unsupported + nic_unsupported + usb_unsupported
    return changes, unsupported + ha_blocked


def _passthrough_staying(shape: Shape, detaches: list[Change]) -> list[str]:
    """The VM's host devices (PCI, mdev, pass-through usb) that the plan's detaches leave on it."""
    gone = set()
    for change in detaches:
        request = change.call.request
        if isinstance(request, PciDeviceRequest):
            gone.add(f"pci {pci_address(request.pci_device)}")
        elif isinstance(request, MdevDeviceRequest):
            gone.add(f"mdev {request.mdev_device.src_address_uuid}")
        elif isinstance(request, UsbDetachRequest):
            gone.add(f"usb {request.target_bus}-{request.target_port}")
    present = [
        *(f"pci {address}" for address in shape.pci),
        *(f"mdev {m.uuid}" for m in shape.mdevs),
        *(f"usb {u.bus}-{u.port}" for u in shape.usbs if u.source_type == USB_SOURCE_TYPES["PassThrough"]),
    ]
    return [device for device in present if device not in gone]
