"""What the platform says about one VM, in the planner's terms (built from list or inspect)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vmop.compute.models import ComputeInfo, ComputeInspectInfo, Interface, PCIDevice
from vmop.compute.rules import BUSY_ACTIONS, is_hibernated


@dataclass(frozen=True)
class ObservedDisk:
    device: str
    bus: str
    volume: str
    capacity: int
    cache_mode: str = ""


@dataclass(frozen=True)
class ObservedNic:
    mac: str
    network: str
    port_group: str
    model: str
    vlan_ids: tuple[int, ...] = ()
    inbound: tuple[int, int, int] = (0, 0, 0)
    outbound: tuple[int, int, int] = (0, 0, 0)
    bound_ip: str = ""
    switch: str = ""
    interface_id: str = ""  # what ip_mac_bind/update names the NIC by ("": not reported)


@dataclass(frozen=True)
class ObservedUsb:
    bus: int
    port: int
    source_type: str  # "redirect", "pass_through", "spice_vmc" (the doc's example shows only the last)


@dataclass(frozen=True)
class ObservedMdev:
    uuid: str
    model: str = ""  # "": not reported
    display: str = ""  # "on", "off"; "": not reported


@dataclass(frozen=True)
class Shape:
    """Inspect-only details: absent when only the (cheap) list was read."""

    cpu_sockets: int
    cpu_cores: int
    cpu_current: int
    memory: int
    disks: tuple[ObservedDisk, ...]
    nics: tuple[ObservedNic, ...]
    cdrom: str
    boot_order: tuple[str, ...]
    ha_mode: str
    os_loader: str
    cdrom_repository: str = ""
    baseline: str = ""
    # Options the platform may leave out: None (or "") is "not reported", never compared.
    vnc: bool | None = None
    memory_security: bool | None = None
    panic_model: str = ""  # "isa" or "none", read from inspect's "panic"
    floppy: str = ""  # the image in the floppy drive
    floppy_repository: str = ""
    usbs: tuple[ObservedUsb, ...] = ()
    pci: tuple[str, ...] = ()  # host PCI addresses passed through, as spec.pci writes them
    mdevs: tuple[ObservedMdev, ...] = ()
    cpu_reserve: bool | None = None
    memory_reserve: bool | None = None
    compression: str = ""  # vgpu/set's image compression ("": not reported)
    streaming: str = ""  # vgpu/set's streaming mode


# inspect shows the panic device as "panic": "on" (the doc's example, for a VM made with
# panic_model "isa"); ComputeMeta: "isa为开启，none为关闭" (isa is on, none is off). "off" is read
# as "none" from that sentence; the doc shows no example of it. Any other value: not reported.
PANIC_MODELS = {"on": "isa", "off": "none"}


@dataclass(frozen=True)
class Observed:
    uuid: str
    name: str
    cluster: str
    tenant: str
    state: str
    action: str
    agent: str
    host: str
    group: str
    os: str
    created_at: int
    ips: tuple[str, ...] = ()
    macs: tuple[str, ...] = ()
    memory_hint: int = 0  # from list statistics, when the shape is unknown
    cpu_hint: int = 0
    volumes_hint: tuple[str, ...] | None = None  # when the shape is unknown: those vmop's calls left (None: unknown)
    zone: str = ""
    type: str = ""
    nested: bool | None = None  # virt_nested_enable; None: not reported
    cloud_init: str | None = None  # digest of the platform's cloud-init data (cloud_init/get), when read
    shape: Shape | None = field(default=None, compare=False)

    @property
    def busy(self) -> bool:
        return self.action in BUSY_ACTIONS

    @property
    def hibernated(self) -> bool:
        return is_hibernated(self.state, self.action)

    @property
    def cpus(self) -> int:
        return self.shape.cpu_current if self.shape else self.cpu_hint

    @property
    def memory(self) -> int:
        return self.shape.memory if self.shape else self.memory_hint

    @property
    def volumes(self) -> tuple[str, ...] | None:
        return tuple(d.volume for d in self.shape.disks) if self.shape else self.volumes_hint


def pci_address(device: PCIDevice) -> str:
    """A PCIDevice as spec.pci's address: domain:bus:slot.function in lower-case hex (lspci -D)."""
    return f"{device.domain:04x}:{device.bus:02x}:{device.slot:02x}.{device.function:x}"


def _bounds(nic: Interface) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    def triple(b: object) -> tuple[int, int, int]:
        return (b.average, b.peak, b.burst) if b is not None else (0, 0, 0)  # type: ignore[attr-defined]

    return triple(nic.in_bount), triple(nic.out_bount)


def from_list(info: ComputeInfo) -> Observed:
    nics = info.interface
    stats = info.statistic
    return Observed(
        uuid=info.uuid,
        name=info.name,
        cluster=info.cluster_uuid,
        tenant=info.tenant,
        state=info.state,
        action=info.action,
        agent=info.ga_state,
        host=info.machine_uuid,
        group=info.object_group,
        os=info.os,
        created_at=info.create_time,
        ips=tuple(info.interface_ips),
        macs=tuple(n.mac_address for n in nics),
        memory_hint=int(stats.mem.logical) if stats and stats.mem else 0,
        cpu_hint=int(stats.cpu.logical) if stats and stats.cpu else 0,
        zone=info.zone,
        type=info.type,
        nested=info.virt_nested_enable,
    )


def from_inspect(info: ComputeInspectInfo) -> Observed:
    base = from_list(info)
    nics = tuple(
        ObservedNic(
            mac=n.mac_address,
            network=n.interface_type,
            port_group=n.port_group,
            model=n.interface_model_type,
            vlan_ids=tuple(n.vlan_tag_ids),
            inbound=_bounds(n)[0],
            outbound=_bounds(n)[1],
            bound_ip=n.bound_ip,
            switch=n.switch_uuid,
            interface_id=n.interface_id,
        )
        for n in info.interfaces
    )
    shape = Shape(
        cpu_sockets=info.cpu_sockets,
        cpu_cores=info.cpu_socket_cores,
        cpu_current=info.cpu_current,
        memory=info.mem_size,
        disks=tuple(
            ObservedDisk(d.disk_target_device, d.disk_target_bus, d.volume_uuid(), d.capacity(), d.disk_cache_mode)
            for d in info.disks
        ),
        nics=nics,
        cdrom=str((info.cdrom or {}).get("name", "")),
        boot_order=tuple(info.device_order),
        ha_mode=info.ha_mode,
        os_loader=info.os_loader_path,
        cdrom_repository=str((info.cdrom or {}).get("repository_uuid", "")),
        baseline=info.baseline,
        vnc=info.vnc_enable,
        memory_security=info.mem_sec_enabled,
        panic_model=PANIC_MODELS.get(info.panic, ""),
        floppy=str((info.floppy or {}).get("name", "")),
        floppy_repository=str((info.floppy or {}).get("repository_uuid", "")),
        usbs=tuple(ObservedUsb(u.bus, u.port, u.source_type) for u in info.usbs),
        pci=tuple(pci_address(d) for d in info.pci_devices),
        mdevs=tuple(ObservedMdev(d.src_address_uuid, d.model, d.display) for d in info.mdev_devices),
        cpu_reserve=info.cpu_reserve_enable,
        memory_reserve=info.memory_reserve_enable,
        compression=info.compression_mode,
        streaming=info.streaming_mode,
    )
    return Observed(**{**base.__dict__, "macs": tuple(n.mac for n in nics), "shape": shape})
