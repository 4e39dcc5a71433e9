"""Whether the cheap list view of a VM hints that its shape differs from the spec, so the
details (inspect) are worth reading. Steady state reads only the list."""

from __future__ import annotations

from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.reconcile.changes import Owned, desired_cpus, memory_bytes
from vmop.reconcile.observed import Observed


def list_suggests_drift(spec: VirtualMachineSpec, vm: Observed, owned: Owned, *, name: str, group: str | None) -> bool:
    if vm.cpu_hint and vm.cpu_hint != desired_cpus(spec):
        return True
    if vm.memory_hint and vm.memory_hint != memory_bytes(spec.memory):
        return True
    if vm.name != name or vm.os != spec.os or (group is not None and vm.group != group):
        return True
    if (vm.type and vm.type != spec.type) or (spec.zone and vm.zone and vm.zone != spec.zone):
        return True  # immutable: the details show it, and the plan reports it
    nested = spec.meta.nested_virtualization if spec.meta else None
    if nested is not None and vm.nested is not None and vm.nested != nested:
        return True
    if {(d.name, d.bus, d.port) for d in spec.usb} != {(n, *place) for n, place in owned.usb.items()}:
        return True  # the list shows no usb devices: what vmop attached, by status, against the spec
    if {(d.name, d.address) for d in spec.pci} != set(owned.pci.items()):
        return True  # nor PCI devices
    if {(d.name, d.uuid) for d in spec.mdev} != set(owned.mdev.items()):
        return True  # nor mdev devices
    wanted_macs = {n.mac or owned.nics.get(n.name, "") for n in spec.interfaces}
    return set(vm.macs) != wanted_macs or len(owned.disks) != len([d for d in spec.disks])
