"""The compute API endpoints vmop calls: path, method, whether a retry is harmless, how long it may take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Pace = Literal["query", "action", "long"]


@dataclass(frozen=True)
class Endpoint:
    method: Literal["GET", "POST"]
    path: str
    # False where repeating a call that may have reached the platform could do the work twice
    # (create a second VM, clone again, add a second NIC).
    idempotent: bool = True
    pace: Pace = "action"  # which of the settings' timeouts applies


def _get(path: str) -> Endpoint:
    return Endpoint("GET", f"/v1/compute/{path}", pace="query")


def _post(path: str, *, idempotent: bool = True, pace: Pace = "action") -> Endpoint:
    return Endpoint("POST", f"/v1/compute/{path}", idempotent, pace)


LIST = _get("list")
INSPECT = _get("inspect")
DETAIL = _get("detail")
STATE_SUMMARY = _get("state/summary")
LOG = _post("log", pace="query")

# Creates wait the action timeout (the doc gives them no longer one): the create grace period is
# twice it, so a create answered after vmop gave up is found before any second create.
UNIFIED_CREATE = _post("unified_create", idempotent=False)
UNIFIED_IMPORT = _post("unified_import", idempotent=False)
IMPORT_PROGRESS = _post("import/progress", pace="query")
FROM_TEMPLATE = _post("create/from_template", idempotent=False)
# With assign_vm_uuid a repeated create collides on the uuid instead of duplicating the VM.
FROM_TEMPLATE_ASSIGNED = _post("create/from_template")
DELETE = _post("delete", pace="long")
BATCH_DELETE = _post("batch_delete", pace="long")
CLONE = _post("clone", idempotent=False)
CLONE_PROGRESS = _post("clone/progress", pace="query")

START = _post("start")
SHUTDOWN = _post("shutdown")
SHUTOFF = _post("shutoff", pace="long")
REBOOT = _post("reboot")
RESET = _post("reset")
SUSPEND = _post("suspend")
RESUME = _post("resume")
SAVE = _post("save", pace="long")
RESTORE = _post("restore", pace="long")
BATCH_START = _post("batch_start", pace="long")
BATCH_SHUTDOWN = _post("batch_shutdown")
BATCH_SHUTOFF = _post("batch_shutoff", pace="long")
BATCH_REBOOT = _post("batch_reboot")
BATCH_RESET = _post("batch_reset")
BATCH_SUSPEND = _post("batch_suspend")
BATCH_RESUME = _post("batch_resume")
BATCH_SAVE = _post("batch_save", pace="long")
BATCH_RESTORE = _post("batch_restore", pace="long")
REBOOT_GA = _post("reboot_ga")
BATCH_REBOOT_GA = _post("batch_reboot_ga")

VCPU_SET = _post("vcpu/set")
VMEMORY_SET = _post("vmemory/set")
META_SET = _post("meta/set")
BOOTORDER_SET = _post("bootorder/set")
DISK_ATTACH = _post("disk/attach")
DISK_UPDATE = _post("disk/update")
DISK_DETACH = _post("disk/detach")
# A second export of the same disk would write a second image: never repeated blindly.
DISK_EXPORT = _post("disk/export", idempotent=False)
DISK_EXPORT_PROGRESS = _get("disk/export/progress")
INTERFACE_ATTACH = _post("interface/attach", idempotent=False)
INTERFACE_DETACH = _post("interface/detach")
INTERFACE_SETQOS = _post("interface/setqos")
CDROM_ATTACH = _post("cdrom/attach")
CDROM_DETACH = _post("cdrom/detach")
FLOPPY_ATTACH = _post("floppy/attach")
FLOPPY_DETACH = _post("floppy/detach")
MODIFY_NETWORK = _post("modify/network")
INTERFACE_MAC_UPDATE = _post("interface/mac/update")
IP_MAC_BIND_UPDATE = _post("ip_mac_bind/update")
PCI_ATTACH = _post("pci/attach")
PCI_DETACH = _post("pci/detach")
MDEV_ATTACH = _post("mdev/attach")
MDEV_DETACH = _post("mdev/detach")
# A repeated usb/attach without ports would take a second port for the same device.
USB_ATTACH = _post("usb/attach", idempotent=False)
USB_DETACH = _post("usb/detach")
# A repeated video/attach adds the devices again.
VIDEO_ATTACH = _post("video/attach", idempotent=False)
# A repeated detach removes the next device: the rest are renumbered from 0 after each.
VIDEO_DETACH = _post("video/detach", idempotent=False)
VIDEO_EDIT = _post("video/edit")

BALLOON_SET = _post("balloon/set")
VGPU_SET = _post("vgpu/set")
GRAPHICS_PASSWORD_SET = _post("graphics/password/set")
CPU_RESERVE = _post("cpu/reserve")
MEMORY_RESERVE = _post("memory/reserve")
CLOUD_INIT_GET = _get("cloud_init/get")
CLOUD_INIT_SET = _post("cloud_init/set")
ALTER_DEVICE_NAME = _post("alter/device_name")
SCREENSHOT = _post("screenshot")
LIST_SCREENSHOT = _get("list/screenshot")
SUPPORT_CONFIG = _get("vm/create/support/config")

MIGRATE = _post("migrate")
MIGRATE_ABORT = _post("migrate/abort")
CROSS_CLUSTER_MIGRATE = _post("cross_cluster_migrate")
CROSS_CLUSTER_CANCEL = _post("cross_cluster_cancel")
CROSS_CLUSTER_PROGRESS = _post("cross_cluster_pregress", pace="query")  # sic: the platform's spelling

GROUP_CREATE = _post("group/create", idempotent=False)
GROUP_DELETE = _post("group/delete")
GROUP_UPDATE = _post("group/update")
GROUP_MOVE = _post("group/move")
GROUP_INSPECT = _get("group/inspect")
GROUP_TREE = _get("group/tree")
