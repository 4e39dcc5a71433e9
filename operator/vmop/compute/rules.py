"""The compute API's rules as data, shared by the simulator, the planner and the CRD schema.

Sources: ../shared/compute-api.md (digest: ../shared/notes/compute-rules.md). Where the doc is
silent or contradicts itself, the choice made is written here once.
"""

from __future__ import annotations

import re

from vmop.compute.profile import HIBERNATED_SHAPES

MIB = 1024**2
GIB = 1024**3
MEMORY_MAX_BYTES = 256 * GIB  # vmemory/set: "不能超过256G"
# The doc gives memory in bytes and no granularity or minimum. vmop asks for whole MiB, at
# least one: a restriction of its own (a typo such as memory "1" is one byte), never something
# it relies on the platform for.
MEMORY_UNIT_BYTES = MIB
# The doc gives no vCPU maximum; vmop caps cpu.current, cpu.max and so sockets * cores here.
MAX_VCPUS = 1024
# vlan_tag_ids: the doc gives no range; 802.1Q ids end at 4094 (4095 is reserved), and the doc's
# own create/from_template example sends 0.
VLAN_ID_MIN = 0
VLAN_ID_MAX = 4094
GROUP_MAX_DEPTH = 5  # group/create, group/move
DEFAULT_GROUP_NAME = "default"  # no children under it; never deleted

# Disk device names by bus. The doc's Disk says "id[a-c]" for IDE, but its own examples use
# "hda"/"hdd" (bootorder/set, inspect's device_order): both spellings are accepted.
DEVICE_PATTERN_BY_BUS: dict[str, str] = {
    "ide": r"^[hi]d[a-c]$",
    "scsi": r"^sd[a-o]$",
    "sata": r"^sd[a-o]$",
    "virtio": r"^vd[a-o]$",
}
DEVICE_PATTERN = r"^([hi]d[a-c]|sd[a-o]|vd[a-o])$"
HOT_DETACH_BUSES = frozenset({"scsi"})  # disk/detach: only scsi disks detach while running
CACHE_MODES = ("", "none", "default", "writeback", "writethrough")
CACHE_MODES_FORCING_VIRTIO = frozenset({"writeback", "writethrough"})  # on scsi, the platform switches to virtio

# The doc does not say how a hibernated (休眠) VM shows in state/action (compute/profile.py reads
# both likely shapes as hibernated). Right after a save vmop expects the first, "shutoff with
# action save" (state/summary counts "save" among actions); the next observation corrects it.
HIBERNATED_STATE = "shutoff"
HIBERNATED_ACTION = "save"

# Actions during which nothing but the action's own endpoints may be called.
BUSY_ACTIONS = frozenset({"cloning", "migrating", "pending", "importing", "restoring", "exporting"})


def device_names_by_family() -> dict[tuple[str, ...], int]:
    """Buses sharing device names (scsi and sata both use sd*) -> how many names they have together."""
    families: dict[str, list[str]] = {}
    for bus in DEVICE_PATTERN_BY_BUS:
        families.setdefault(devices_for_bus(bus)[0][:2], []).append(bus)
    return {tuple(buses): len(devices_for_bus(buses[0])) for buses in families.values()}


def device_matches_bus(device: str, bus: str) -> bool:
    pattern = DEVICE_PATTERN_BY_BUS.get(bus)
    return pattern is not None and re.match(pattern, device) is not None


def bus_of_device(device: str) -> str | None:
    """The bus a device name implies (sd* is taken as scsi, the more common of scsi/sata)."""
    for bus in ("ide", "scsi", "virtio"):
        if device_matches_bus(device, bus):
            return bus
    return None


def devices_for_bus(bus: str) -> list[str]:
    """Every device name of a bus, in the order the platform assigns them."""
    prefix, last = {"ide": ("hd", "c"), "scsi": ("sd", "o"), "sata": ("sd", "o"), "virtio": ("vd", "o")}[bus]
    return [prefix + chr(c) for c in range(ord("a"), ord(last) + 1)]


def is_hibernated(state: str, action: str) -> bool:
    return (state, action) in HIBERNATED_SHAPES


def os_family(os_name: str) -> str:
    """meta/set: changing the OS to another family needs the VM shut off."""
    return "windows" if "windows" in os_name.lower() else "other"
