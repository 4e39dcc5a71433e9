"""VirtualMachine (vmop.io/v1alpha1): one VM on the platform, in the declared shape and power state."""

from __future__ import annotations

from typing import Annotated, Literal

from kubernetes.utils.quantity import parse_quantity
from pydantic import Field, field_validator
from pydantic.config import JsonDict

from vmop.api.base import FORBIDDEN, IMMUTABLE, PRINTABLE, REQUIRED, UUID_PATTERN, ApiModel, cel, validations
from vmop.api.computeprovider import PROVIDER_REF_FIXED, ProviderRef, provider_ref_field, recorded_provider_field
from vmop.api.conditions import Condition, LastError, Progress
from vmop.compute.models import MdevModel
from vmop.compute.requests import GraphicsCompression, GraphicsStreaming
from vmop.compute.rules import (
    CACHE_MODES,
    DEVICE_PATTERN,
    DEVICE_PATTERN_BY_BUS,
    MAX_VCPUS,
    MEMORY_MAX_BYTES,
    MEMORY_UNIT_BYTES,
    VLAN_ID_MAX,
    VLAN_ID_MIN,
    device_names_by_family,
)

MAC_PATTERN = r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$"
QUANTITY_PATTERN = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
MAX_MEMORY = "256Gi"
MIN_MEMORY = "1Mi"
MEMORY_RULE = f"memory must be a whole number of MiB from {MIN_MEMORY} to {MAX_MEMORY}"

# Names are list-map keys: the apiserver itself refuses duplicates, at no CEL cost.
LIST_MAP_BY_NAME: JsonDict = {"default": [], "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}

PowerState = Literal["Running", "Stopped", "Suspended", "Hibernated"]
Bus = Literal["ide", "scsi", "virtio", "sata"]


def _device_matches_bus_rule() -> str:
    per_bus = " || ".join(
        f"(self.bus == '{bus}' && self.device.matches('{pattern}'))" for bus, pattern in DEVICE_PATTERN_BY_BUS.items()
    )
    return f"!has(self.device) || !has(self.bus) || {per_bus}"


def _disks_per_device_family_rules() -> list[dict[str, object]]:
    """A bus has only so many device names (virtio: vda-vdo); scsi and sata share sd*."""
    rules = []
    for buses, names in device_names_by_family().items():
        listed = ", ".join(f"'{bus}'" for bus in buses)
        rules.append(
            cel(
                f"self.disks.filter(d, d.bus in [{listed}]).size() <= {names}",
                f"at most {names} disks on {' and '.join(buses)} together: the bus has {names} device names",
                field_path=".disks",
            )
        )
    return rules


class Cpu(ApiModel):
    """vCPU topology: sockets x cores is the maximum; current may be raised while running (hot-add)."""

    sockets: int = Field(default=1, ge=1, le=64, description="CPU sockets")
    cores: int = Field(default=1, ge=1, le=128, description="cores per socket")
    current: int | None = Field(default=None, ge=1, le=1024, description="vCPUs online; defaults to sockets*cores")
    max: int | None = Field(default=None, ge=1, le=1024, description="if set, must equal sockets*cores")
    baseline: str | None = Field(
        default=None,
        max_length=128,
        description="CPU model baseline, e.g. Haswell-noTSX",
        json_schema_extra=validations(PRINTABLE),
    )
    reserve: bool | None = Field(
        default=None,
        description="CPU reservation (cpu/reserve), set running or shut off; unset: left as the platform has it",
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!has(self.max) || self.max == self.sockets * self.cores",
                "cpu.max must equal sockets * cores",
                field_path=".max",
            ),
            cel(
                "!has(self.current) || self.current <= self.sockets * self.cores",
                "cpu.current must not exceed sockets * cores",
                field_path=".current",
            ),
            # has(): the apiserver checks the field's default ({}) against the rules before defaulting it.
            cel(
                f"!has(self.sockets) || !has(self.cores) || self.sockets * self.cores <= {MAX_VCPUS}",
                f"sockets * cores must be at most {MAX_VCPUS} vCPUs",
                field_path=".cores",
            ),
        )
    }


class DiskImage(ApiModel):
    """An image to import into a new volume when the VM is created (unified_import)."""

    uuid: str = Field(pattern=UUID_PATTERN, max_length=64, description="image uuid")
    repository: str = Field(pattern=UUID_PATTERN, max_length=64, description="image repository uuid")
    name: str | None = Field(
        default=None, max_length=255, description="image name", json_schema_extra=validations(PRINTABLE)
    )


class Disk(ApiModel):
    """A disk: a new volume (size + pool, optionally from an image) or an existing volume."""

    name: str = Field(
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="a name for the disk within this VM (used in pendingChanges)",
    )
    device: str | None = Field(
        default=None,
        pattern=DEVICE_PATTERN,
        max_length=3,
        description="ide: hd[a-c] (the doc also writes id[a-c]), scsi/sata: sd[a-o], "
        "virtio: vd[a-o]; picked by the platform from bus when unset",
    )
    bus: Bus = Field(default="virtio", description="scsi disks can be detached while running; others need a stop")
    cache_mode: Literal[CACHE_MODES] | None = Field(  # type: ignore[valid-type]
        default=None, description="writeback/writethrough on scsi make the platform use virtio"
    )
    size: str | None = Field(
        default=None, pattern=QUANTITY_PATTERN, max_length=32, description="size of a new volume, e.g. 20Gi"
    )
    pool: str | None = Field(
        default=None,
        pattern=UUID_PATTERN,
        max_length=64,
        description="storage pool uuid of a new volume",
        json_schema_extra=validations(
            cel("self == oldSelf", "pool is immutable: a volume stays in the pool it was made in")
        ),
    )
    volume: str | None = Field(
        default=None,
        pattern=UUID_PATTERN,
        max_length=64,
        description="an existing volume's uuid (attach, never create)",
    )
    image: DiskImage | None = Field(
        default=None,
        json_schema_extra=validations(
            cel("self == oldSelf", "image is immutable: an image is imported only when the VM is created")
        ),
    )

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel("has(self.size) != has(self.volume)", "a disk needs exactly one source: size (+pool) or volume"),
            cel("has(self.size) == has(self.pool)", "a new volume needs both size and pool"),
            cel(
                "!has(self.image) || has(self.size)",
                "image import needs a new volume (size + pool)",
                field_path=".image",
            ),
            cel(
                _device_matches_bus_rule(),
                "device does not match bus (ide: hd[a-c], scsi/sata: sd[a-o], virtio: vd[a-o])",
                field_path=".device",
            ),
            cel(
                "!has(self.size) || isQuantity(self.size) && quantity(self.size).isGreaterThan(quantity('0'))",
                "size must be a positive quantity",
                field_path=".size",
            ),
            cel(
                "!has(self.cacheMode) || !(self.cacheMode in ['writeback', 'writethrough']) || self.bus != 'scsi'",
                "writeback/writethrough caching is not possible on scsi (the platform would switch the bus to virtio)",
                field_path=".cacheMode",
            ),
        )
    }


class Bandwidth(ApiModel):
    """A bandwidth limit in one direction."""

    average: int = Field(default=0, ge=0, description="kB/s; 0 means no limit")
    peak: int = Field(default=0, ge=0, description="kB/s")
    burst: int = Field(default=0, ge=0, description="kB")


class Qos(ApiModel):
    """Bandwidth limits of a NIC."""

    inbound: Bandwidth | None = Field(default=None, description="traffic into the VM")
    outbound: Bandwidth | None = Field(default=None, description="traffic out of the VM")


class NetworkInterface(ApiModel):
    """A NIC on a local network (port group) or the VPC network ("internal")."""

    name: str = Field(
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="a name for the NIC within this VM (used in bootOrder and pendingChanges)",
    )
    model: Literal["virtio", "e1000", "rtl8139"] = Field(default="virtio", description="the emulated NIC model")
    network: str = Field(
        min_length=1,
        max_length=128,
        description='local network name, or "internal" for VPC',
        json_schema_extra=validations(PRINTABLE),
    )
    port_group: str | None = Field(
        default=None, pattern=UUID_PATTERN, max_length=64, description="required on local networks"
    )
    vlan_ids: list[Annotated[int, Field(ge=VLAN_ID_MIN, le=VLAN_ID_MAX)]] | None = Field(
        default=None, max_length=16, description="only where the port group has VLANs"
    )
    mac: str | None = Field(
        default=None,
        pattern=MAC_PATTERN,
        max_length=17,
        description="lower-case; assigned when unset",
        # The least significant bit of the first octet marks a group (multicast) address.
        json_schema_extra=validations(cel("self.matches('^.[02468ace]')", "mac must be a unicast address")),
    )
    bound_ip: str | None = Field(
        default=None,
        max_length=45,
        description="IP bound to this NIC",
        json_schema_extra=validations(cel("isIP(self)", "boundIp must be an IPv4 or IPv6 address")),
    )
    switch: str | None = Field(default=None, max_length=64, description="VPC switch uuid (network internal)")
    qos: Qos | None = Field(default=None, description="bandwidth limits; unset: none")

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "self.network == 'internal' || has(self.portGroup)",
                "portGroup is required on a local network",
                field_path=".portGroup",
                reason=REQUIRED,
            ),
            cel(
                "self.network != 'internal' || has(self.switch)",
                "switch is required on the internal (VPC) network",
                field_path=".switch",
                reason=REQUIRED,
            ),
        )
    }


class Cdrom(ApiModel):
    """An ISO image in the VM's CD-ROM drive."""

    image: str = Field(max_length=255, description="ISO image name", json_schema_extra=validations(PRINTABLE))
    repository: str = Field(pattern=UUID_PATTERN, max_length=64, description="image repository uuid")


class Template(ApiModel):
    """Create from a platform VM template (create/from_template) instead of from scratch."""

    uuid: str = Field(pattern=UUID_PATTERN, max_length=64, description="the template's uuid")
    linked_clone: bool = Field(default=False, description="a linked clone: the new VM's disks share the template's")
    snapshot: str | None = Field(
        default=None,
        max_length=255,
        description="clone from this snapshot of the template",
        json_schema_extra=validations(PRINTABLE),
    )
    component_cache: bool = Field(default=False, description="needs linkedClone")

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                "!self.componentCache || self.linkedClone",
                "componentCache needs linkedClone",
                field_path=".componentCache",
            )
        )
    }


class Floppy(ApiModel):
    """An image in the VM's floppy drive (floppy/attach: the image's name and repository)."""

    image: str = Field(
        max_length=255, description="floppy image name, e.g. virt.vfd", json_schema_extra=validations(PRINTABLE)
    )
    repository: str = Field(pattern=UUID_PATTERN, max_length=64, description="image repository uuid")


# A Kubernetes object name (DNS subdomain): a Secret in the VirtualMachine's namespace.
SECRET_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
SECRET_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"


class SecretRef(ApiModel):
    name: str = Field(
        max_length=253, pattern=SECRET_NAME_PATTERN, description="a Secret in the VirtualMachine's namespace"
    )


class SecretKeyRef(SecretRef):
    key: str = Field(max_length=253, pattern=SECRET_KEY_PATTERN, description="the key of the Secret's data")


class CloudInit(ApiModel):
    """First-boot configuration from a Secret: its keys userData, networkData and metaData (each
    optional, at least one present). Sent with the create (cloud_init_data), again with
    cloud_init/set when the Secret's content changes, and every start asks for it (start with
    cloud_init=true, which takes an IDE slot). userData is sent as text, or as an object when the
    text is a JSON object (the doc's examples show an object); networkData and metaData must be
    YAML or JSON mappings. vmop keeps only a sha256 digest of them, in status."""

    secret_ref: SecretRef = Field(description="the Secret holding userData, networkData, metaData")


class Console(ApiModel):
    """The graphical console: VNC on or off, its password, and the spice image compression and
    streaming modes (vgpu/set, which the doc calls the graphics interface: not a vGPU)."""

    vnc: bool | None = Field(
        default=None, description="the VNC console (vnc_enable, sent shut off); the same switch as meta.vnc: set one"
    )
    password_secret_ref: SecretKeyRef | None = Field(
        default=None,
        description="the VNC password, in the form graphics/password/set takes (the doc: an encrypted string; "
        "how, it does not say): set hot whenever the Secret's value changes",
    )
    compression: GraphicsCompression | None = Field(
        default=None, description="image compression (vgpu/set compression), set shut off; unset: left as it is"
    )
    streaming: GraphicsStreaming | None = Field(
        default=None, description="video streaming (vgpu/set mode), set shut off; unset: left as it is"
    )


UsbType = Literal["Redirect", "PassThrough", "SpiceVmc"]
# usb/attach's table: bus -> its ports (bus 0 port 1 is the VM's own).
USB_BUS_PORTS = {0: (2, 2), 1: (1, 6), 2: (1, 4)}


class UsbDevice(ApiModel):
    """A USB device at a bus and port of the VM (usb/attach): a host's device redirected or passed
    through, or a spice vmc port for the spice client's own redirection."""

    name: str = Field(
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="a name for the device within this VM (used in pendingChanges)",
    )
    type: UsbType = Field(
        default="Redirect",
        description="Redirect (a host's device, any host; running or shut off), PassThrough (a device of the "
        "VM's host; only while running, haMode off, pins the VM to the host) or SpiceVmc",
    )
    bus: int = Field(ge=0, le=2, description="0: usb1.1 (port 2), 1: usb2.0 (ports 1-6), 2: usb3.0 (ports 1-4)")
    port: int = Field(ge=1, le=6, description="the port on the bus: devices are matched and detached by bus and port")
    host: str | None = Field(default=None, pattern=UUID_PATTERN, max_length=64, description="the device's host uuid")
    host_bus: int | None = Field(default=None, ge=0, description="the device's bus on the host")
    host_device: int | None = Field(default=None, ge=0, description="the device's number on the host's bus")

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            cel(
                " || ".join(
                    f"(self.bus == {bus} && self.port >= {low} && self.port <= {high})"
                    for bus, (low, high) in USB_BUS_PORTS.items()
                ),
                "port must be on the bus: bus 0 port 2 (port 1 is the VM's own), bus 1 ports 1-6, bus 2 ports 1-4",
                field_path=".port",
            ),
            cel(
                "self.type == 'SpiceVmc' ? !has(self.host) && !has(self.hostBus) && !has(self.hostDevice) "
                ": has(self.host) && has(self.hostBus) && has(self.hostDevice)",
                "Redirect and PassThrough need host, hostBus and hostDevice; SpiceVmc takes none of them",
                field_path=".host",
            ),
        )
    }


# A host's PCI address as lspci -D writes it: domain (16 bits), bus (8), slot (5), function (3), in
# hex. The doc: PCIDevice's numbers "和宿主机描述PCI设备地址的参数一致" (as the host describes them).
PCI_ADDRESS_PATTERN = r"^[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$"


class PciDevice(ApiModel):
    """A PCI device of the VM's host passed through to it (pci/attach). The doc: attached only
    while the VM runs, only a device of the host it runs on, never beside HA (haMode off); the VM
    then stays on that host. Detached running or shut off."""

    name: str = Field(
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="a name for the device within this VM (used in pendingChanges)",
    )
    address: str = Field(
        pattern=PCI_ADDRESS_PATTERN,
        max_length=12,
        description="domain:bus:slot.function in lower-case hex, as lspci -D shows it on the host, e.g. 0000:3b:00.0",
    )


class MdevDevice(ApiModel):
    """A mediated device (a vGPU, for one) of the VM's host passed through to it (mdev/attach):
    the same rules as a PCI device: attached only while running, haMode off, pins the VM to the host."""

    name: str = Field(
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="a name for the device within this VM (used in pendingChanges)",
    )
    uuid: str = Field(pattern=UUID_PATTERN, max_length=64, description="the mdev's uuid on the host (src_address_uuid)")
    model: MdevModel = Field(default="vfio-pci", description="the device's driver")
    display: bool = Field(default=False, description="display acceleration (display on/off)")


class GroupRef(ApiModel):
    name: str = Field(max_length=253, description="a VmGroup in the same namespace")


class Adopt(ApiModel):
    """Take over a VM that already exists on the platform instead of creating one."""

    uuid: str = Field(pattern=UUID_PATTERN, max_length=64, description="the platform VM's uuid")
    observe_only: bool = Field(default=False, description="only report its state; never change or delete it")


class Meta(ApiModel):
    """Platform VM options (ComputeMeta)."""

    os_loader: Literal["BIOS", "UEFI"] | None = Field(default=None, description="firmware (os_loader_path)")
    vnc: bool | None = Field(default=None, description="the VNC console (vnc_enable)")
    nested_virtualization: bool | None = Field(
        default=None, description="virtualization extensions in the guest (virt_nested_enable)"
    )
    panic_model: Literal["isa", "none"] | None = Field(default=None, description="the guest panic device (panic_model)")
    memory_security: bool | None = Field(default=None, description="the platform's memory security (mem_sec_enabled)")


class VirtualMachineSpec(ApiModel):
    """The VM as it should be. vmop never writes here."""

    cluster: str = Field(
        pattern=UUID_PATTERN,
        max_length=64,
        description="platform cluster uuid",
        json_schema_extra=validations(cel("self == oldSelf", "cluster is immutable; use a VmMigration to move the VM")),
    )
    tenant: str = Field(
        pattern=UUID_PATTERN,
        max_length=64,
        description="platform tenant uuid",
        json_schema_extra=validations(IMMUTABLE),
    )
    zone: str | None = Field(
        default=None,
        pattern=UUID_PATTERN,
        max_length=64,
        description="resource pool uuid; unset: the platform's choice",
        json_schema_extra=validations(
            cel(
                "self == oldSelf",
                "zone is immutable: no call moves a VM to another resource pool "
                "(a VmMigration moves it with its cluster)",
            )
        ),
    )
    group_ref: GroupRef | None = Field(default=None, description="a VmGroup whose uuid becomes the VM's group")
    group: str | None = Field(default=None, pattern=UUID_PATTERN, max_length=64, description="a raw group uuid")
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="name on the platform; defaults to metadata.name",
        json_schema_extra=validations(PRINTABLE),
    )
    os: str = Field(
        default="CentOS x64",
        max_length=128,
        description="the guest OS as the platform names it",
        json_schema_extra=validations(PRINTABLE),
    )
    type: str = Field(
        default="GUS",
        max_length=32,
        description="platform VM type",
        json_schema_extra=validations(
            PRINTABLE, cel("self == oldSelf", "type is immutable: no call changes a VM's type on the platform")
        ),
    )
    cpu: Cpu = Field(default_factory=Cpu, json_schema_extra={"default": {}})
    memory: str = Field(
        default="1Gi",
        pattern=QUANTITY_PATTERN,
        max_length=32,
        description="RAM, a quantity such as 4Gi; more is added while running, less waits for a stop",
        json_schema_extra=validations(
            cel(
                # Whole MiB through a double: isInteger() is false for "1.5Gi" (no fast int64 form),
                # and every MiB count up to 256Gi is exact in a double.
                f"isQuantity(self) && quantity(self).compareTo(quantity('{MIN_MEMORY}')) >= 0 && "
                f"quantity(self).compareTo(quantity('{MAX_MEMORY}')) <= 0 && "
                f"quantity(self).asApproximateFloat() / {MEMORY_UNIT_BYTES}.0 == "
                f"double(int(quantity(self).asApproximateFloat() / {MEMORY_UNIT_BYTES}.0))",
                MEMORY_RULE,
            )
        ),
    )
    memory_reserve: bool | None = Field(
        default=None,
        description="memory reservation (memory/reserve), set only shut off: pending while running; unset: left "
        "as the platform has it",
    )
    memory_balloon: str | None = Field(
        default=None,
        pattern=QUANTITY_PATTERN,
        max_length=32,
        description="size of the memory balloon (balloon/set, 0 allowed), set while running; the platform does not "
        "show it, so vmop sends it when it is not the value it last set, and again after each start it makes",
        json_schema_extra=validations(
            cel("isQuantity(self) && quantity(self).isInteger()", "memoryBalloon must be a whole number of bytes")
        ),
    )
    disks: list[Disk] = Field(
        default_factory=list,
        max_length=16,
        description="the VM's disks, by name; new volumes are made only with the VM",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    interfaces: list[NetworkInterface] = Field(
        default_factory=list, max_length=8, description="the VM's NICs, by name", json_schema_extra=LIST_MAP_BY_NAME
    )
    cdrom: Cdrom | None = Field(default=None, description="an ISO in the CD-ROM drive; unset: empty")
    floppy: Floppy | None = Field(default=None, description="an image in the floppy drive; unset: empty")
    usb: list[UsbDevice] = Field(
        default_factory=list,
        max_length=12,
        description="USB devices, by name; vmop detaches only those it attached",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    pci: list[PciDevice] = Field(
        default_factory=list,
        max_length=8,
        description="host PCI devices passed through, by name; vmop detaches only those it attached",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    mdev: list[MdevDevice] = Field(
        default_factory=list,
        max_length=8,
        description="host mediated devices (vGPUs) passed through, by name; vmop detaches only those it attached",
        json_schema_extra=LIST_MAP_BY_NAME,
    )
    cloud_init: CloudInit | None = Field(default=None, description="first-boot configuration from a Secret")
    console: Console | None = Field(default=None, description="the graphical console")
    boot_order: list[Annotated[str, Field(max_length=63)]] | None = Field(
        default=None, max_length=16, description="disk names (devices), NIC names, in boot order"
    )
    ha_mode: Literal["on", "off"] = Field(
        default="on", description="the platform restarts the VM elsewhere if its host fails"
    )
    meta: Meta | None = None
    template: Template | None = Field(default=None, json_schema_extra=validations(IMMUTABLE))
    power_state: PowerState = Field(
        default="Running",
        description="Running, Stopped (graceful, then hard after shutdownTimeoutSeconds), Suspended or Hibernated",
    )
    shutdown_timeout_seconds: int = Field(
        default=120, ge=0, le=86400, description="graceful shutdown first; hard shutoff after this long"
    )
    update_policy: Literal["OnPowerCycle", "Restart"] = Field(
        default="OnPowerCycle", description="changes that need the VM off: wait for the next stop, or restart now"
    )
    restart_method: Literal["GuestAgent", "Reset"] = Field(
        default="GuestAgent",
        description="how a vmop.io/restart request reboots the running VM: GuestAgent (reboot_ga; waits for the "
        "guest agent to be connected) or Reset (a hard reset: unsaved data in the guest is lost)",
    )
    deletion_policy: Literal["Delete", "Retain"] | None = Field(
        default=None, description="unset: the namespace's vmop.io/deletion-policy annotation, else the operator's"
    )
    delete_mode: Literal["Trash", "Permanent"] = Field(
        default="Permanent", description="Trash moves the VM to the recycle bin"
    )
    delete_volumes: bool = Field(default=True, description="deleting the VM (policy Delete) deletes its volumes too")
    recreate_on_loss: bool = Field(
        default=True, description="a VM deleted behind vmop's back is recreated; false: phase Lost"
    )
    adopt: Adopt | None = Field(default=None, json_schema_extra=validations(IMMUTABLE))
    provider_ref: ProviderRef | None = provider_ref_field()

    def vnc_enabled(self) -> bool | None:
        """console.vnc, else meta.vnc (the CRD allows only one of them): None when neither is set."""
        if self.console is not None and self.console.vnc is not None:
            return self.console.vnc
        return self.meta.vnc if self.meta is not None else None

    @field_validator("memory")
    @classmethod
    def _whole_mib(cls, value: str) -> str:
        """The CEL rule again, for objects stored before it existed: never a size it refuses."""
        size = parse_quantity(value)  # type: ignore[no-untyped-call]
        if not (MEMORY_UNIT_BYTES <= size <= MEMORY_MAX_BYTES and size % MEMORY_UNIT_BYTES == 0):
            raise ValueError(MEMORY_RULE)
        return value

    model_config = ApiModel.model_config | {
        "json_schema_extra": validations(
            PROVIDER_REF_FIXED,
            cel(
                "!(has(self.groupRef) && has(self.group))",
                "set groupRef or group, not both",
                field_path=".group",
                reason=FORBIDDEN,
            ),
            # Disk and interface names need no rule: they are list-map keys (LIST_MAP_BY_NAME).
            cel(
                "self.disks.all(d, !has(d.device) || self.disks.exists_one(e, has(e.device) && e.device == d.device))",
                "disk devices must be unique",
                field_path=".disks",
            ),
            *_disks_per_device_family_rules(),
            cel(
                "self.interfaces.all(i, !has(i.mac) || self.interfaces.exists_one(j, has(j.mac) && j.mac == i.mac))",
                "interface MACs must be unique",
                field_path=".interfaces",
            ),
            cel(
                "has(self.template) || has(self.adopt) || size(self.disks) > 0",
                "a VM created from scratch needs at least one disk",
                field_path=".disks",
                reason=REQUIRED,
            ),
            cel(
                "!has(self.bootOrder) || self.bootOrder.all(b, self.disks.exists(d, d.name == b) || "
                "self.interfaces.exists(i, i.name == b))",
                "bootOrder entries must name disks or interfaces",
                field_path=".bootOrder",
            ),
            cel(
                "self.usb.all(u, self.usb.exists_one(v, v.bus == u.bus && v.port == u.port))",
                "usb devices must be at distinct bus and port",
                field_path=".usb",
            ),
            cel(
                "!self.usb.exists(u, u.type == 'PassThrough') || self.haMode == 'off'",
                "a PassThrough usb device needs haMode off (usb/attach refuses it with high availability on)",
                field_path=".haMode",
            ),
            cel(
                "(self.pci.size() == 0 && self.mdev.size() == 0) || self.haMode == 'off'",
                "pci and mdev devices need haMode off (the doc: passthrough devices and HA exclude each other)",
                field_path=".haMode",
            ),
            cel(
                "self.pci.all(p, self.pci.exists_one(q, q.address == p.address))",
                "pci device addresses must be unique",
                field_path=".pci",
            ),
            cel(
                "self.mdev.all(m, self.mdev.exists_one(n, n.uuid == m.uuid))",
                "mdev device uuids must be unique",
                field_path=".mdev",
            ),
            cel(
                "!has(self.memoryBalloon) || !isQuantity(self.memoryBalloon) || !isQuantity(self.memory) || "
                "quantity(self.memoryBalloon).compareTo(quantity(self.memory)) <= 0",
                "memoryBalloon must not exceed memory",
                field_path=".memoryBalloon",
            ),
            cel(
                "!has(self.cloudInit) || self.disks.filter(d, d.bus == 'ide').size() < 3",
                "cloudInit takes an IDE slot at every start: at most 2 ide disks beside it",
                field_path=".cloudInit",
            ),
            cel(
                "!(has(self.console) && has(self.console.vnc) && has(self.meta) && has(self.meta.vnc))",
                "set console.vnc or meta.vnc, not both",
                field_path=".console",
                reason=FORBIDDEN,
            ),
            # Transition rules. `self == oldSelf` on an optional field runs only when old and new
            # both have it, so a removal needs a rule on the parent.
            cel("!has(oldSelf.adopt) || has(self.adopt)", "adopt cannot be removed", field_path=".adopt"),
            cel("!has(oldSelf.template) || has(self.template)", "template cannot be removed", field_path=".template"),
        )
    }


class DiskStatus(ApiModel):
    name: str = Field(description="the disk's name in spec.disks")
    volume: str = Field(description="volume uuid on the platform")


class InterfaceStatus(ApiModel):
    name: str = Field(description="the NIC's name in spec.interfaces")
    mac: str = Field(description="its MAC address")


class UsbStatus(ApiModel):
    name: str = Field(description="the device's name in spec.usb")
    bus: int = Field(description="its bus on the VM")
    port: int = Field(description="its port on the VM")


class PciStatus(ApiModel):
    name: str = Field(description="the device's name in spec.pci")
    address: str = Field(description="its host PCI address")


class MdevStatus(ApiModel):
    name: str = Field(description="the device's name in spec.mdev")
    uuid: str = Field(description="its uuid on the host")


Phase = Literal[
    "Pending",
    "Creating",
    "Provisioning",
    "Running",
    "Stopped",
    "Suspended",
    "Hibernated",
    "Updating",
    "Migrating",
    "Deleting",
    "Failed",
    "Lost",
    "Conflict",
]


class VirtualMachineStatus(ApiModel):
    """What vmop sees on the platform, and how reconciling went."""

    observed_generation: int | None = Field(default=None, description="the .metadata.generation this status is for")
    phase: Phase | None = Field(default=None, description="what the VM is doing, in one word")
    uuid: str | None = Field(default=None, description="the VM's uuid on the platform")
    provider: str | None = recorded_provider_field()
    cluster: str | None = Field(default=None, description="the cluster the VM is in (after a migration, the new one)")
    tenant: str | None = Field(default=None, description="the tenant the VM is in")
    name: str | None = Field(default=None, description="the VM's name on the platform")
    host: str | None = Field(default=None, description="host uuid it runs on")
    state: str | None = Field(default=None, description="platform state: running, shutoff, paused, ...")
    action: str | None = Field(default=None, description="platform action: noaction, migrating, cloning, ...")
    agent: str | None = Field(default=None, description="guest agent: connected, disconnected, pending")
    ips: list[str] | None = Field(default=None, description="the guest's IP addresses")
    macs: list[str] | None = Field(default=None, description="the NICs' MAC addresses")
    volumes: list[str] | None = Field(default=None, description="uuids of the VM's volumes")
    cpus: int | None = Field(default=None, description="vCPUs online")
    memory: str | None = Field(default=None, description="RAM as the platform has it")
    group: str | None = Field(default=None, description="platform group uuid")
    conditions: list[Condition] | None = Field(
        default=None, description="Ready, Synced, RestartRequired (see docs/operations.md for kubectl wait)"
    )
    last_error: LastError | None = None
    progress: Progress | None = None
    disks: list[DiskStatus] | None = Field(default=None, description="disks vmop made or attached, by name")
    interfaces: list[InterfaceStatus] | None = Field(default=None, description="NICs vmop made, by name")
    usb: list[UsbStatus] | None = Field(default=None, description="USB devices vmop attached, by name")
    pci: list[PciStatus] | None = Field(default=None, description="PCI devices vmop attached, by name")
    mdev: list[MdevStatus] | None = Field(default=None, description="mdev devices vmop attached, by name")
    memory_balloon: str | None = Field(
        default=None, description="the memory balloon vmop last set (balloon/set): the platform does not show it"
    )
    cloud_init_digest: str | None = Field(
        default=None, description="sha256 of the cloud-init data last sent (never the data itself)"
    )
    cloud_init_shown_digest: str | None = Field(
        default=None,
        description="sha256 of the cloud-init data the platform showed after vmop last sent it (its form of it): "
        "other data shown later is drift, set again",
    )
    console_password_digest: str | None = Field(
        default=None, description="sha256 of the console password last set (never the password itself)"
    )
    pending_changes: list[str] | None = Field(default=None, description="fields the next power cycle applies")
    create_pending_since: str | None = Field(
        default=None,
        description="a create was sent (or is about to be) at this time and its outcome is not known yet (RFC 3339)",
    )
    last_create_time: str | None = Field(
        default=None, description="when vmop last created a VM for this object (RFC 3339): the duplicate guard's clock"
    )
    lost_since: str | None = Field(
        default=None, description="first seen missing from every cluster it may be in (RFC 3339)"
    )
    shutdown_requested_at: str | None = Field(default=None, description="graceful shutdown sent at (RFC 3339)")
    reconcile_requested: str | None = Field(default=None, description="the handled vmop.io/reconcile-request value")
    restart_requested: str | None = Field(default=None, description="the handled vmop.io/restart value")
