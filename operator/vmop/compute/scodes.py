"""Platform error codes (``scode``) in one place.

The doc names only a few codes (20926, 22102, 22151, 22161, 22211). The platform certainly
has codes for "wrong state", "not found" and so on, but the doc does not say which, so the
simulator answers with the codes below, chosen outside the doc's ranges where unknown.
vmop's logic never depends on a simulator-chosen number: the ones it may use as hints are the
defaults of compute/profile.py, which operators override with their platform's codes.
"""

from __future__ import annotations

from enum import IntEnum


class Scode(IntEnum):
    OK = 0

    # From the doc.
    HOST_CPU_BLOAT_LIMIT = 20926  # start: "host do not satisfy cpu bloat limitation"
    NOT_CLONING = 22102  # clone/progress on a VM that is not cloning
    NOT_EXPORTING = 22151  # disk/export/progress when no export runs
    EXPORT_NO_HOST = 22161  # disk/export: no host can mount the volume
    IMPORT_IMAGE_FAILED = 22211  # unified_import: import could not start

    # Chosen by the simulator (the doc names none for these situations).
    INVALID_PARAMETER = 10001
    UNSUPPORTED_ENDPOINT = 10002
    UNAUTHORIZED = 10003
    INTERNAL_ERROR = 10500  # injected platform failures
    VM_NOT_FOUND = 21001
    VM_STATE_INVALID = 21002  # the VM's state does not allow the operation
    VM_ACTION_IN_PROGRESS = 21003  # the VM has an action (migrating, cloning, ...)
    AGENT_NOT_CONNECTED = 21004
    VM_UUID_CONFLICT = 21005  # create/from_template: assign_vm_uuid already used
    CPU_INVALID = 21010
    MEMORY_INVALID = 21011
    DISK_DEVICE_INVALID = 21020
    DISK_DEVICE_IN_USE = 21021
    DISK_HOT_DETACH_UNSUPPORTED = 21022
    DISK_SOURCE_INVALID = 21023
    DISK_NOT_FOUND = 21024
    INTERFACE_NOT_FOUND = 21030
    INTERFACE_VPC_UNSUPPORTED = 21031  # modify/network: not from or to a VPC (internal) network
    HOST_NOT_FOUND = 21040
    HOST_UNREACHABLE = 21041
    MIGRATION_FAILED = 21042
    TEMPLATE_NOT_FOUND = 21050
    CLUSTER_NOT_FOUND = 21060
    TENANT_NOT_FOUND = 21061
    ZONE_NOT_FOUND = 21062
    POOL_NOT_FOUND = 21063
    DEVICE_NOT_FOUND = 21070  # a PCI, mdev or usb device (on the host, or on the VM)
    DEVICE_IN_USE = 21071  # a host device passed to another VM, or a usb port taken
    PASSTHROUGH_HA_CONFLICT = 21072  # the doc: passthrough devices and HA exclude each other
    PASSTHROUGH_PINS_HOST = 21073  # a VM with passthrough devices stays on its host
    USB_PORT_INVALID = 21074  # usb/attach: a bus or port the doc's table does not have
    VIDEO_INVALID = 21080  # video/*: only qxl beside others; device 0 stays
    GROUP_NOT_FOUND = 23001
    GROUP_DEPTH_EXCEEDED = 23002
    GROUP_DEFAULT_NO_CHILDREN = 23003
    GROUP_NAME_CONFLICT = 23004
    GROUP_NOT_EMPTY = 23005
    GROUP_DEFAULT_UNDELETABLE = 23006
    GROUP_MOVE_INTO_SELF = 23007


# Named by the doc and worth retrying after a while without any change on our side: the host is
# short of capacity for now. Busy and agent-missing codes are the platform profile's hints.
TRANSIENT: frozenset[int] = frozenset({Scode.HOST_CPU_BLOAT_LIMIT})
