"""What a change of each VirtualMachine spec field does: one treatment per field, in one table.

A field changed in the spec (or on the platform behind vmop's back) is never left at
``Synced=True, "in sync"`` while the platform differs: it is applied hot, applied at the next
power cycle (``status.pendingChanges``, ``RestartRequired``), refused by the apiserver (a CEL
transition rule naming the field), or reported (``Synced=False``, ``UnsupportedChange``, naming
the field). The planner (reconcile/changes.py) reads the table for the fields whose treatment
does not depend on the state or the direction of the change; tests/unit/test_spec_treatment.py
walks every field of VirtualMachineSpec and fails on one missing here. docs/api-reference.md shows
the table (generated).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Treatment(StrEnum):
    HOT = "hot"  # applied at once, running or not
    POWER_CYCLE = "next power cycle"  # applied while the VM is shut off; pending until then
    BY_STATE = "hot or next power cycle"  # the doc's state rule decides per change (e.g. raise hot, lower cold)
    IMMUTABLE = "immutable"  # a CEL transition rule: the apiserver refuses the change
    REPORTED = "reported"  # Synced=False, UnsupportedChange, naming the field
    OPERATOR = "operator"  # vmop's own behaviour: nothing on the platform, read at every pass


@dataclass(frozen=True)
class Rule:
    treatment: Treatment
    why: str  # the doc's evidence (compute-api.md), or where it is silent, that it is


T = Treatment
# Paths as in the CRD (camelCase), list items as ``[]``. An IMMUTABLE entry covers its subtree
# (``self == oldSelf`` on an object compares every field in it); any other needs one entry per field.
SPEC_TREATMENTS: dict[str, Rule] = {
    "providerRef": Rule(
        T.IMMUTABLE, "the doc has no migration between endpoints: a VM stays on its provider's platform"
    ),
    "cluster": Rule(T.IMMUTABLE, "moving clusters is cross_cluster_migrate: a VmMigration"),
    "tenant": Rule(
        T.IMMUTABLE, "no endpoint moves a VM to another tenant (cross_cluster_migrate does, with a VmMigration)"
    ),
    "zone": Rule(
        T.IMMUTABLE,
        "no endpoint moves a VM to another resource pool in its cluster (only cross_cluster_migrate's zone_uuid, "
        "a VmMigration); set later, a zone that is not the VM's is reported",
    ),
    "groupRef": Rule(T.HOT, "meta/set object_group; no state rule"),
    "groupRef.name": Rule(T.HOT, "meta/set object_group; no state rule"),
    "group": Rule(T.HOT, "meta/set object_group; no state rule"),
    "name": Rule(T.HOT, "meta/set meta.compute_name; no state rule"),
    "os": Rule(T.BY_STATE, "meta/set os: another OS family needs the VM shut off, the same family does not"),
    "type": Rule(
        T.IMMUTABLE, "no endpoint changes a VM's type (meta/set has no type); a VM of another type is reported"
    ),
    "cpu": Rule(T.BY_STATE, "vcpu/set and meta/set, as its fields below say"),
    "cpu.sockets": Rule(T.POWER_CYCLE, "vcpu/set: sockets, cores and max need the VM shut off, no action"),
    "cpu.cores": Rule(T.POWER_CYCLE, "vcpu/set: sockets, cores and max need the VM shut off, no action"),
    "cpu.max": Rule(T.POWER_CYCLE, "vcpu/set: sockets, cores and max need the VM shut off, no action"),
    "cpu.current": Rule(T.BY_STATE, "vcpu/set cpu_current: raised while running (hot-add), lowered shut off"),
    "cpu.baseline": Rule(
        T.POWER_CYCLE,
        "meta/set baseline; the doc names no state for it, so vmop sends it only to a VM shut off",
    ),
    "cpu.reserve": Rule(T.HOT, "cpu/reserve: running or shut off"),
    "memory": Rule(T.BY_STATE, "vmemory/set: raised while running, lowered shut off"),
    "memoryReserve": Rule(T.POWER_CYCLE, "memory/reserve: shut off only"),
    "memoryBalloon": Rule(
        T.BY_STATE,
        "balloon/set; the doc names no state: vmop sends it only to a running VM (pending while shut off), and "
        "again after each start it makes (whether a balloon outlasts a power cycle the doc does not say, and "
        "inspect does not show it)",
    ),
    "disks": Rule(T.BY_STATE, "disk/attach running or shut off; disk/detach while running only on scsi"),
    "disks[].name": Rule(T.BY_STATE, "the key: another name is another disk (detach and attach)"),
    "disks[].volume": Rule(T.BY_STATE, "another volume is another disk (detach and attach)"),
    "disks[].device": Rule(
        T.REPORTED, "an attached disk keeps its device (disk/update is not used yet): attach it under another name"
    ),
    "disks[].bus": Rule(
        T.REPORTED, "an attached disk keeps its bus (disk/update is not used yet): attach it under another name"
    ),
    "disks[].cacheMode": Rule(T.REPORTED, "an attached disk keeps its cache mode (disk/update is not used yet)"),
    "disks[].size": Rule(
        T.REPORTED, "the compute API has no volume resize; a size the volume does not have is reported"
    ),
    "disks[].pool": Rule(T.IMMUTABLE, "a volume stays in the pool it was made in; the compute API moves none"),
    "disks[].image": Rule(T.IMMUTABLE, "an image is imported only into a volume made with the VM (unified_import)"),
    "interfaces": Rule(T.HOT, "interface/attach and interface/detach, running or shut off"),
    "interfaces[].name": Rule(T.HOT, "the key: another name is another NIC (detach and attach)"),
    "interfaces[].mac": Rule(T.HOT, "another MAC is another NIC (detach and attach)"),
    "interfaces[].model": Rule(T.REPORTED, "no endpoint changes an attached NIC's model"),
    "interfaces[].network": Rule(
        T.POWER_CYCLE, "modify/network: shut off, no action (to or from the VPC network: reported, 21031)"
    ),
    "interfaces[].portGroup": Rule(T.POWER_CYCLE, "modify/network: shut off, no action"),
    "interfaces[].vlanIds": Rule(T.POWER_CYCLE, "modify/network: shut off, no action"),
    "interfaces[].boundIp": Rule(
        T.HOT, 'ip_mac_bind/update (peer "": the MAC-IP binding kept as it is), running or shut off'
    ),
    "interfaces[].switch": Rule(
        T.REPORTED, "no endpoint moves a NIC to another VPC switch (modify/network refuses VPC)"
    ),
    "interfaces[].qos": Rule(T.HOT, "interface/setqos, running or shut off"),
    "interfaces[].qos.inbound": Rule(T.HOT, "interface/setqos, running or shut off"),
    "interfaces[].qos.inbound.average": Rule(T.HOT, "interface/setqos, running or shut off"),
    "interfaces[].qos.inbound.peak": Rule(T.HOT, "interface/setqos, running or shut off"),
    "interfaces[].qos.inbound.burst": Rule(T.HOT, "interface/setqos, running or shut off"),
    "interfaces[].qos.outbound": Rule(T.HOT, "interface/setqos, running or shut off"),
    "interfaces[].qos.outbound.average": Rule(T.HOT, "interface/setqos, running or shut off"),
    "interfaces[].qos.outbound.peak": Rule(T.HOT, "interface/setqos, running or shut off"),
    "interfaces[].qos.outbound.burst": Rule(T.HOT, "interface/setqos, running or shut off"),
    "cdrom": Rule(T.HOT, "cdrom/attach and cdrom/detach, running or shut off"),
    "cdrom.image": Rule(T.HOT, "cdrom/attach, running or shut off"),
    "cdrom.repository": Rule(T.HOT, "cdrom/attach, running or shut off"),
    "floppy": Rule(T.HOT, "floppy/attach and floppy/detach, running or shut off"),
    "floppy.image": Rule(T.HOT, "floppy/attach, running or shut off"),
    "floppy.repository": Rule(T.HOT, "floppy/attach, running or shut off"),
    "usb": Rule(
        T.BY_STATE,
        "usb/attach: PassThrough only while running, the others running or shut off; usb/detach running or shut off",
    ),
    "usb[].name": Rule(T.BY_STATE, "the key: another name is another device (detach and attach)"),
    "usb[].type": Rule(T.REPORTED, "an attached device keeps its kind: attach it under another name"),
    "usb[].bus": Rule(T.BY_STATE, "devices are found by bus and port: another port is another device"),
    "usb[].port": Rule(T.BY_STATE, "devices are found by bus and port: another port is another device"),
    "usb[].host": Rule(T.REPORTED, "inspect shows no device's source: a changed source is not seen; new name"),
    "usb[].hostBus": Rule(T.REPORTED, "inspect shows no device's source: a changed source is not seen; new name"),
    "usb[].hostDevice": Rule(T.REPORTED, "inspect shows no device's source: a changed source is not seen; new name"),
    "pci": Rule(T.BY_STATE, "pci/attach only while running (haMode off); pci/detach running or shut off"),
    "pci[].name": Rule(T.BY_STATE, "the key: another name for the same address is the same device"),
    "pci[].address": Rule(T.BY_STATE, "another address is another device (detach, and attach while running)"),
    "mdev": Rule(T.BY_STATE, "mdev/attach only while running (haMode off); mdev/detach running or shut off"),
    "mdev[].name": Rule(T.BY_STATE, "the key: another name for the same uuid is the same device"),
    "mdev[].uuid": Rule(T.BY_STATE, "another uuid is another device (detach, and attach while running)"),
    "mdev[].model": Rule(T.BY_STATE, "no call changes an attached mdev: detached, and attached again while running"),
    "mdev[].display": Rule(T.BY_STATE, "no call changes an attached mdev: detached, and attached again while running"),
    "cloudInit": Rule(
        T.HOT,
        "cloud_init/set when the Secret's content changes, or the platform's (cloud_init/get, by digest, when "
        "details are read) was changed behind vmop's back (the doc names no state: sent at once); the guest "
        "reads it at its next start with cloud_init=true",
    ),
    "cloudInit.secretRef": Rule(T.HOT, "another Secret is other content: cloud_init/set"),
    "cloudInit.secretRef.name": Rule(T.HOT, "another Secret is other content: cloud_init/set"),
    "console": Rule(T.BY_STATE, "as its fields below say"),
    "console.vnc": Rule(T.POWER_CYCLE, "meta/set meta.vnc_enable; the doc names no state: sent shut off"),
    "console.passwordSecretRef": Rule(T.HOT, "graphics/password/set: the doc allows it hot"),
    "console.passwordSecretRef.name": Rule(T.HOT, "graphics/password/set: the doc allows it hot"),
    "console.passwordSecretRef.key": Rule(T.HOT, "graphics/password/set: the doc allows it hot"),
    "console.compression": Rule(T.POWER_CYCLE, "vgpu/set compression: shut off (the doc)"),
    "console.streaming": Rule(T.POWER_CYCLE, "vgpu/set mode: shut off (the doc)"),
    "bootOrder": Rule(T.HOT, "bootorder/set; no state rule"),
    "haMode": Rule(T.HOT, "meta/set meta.ha_mode; no state rule"),
    "meta": Rule(T.POWER_CYCLE, "meta/set; the doc names no state for these options, so vmop sends them shut off"),
    "meta.osLoader": Rule(T.POWER_CYCLE, "meta/set meta.os_loader_path; the doc names no state: sent shut off"),
    "meta.vnc": Rule(T.POWER_CYCLE, "meta/set meta.vnc_enable; the doc names no state: sent shut off"),
    "meta.nestedVirtualization": Rule(
        T.POWER_CYCLE, "meta/set virt_nested_enable; the doc names no state: sent shut off"
    ),
    "meta.panicModel": Rule(T.POWER_CYCLE, "meta/set meta.panic_model; the doc names no state: sent shut off"),
    "meta.memorySecurity": Rule(T.POWER_CYCLE, "meta/set meta.mem_sec_enabled; the doc names no state: sent shut off"),
    "template": Rule(T.IMMUTABLE, "a template is used only by the create (create/from_template)"),
    "adopt": Rule(T.IMMUTABLE, "which VM the object is cannot change"),
    "powerState": Rule(T.HOT, "one legal power step per pass (start, shutdown, suspend, save, ...)"),
    "shutdownTimeoutSeconds": Rule(T.OPERATOR, "how long vmop waits before a hard shutoff"),
    "updatePolicy": Rule(T.OPERATOR, "whether vmop restarts the VM for pending changes"),
    "restartMethod": Rule(T.OPERATOR, "how vmop answers a vmop.io/restart request (reboot_ga or reset)"),
    "deletionPolicy": Rule(T.OPERATOR, "what vmop does when the object is deleted"),
    "deleteMode": Rule(T.OPERATOR, "what vmop does when the object is deleted"),
    "deleteVolumes": Rule(T.OPERATOR, "what vmop does when the object is deleted"),
    "recreateOnLoss": Rule(T.OPERATOR, "what vmop does when the VM disappears"),
}


def treatment_of(path: str) -> Rule | None:
    """The rule for a field path: its own entry, else an IMMUTABLE ancestor's."""
    if path in SPEC_TREATMENTS:
        return SPEC_TREATMENTS[path]
    parts = path.split(".")
    for end in range(len(parts) - 1, 0, -1):
        rule = SPEC_TREATMENTS.get(".".join(parts[:end]))
        if rule is not None and rule.treatment is Treatment.IMMUTABLE:
            return rule
    return None
