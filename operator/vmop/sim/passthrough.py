"""Host devices given to a VM: pci/attach|detach, mdev/attach|detach, usb/attach|detach.

The doc: a device passed through (PCI, mdev, pass-through usb) is added only while the VM runs,
only from the host it runs on, never beside HA ("使用PCI设备和虚拟机启用HA互斥"), and pins the
VM to that host; each detaches running or shut off. Redirected usb devices (from any host) and
spice vmc ports may be added shut off too. The doc names no scodes for these refusals; the
simulator's are in compute/scodes.py.
"""

from __future__ import annotations

from typing import Any

from vmop.compute.models import MDEV_MODELS as DOC_MDEV_MODELS
from vmop.compute.models import MdevDevice, Output, PCIDevice, UsbAttached
from vmop.compute.requests import MdevDeviceRequest, PciDeviceRequest, UsbAttachment, UsbAttachRequest
from vmop.compute.scodes import Scode
from vmop.sim.errors import SimError
from vmop.sim.lifecycle import failed_output, ok_output
from vmop.sim.platform import Platform, require, require_idle
from vmop.sim.world import Host, UsbPort, Vm

ON_OR_OFF = ("running", "shutoff")
MDEV_MODELS = ("", *DOC_MDEV_MODELS)
MDEV_DISPLAYS = ("", "on", "off")
# usb/attach's table: bus -> its ports. Bus 0 port 1 is taken by a device of the VM's own that
# inspect does not list: never free, never detached.
USB_PORTS = {0: range(1, 3), 1: range(1, 7), 2: range(1, 5)}
USB_RESERVED = {(0, 1)}
USB_KINDS = ("pass_through", "redirect", "spice_vmc")
_SOURCE_FIELDS = ("source_usb_host_uuid", "source_usb_bus", "source_usb_device")


def require_no_ha(vm: Vm, operation: str) -> None:
    ha = vm.meta.get("ha_mode", "on")
    if ha != "off":  # the doc: "auto" is the same as "on"
        raise SimError(
            Scode.PASSTHROUGH_HA_CONFLICT, f"{operation}: vm {vm.uuid} has ha_mode={ha}; passthrough needs it off"
        )


def require_not_pinned(vm: Vm, operation: str) -> None:
    if vm.passthrough:
        raise SimError(Scode.PASSTHROUGH_PINS_HOST, f"{operation}: vm {vm.uuid} has passthrough devices of its host")


def _running_host(p: Platform, vm: Vm, operation: str) -> Host:
    require(vm, operation, states=("running",))
    require_no_ha(vm, operation)
    return p.world.hosts[vm.host]


def _address(device: PCIDevice) -> tuple[int, int, int, int]:
    return device.domain, device.bus, device.slot, device.function


def _shown(address: tuple[int, int, int, int]) -> str:
    domain, bus, slot, function = address
    return f"{domain:04x}:{bus:02x}:{slot:02x}.{function}"


def _others_on(p: Platform, vm: Vm) -> list[Vm]:
    return [other for other in p.world.vms.values() if other is not vm and other.host == vm.host]


def attach_pci(p: Platform, vm: Vm, req: PciDeviceRequest) -> None:
    host = _running_host(p, vm, "pci/attach")
    address = _address(req.pci_device)
    capable = host.pci.get(address)
    if capable is None:
        raise SimError(Scode.DEVICE_NOT_FOUND, f"pci/attach: host {host.name} has no PCI device {_shown(address)}")
    if not capable:
        raise SimError(Scode.INVALID_PARAMETER, f"pci/attach: {_shown(address)} does not support passthrough")
    if any(_address(d) == address for other in [vm, *_others_on(p, vm)] for d in other.pci_devices):
        raise SimError(Scode.DEVICE_IN_USE, f"pci/attach: {_shown(address)} is passed to a vm already")
    vm.pci_devices.append(PCIDevice(domain=address[0], bus=address[1], slot=address[2], function=address[3]))


def detach_pci(p: Platform, vm: Vm, req: PciDeviceRequest) -> None:
    require(vm, "pci/detach", states=ON_OR_OFF)
    address = _address(req.pci_device)
    kept = [d for d in vm.pci_devices if _address(d) != address]
    if len(kept) == len(vm.pci_devices):
        raise SimError(Scode.DEVICE_NOT_FOUND, f"pci/detach: vm {vm.uuid} has no PCI device {_shown(address)}")
    vm.pci_devices = kept


def attach_mdev(p: Platform, vm: Vm, req: MdevDeviceRequest) -> None:
    host = _running_host(p, vm, "mdev/attach")
    device = req.mdev_device
    if device.model not in MDEV_MODELS or device.display not in MDEV_DISPLAYS:
        raise SimError(
            Scode.INVALID_PARAMETER,
            f"mdev/attach: model {device.model!r} (one of {MDEV_MODELS[1:]}), display {device.display!r} (on, off)",
        )
    if device.src_address_uuid not in host.mdevs:
        raise SimError(Scode.DEVICE_NOT_FOUND, f"mdev/attach: host {host.name} has no mdev {device.src_address_uuid}")
    if any(d.src_address_uuid == device.src_address_uuid for other in p.world.vms.values() for d in other.mdev_devices):
        raise SimError(Scode.DEVICE_IN_USE, f"mdev/attach: mdev {device.src_address_uuid} is passed to a vm already")
    vm.mdev_devices.append(
        MdevDevice(src_address_uuid=device.src_address_uuid, model=device.model or "vfio-pci", display=device.display)
    )


def detach_mdev(p: Platform, vm: Vm, req: MdevDeviceRequest) -> None:
    require(vm, "mdev/detach", states=ON_OR_OFF)
    uuid = req.mdev_device.src_address_uuid
    kept = [d for d in vm.mdev_devices if d.src_address_uuid != uuid]
    if len(kept) == len(vm.mdev_devices):
        raise SimError(Scode.DEVICE_NOT_FOUND, f"mdev/detach: vm {vm.uuid} has no mdev {uuid!r}")
    vm.mdev_devices = kept


def attach_usb(p: Platform, vm: Vm, req: UsbAttachRequest) -> list[Output[Any]]:
    """Each device succeeds or fails on its own, in order (the doc answers with a BatchOutput)."""
    require_idle(vm, "usb/attach")
    results: list[Output[Any]] = []
    for item in req.usb:
        try:
            vm.usbs.append(_usb_port(p, vm, item))
            results.append(ok_output(UsbAttached()))
        except SimError as error:
            results.append(failed_output(error, UsbAttached()))
    return results


def _usb_port(p: Platform, vm: Vm, item: UsbAttachment) -> UsbPort:
    placed = {
        kind: (getattr(item, f"{kind}_usb_bus"), getattr(item, f"{kind}_usb_port"))
        for kind in USB_KINDS
        if getattr(item, f"{kind}_usb_bus") is not None or getattr(item, f"{kind}_usb_port") is not None
    }
    if len(placed) != 1:
        raise SimError(
            Scode.INVALID_PARAMETER, f"usb/attach: exactly one of {USB_KINDS} per device, got {list(placed)}"
        )
    kind, (bus, port) = next(iter(placed.items()))
    if bus is None:
        raise SimError(Scode.INVALID_PARAMETER, f"usb/attach: {kind}_usb_bus is required")
    sources = [getattr(item, name) for name in _SOURCE_FIELDS]
    if kind == "spice_vmc" and any(value is not None for value in sources):
        raise SimError(Scode.INVALID_PARAMETER, "usb/attach: a spice vmc port takes no source_usb_* fields")
    if kind != "spice_vmc" and any(value is None for value in sources):
        raise SimError(Scode.INVALID_PARAMETER, f"usb/attach: {kind} needs {', '.join(_SOURCE_FIELDS)}")
    if kind == "pass_through":
        _running_host(p, vm, "usb/attach (pass-through)")
        if item.source_usb_host_uuid != vm.host:
            raise SimError(Scode.INVALID_PARAMETER, "usb/attach: a pass-through device must be on the vm's host")
    else:
        require(vm, f"usb/attach ({kind})", states=ON_OR_OFF)
    source = (item.source_usb_host_uuid or "", item.source_usb_bus or 0, item.source_usb_device or 0)
    if kind != "spice_vmc":
        host = p.world.hosts.get(source[0])
        if host is None or (source[1], source[2]) not in host.usb:
            raise SimError(Scode.DEVICE_NOT_FOUND, f"usb/attach: no usb device {source[1]}-{source[2]} on {source[0]}")
        if any(
            (u.source_usb_host_uuid, u.source_usb_bus, u.source_usb_device) == source
            for other in p.world.vms.values()
            for u in other.usbs
        ):
            raise SimError(Scode.DEVICE_IN_USE, f"usb/attach: usb device {source[1]}-{source[2]} is in use")
    return UsbPort(
        bus=bus,
        port=_free_port(vm, bus, port),
        source_type=kind,
        source_usb_host_uuid=source[0],
        source_usb_bus=source[1],
        source_usb_device=source[2],
    )


def _free_port(vm: Vm, bus: int, port: int | None) -> int:
    taken = USB_RESERVED | {(u.bus, u.port) for u in vm.usbs}
    ports = USB_PORTS.get(bus)
    if ports is None:
        raise SimError(Scode.USB_PORT_INVALID, f"usb/attach: bus {bus} does not exist (0, 1, 2)")
    if port is None:
        free = [n for n in ports if (bus, n) not in taken]
        if not free:
            raise SimError(Scode.USB_PORT_INVALID, f"usb/attach: no free port on bus {bus}")
        return free[0]
    if port not in ports:
        raise SimError(Scode.USB_PORT_INVALID, f"usb/attach: bus {bus} has ports {ports.start}-{ports.stop - 1}")
    if (bus, port) in taken:
        raise SimError(Scode.DEVICE_IN_USE, f"usb/attach: port {bus}-{port} is taken")
    return port


def detach_usb(p: Platform, vm: Vm, bus: int, port: int) -> None:
    require(vm, "usb/detach", states=ON_OR_OFF)
    if (bus, port) in USB_RESERVED:
        raise SimError(Scode.INVALID_PARAMETER, f"usb/detach: port {bus}-{port} is the vm's own and stays")
    kept = [u for u in vm.usbs if (u.bus, u.port) != (bus, port)]
    if len(kept) == len(vm.usbs):
        raise SimError(Scode.DEVICE_NOT_FOUND, f"usb/detach: vm {vm.uuid} has nothing on port {bus}-{port}")
    vm.usbs = kept
