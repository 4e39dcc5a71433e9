"""The simulated platform's state: clusters, hosts, tenants, pools, networks, templates, VMs,
volumes and groups. Seeded from the doc's example ids, overridable by a seed file.

Time-based effects (boot, guest shutdown, migration, clone) are scheduled as transitions and
applied lazily by :meth:`World.advance`, so the simulator needs no background tasks and tests
can drive a fake clock.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field

from vmop.compute.models import CloudInitData, ComputeVideo, Disk, Interface, MdevDevice, PCIDevice
from vmop.compute.rules import DEFAULT_GROUP_NAME

SIM_NAMESPACE = uuidlib.UUID("6f1d1a8e-3c55-4a57-9a58-1f0c2b7d9e10")


def derived_uuid(*parts: str) -> str:
    """A stable uuid for things the seed leaves implicit (namespaces, default groups)."""
    return str(uuidlib.uuid5(SIM_NAMESPACE, "/".join(parts)))


# ---------------------------------------------------------------- seed (the file format)


class SeedHost(BaseModel):
    uuid: str
    name: str
    ip: str


class SeedCluster(BaseModel):
    uuid: str
    name: str
    hosts: list[SeedHost]


class SeedTenant(BaseModel):
    uuid: str
    name: str
    # Namespace uuid per cluster uuid; derived when missing.
    namespaces: dict[str, str] = Field(default_factory=dict)


class SeedNamed(BaseModel):
    uuid: str
    name: str
    cluster_uuid: str


class SeedPortGroup(SeedNamed):
    network: str
    vlan_tag_ids: list[int] = Field(default_factory=list)


class SeedTemplate(SeedNamed):
    os: str = "CentOS x64"
    cpu_sockets: int = 1
    cpu_socket_cores: int = 1
    mem_size: int = 1024**3
    disk_capacity: int = 20 * 1024**3
    pool_uuid: str = ""


class SeedImage(BaseModel):
    uuid: str
    name: str
    repository_uuid: str


class SeedGroup(BaseModel):
    uuid: str
    name: str
    cluster_uuid: str
    tenant: str
    parent: str = ""  # "" = top level


class SeedVm(BaseModel):
    uuid: str
    name: str
    cluster_uuid: str
    tenant: str
    state: str = "shutoff"
    action: str = "noaction"
    ga_state: str = "disconnected"
    os: str = "CentOS x64"


class Seed(BaseModel):
    clusters: list[SeedCluster]
    tenants: list[SeedTenant]
    zones: list[SeedNamed]
    pools: list[SeedNamed]
    port_groups: list[SeedPortGroup]
    templates: list[SeedTemplate] = Field(default_factory=list)
    images: list[SeedImage] = Field(default_factory=list)
    groups: list[SeedGroup] = Field(default_factory=list)
    vms: list[SeedVm] = Field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Seed:
        return cls.model_validate(yaml.safe_load(path.read_text()))


def default_seed() -> Seed:
    """The doc's example ids, so its requests find what they name."""
    c1, c2, c3 = (
        "c27a25bc-5da2-430f-bfaf-6c8d33f21128",
        "650ea11b-b7fb-4269-8232-aa53865aab3b",
        "bdc01c45-973c-4b7b-a565-7a03c74379e4",
    )
    ycb1 = "a5badacf-a25c-4171-9aff-b619fc2d300a"
    return Seed(
        clusters=[
            SeedCluster(
                uuid=c1,
                name="host3223-cvm3323",
                hosts=[
                    SeedHost(uuid="200e3364-e720-47e4-8b12-734422d6eae3", name="host3223", ip="10.30.32.23"),
                    SeedHost(uuid="6ae9e142-f476-465f-868b-6026cddcd714", name="host3225", ip="10.30.33.25"),
                ],
            ),
            SeedCluster(
                uuid=c2,
                name="host3222-cvm3322",
                hosts=[
                    SeedHost(uuid="3d1c6f0e-5d0b-4a43-9d7e-2a6f1b8c9e01", name="host3224", ip="10.30.32.24"),
                    SeedHost(uuid="963b6fd4-487e-4436-95c4-21a67aca5eaf", name="host3222", ip="10.30.32.22"),
                ],
            ),
            SeedCluster(
                uuid=c3,
                name="host1250-cvm1250",
                hosts=[
                    SeedHost(uuid="0b7e9a55-41c2-4f7a-8f3e-5c2d1a9b8e02", name="host1250", ip="10.30.12.150"),
                ],
            ),
        ],
        tenants=[
            SeedTenant(
                uuid=ycb1,
                name="ycb1",
                namespaces={c1: "0d16efa9-5652-4226-8086-e4cac3c545f9", c2: "91a57ba2-2904-4c90-bc16-85ecbbad815f"},
            ),
            SeedTenant(
                uuid="a0313629-10fd-48dc-9e92-5dff744a3c0e",
                name="tenant-a031",
                namespaces={c3: "8ae9e9eb-dff9-4ecf-9306-c9e1c98764df"},
            ),
            SeedTenant(uuid="3fd90c32-f753-46b3-9b6b-9d67724c95c5", name="tenant-3fd9"),
            SeedTenant(uuid="e1170fde-f0fe-4f91-a568-ac4b84f00aad", name="tenant-e117"),
            SeedTenant(uuid="8f6dbbae-018d-442e-908f-6a8f2167971f", name="kobe"),
        ],
        zones=[
            SeedNamed(uuid="2871bab9-d6ed-4100-8d74-9c4442b52bb5", name="default", cluster_uuid=c1),
            SeedNamed(uuid="a6f8ad4a-3fdf-4cf6-8fda-90a8093f5316", name="default", cluster_uuid=c2),
            SeedNamed(uuid="5f0e2c1d-7a3b-4e8f-9c6d-1b2a3c4d5e03", name="default", cluster_uuid=c3),
        ],
        pools=[
            SeedNamed(uuid="42b3e3b6-b1d1-44c0-bf5c-b9cf73d594df", name="ycb1-1000", cluster_uuid=c1),
            SeedNamed(uuid="3a3b1a34-1926-4c45-b66e-b93f555c3199", name="pool-3a3b", cluster_uuid=c1),
            SeedNamed(uuid="7c2d9e4f-1a6b-4c3d-8e5f-9a0b1c2d3e04", name="pool-c2", cluster_uuid=c2),
            SeedNamed(uuid="8d3e0f5a-2b7c-4d4e-9f6a-0b1c2d3e4f05", name="pool-c3", cluster_uuid=c3),
        ],
        port_groups=[
            SeedPortGroup(
                uuid="239223b4-d21b-4b23-954f-796f17c75c49",
                name="32012345678901234567890123456789",
                cluster_uuid=c1,
                network="ycb123",
                vlan_tag_ids=[14],
            ),
            SeedPortGroup(
                uuid="edc39bfd-339e-4c78-a0b9-aac517d42b39",
                name="default",
                cluster_uuid=c1,
                network="mirror",
                vlan_tag_ids=[0],
            ),
            SeedPortGroup(
                uuid="439d8d6a-9a83-4884-a7d8-5a312d6495aa",
                name="voi端口组",
                cluster_uuid=c2,
                network="dsfwd",
                vlan_tag_ids=[200],
            ),
            SeedPortGroup(
                uuid="9e4f1a6b-3c8d-4e5f-8a7b-1c2d3e4f5a06",
                name="default",
                cluster_uuid=c3,
                network="mgmt",
                vlan_tag_ids=[0],
            ),
        ],
        templates=[
            SeedTemplate(
                uuid="d2c90a85-21c7-43c6-a9db-ad50eab6362c",
                name="centos7-template",
                cluster_uuid=c1,
                cpu_socket_cores=2,
                pool_uuid="3a3b1a34-1926-4c45-b66e-b93f555c3199",
            ),
        ],
        images=[
            SeedImage(
                uuid="caf1c032-8812-430f-98c3-f2117e3affe0",
                name="xenial-server-cloudimg-amd64-disk1.img",
                repository_uuid="15dd8b65-d4be-434f-92f9-88d13264e4f6",
            ),
            SeedImage(
                uuid="0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c07",
                name="centos7x64.iso",
                repository_uuid="c5c6e82d-e7ea-47bc-b422-f2d9c767b080",
            ),
            SeedImage(  # floppy/attach's example
                uuid="1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d08",
                name="virt.vfd",
                repository_uuid="c5c6e82d-e7ea-47bc-b422-f2d9c767b080",
            ),
        ],
        groups=[
            SeedGroup(
                uuid="e9017aa7-e19b-47b0-b638-e639aa9451c6", name=DEFAULT_GROUP_NAME, cluster_uuid=c1, tenant=ycb1
            ),
            SeedGroup(
                uuid="0a5d3331-d9fe-4f6a-9c90-879dde781794", name=DEFAULT_GROUP_NAME, cluster_uuid=c2, tenant=ycb1
            ),
            SeedGroup(
                uuid="a1735326-a5fe-4c0f-8294-b6822bd0b105",
                name=DEFAULT_GROUP_NAME,
                cluster_uuid=c3,
                tenant="a0313629-10fd-48dc-9e92-5dff744a3c0e",
            ),
            SeedGroup(
                uuid="eefcd799-3c9f-46fa-aa48-d2cc65d944a6",
                name="apps",
                cluster_uuid=c1,
                tenant="3fd90c32-f753-46b3-9b6b-9d67724c95c5",
            ),
        ],
        vms=[
            SeedVm(uuid="b31d4319-476a-4f67-9c37-3cf5f4d54f0f", name="test-clone", cluster_uuid=c1, tenant=ycb1),
            SeedVm(
                uuid="8af4efa0-a175-4ffd-8859-deb355df3051",
                name="red22",
                cluster_uuid=c1,
                tenant="e1170fde-f0fe-4f91-a568-ac4b84f00aad",
                state="running",
                ga_state="connected",
            ),
        ],
    )


# ---------------------------------------------------------------- live state


@dataclass
class Host:
    """A host, with the devices it could pass through (the same made-up set on every host: the
    seed file does not list devices)."""

    uuid: str
    name: str
    ip: str
    cluster_uuid: str
    # PCI addresses -> whether the device supports passthrough (0000:00:00.0 is the doc's example;
    # 0000:00:1f.0, an ISA bridge, does not).
    pci: dict[tuple[int, int, int, int], bool] = field(
        default_factory=lambda: {(0, 0, 0, 0): True, (0, 0x3B, 0, 0): True, (0, 0, 0x1F, 0): False}
    )
    mdevs: list[str] = field(default_factory=list)  # mdev uuids, derived from the host's
    usb: list[tuple[int, int]] = field(default_factory=lambda: [(1, 2), (1, 3)])  # (bus, device)


class UsbPort(BaseModel):
    """A usb port of a VM in use: a device passed through or redirected from a host, or a spice vmc port."""

    bus: int
    port: int
    source_type: str  # "pass_through", "redirect", "spice_vmc" (the doc's example shows only the last)
    source_usb_host_uuid: str = ""
    source_usb_bus: int = 0
    source_usb_device: int = 0


def default_usb_ports() -> list[UsbPort]:
    """The doc: bus 2 port 4 is a spice vmc port by default (removable); bus 0 port 1 is taken
    too, by a device inspect does not list (sim/devices.py keeps it reserved)."""
    return [UsbPort(bus=2, port=4, source_type="spice_vmc")]


@dataclass
class Volume:
    uuid: str
    name: str
    pool_uuid: str
    capacity: int
    cluster_uuid: str
    vm_uuid: str = ""
    trashed: bool = False


@dataclass
class Group:
    uuid: str
    name: str
    cluster_uuid: str
    tenant: str
    namespace: str
    parent: str = ""  # a group uuid, or "" at the tenant's top level


@dataclass
class Migration:
    kind: str  # "migrate" | "cross_cluster"
    started: float
    duration: float
    fails: bool
    destination_host: str
    destination_cluster: str = ""
    destination_tenant: str = ""
    destination_group: str = ""
    destination_zone: str = ""


@dataclass
class Vm:
    uuid: str
    name: str
    cluster_uuid: str
    tenant: str
    namespace: str
    zone: str = ""
    object_group: str = ""
    os: str = "CentOS x64"
    type: str = "GUS"
    host: str = ""
    state: str = "shutoff"
    action: str = "noaction"
    ga_state: str = "disconnected"
    cpu_current: int = 1
    cpu_sockets: int = 1
    cpu_socket_cores: int = 1
    baseline: str = ""
    mem_size: int = 1024**3
    mem_max: int = 256 * 1024**3
    disks: list[Disk] = field(default_factory=list)
    interfaces: list[Interface] = field(default_factory=list)
    cdrom: dict[str, Any] = field(default_factory=dict)
    floppy: dict[str, Any] = field(default_factory=dict)
    device_order: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    video: list[ComputeVideo] = field(default_factory=lambda: [ComputeVideo(model_type="vga", ram_size=131072)])
    # Secrets: never in a repr (test failures print VMs). The passwords are kept in the
    # "encrypted" form they were given in, which inspect shows (the doc's example does).
    cloud_init: CloudInitData | None = field(default=None, repr=False)
    vnc_password: str = field(default="", repr=False)
    spice_password: str = field(default="", repr=False)
    cloud_init_device: str = ""  # the IDE slot a start with cloud_init=true took, until power-off
    compression_mode: str = "glz"  # vgpu/set; defaults from the doc's inspect example
    streaming_mode: str = "filter"
    balloon: int | None = None  # balloon/set; inspect shows no balloon field
    cpu_reserve: bool = False
    memory_reserve: bool = False
    pci_devices: list[PCIDevice] = field(default_factory=list)
    mdev_devices: list[MdevDevice] = field(default_factory=list)
    usbs: list[UsbPort] = field(default_factory=default_usb_ports)
    device_name: str = ""  # alter/device_name
    create_time: int = 0
    modify_time: int = 0
    deleted_time: int = 0  # non-zero: in the recycle bin
    migration: Migration | None = None
    clone_started: float = 0.0
    clone_duration: float = 0.0

    @property
    def cpu_max(self) -> int:
        return self.cpu_sockets * self.cpu_socket_cores

    @property
    def passthrough(self) -> bool:
        """Whether a host device is passed through: the VM then stays on its host, without HA."""
        return bool(self.pci_devices or self.mdev_devices or any(u.source_type == "pass_through" for u in self.usbs))

    @property
    def trashed(self) -> bool:
        return self.deleted_time != 0


@dataclass
class Transition:
    due: float
    apply: Callable[[], None]
    tag: str


@dataclass
class LogEntry:
    uuid: str
    vm_uuid: str
    vm_name: str
    ctime: int
    message: str


class World:
    def __init__(self, seed: Seed, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.clusters = {c.uuid: c.name for c in seed.clusters}
        self.hosts = {
            h.uuid: Host(h.uuid, h.name, h.ip, c.uuid, mdevs=[derived_uuid("mdev", h.uuid)])
            for c in seed.clusters
            for h in c.hosts
        }
        self.tenants = {t.uuid: t for t in seed.tenants}
        self.zones = {z.uuid: z for z in seed.zones}
        self.pools = {p.uuid: p for p in seed.pools}
        self.port_groups = {p.uuid: p for p in seed.port_groups}
        self.templates = {t.uuid: t for t in seed.templates}
        self.images = {i.uuid: i for i in seed.images}
        self.volumes: dict[str, Volume] = {}
        self.groups: dict[str, Group] = {}
        self.vms: dict[str, Vm] = {}
        self.logs: list[LogEntry] = []
        self.transitions: list[Transition] = []
        self._serial = 0
        for g in seed.groups:
            self.groups[g.uuid] = Group(
                g.uuid, g.name, g.cluster_uuid, g.tenant, self.namespace_of(g.cluster_uuid, g.tenant), g.parent
            )
        for v in seed.vms:
            vm = self.new_vm(v.uuid, v.name, v.cluster_uuid, v.tenant, os=v.os)
            vm.state, vm.action, vm.ga_state = v.state, v.action, v.ga_state
            if vm.state != "shutoff":
                vm.host = self.first_host(vm.cluster_uuid)

    # ------------------------------------------------------------ lookups

    def now(self) -> float:
        return self.clock()

    def next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def namespace_of(self, cluster_uuid: str, tenant: str) -> str:
        seeded = self.tenants.get(tenant)
        if seeded is not None and cluster_uuid in seeded.namespaces:
            return seeded.namespaces[cluster_uuid]
        return derived_uuid("namespace", cluster_uuid, tenant)

    def default_zone(self, cluster_uuid: str) -> str:
        """The resource pool a VM created without one is in: the doc's list shows every VM in one."""
        return next((z.uuid for z in self.zones.values() if z.cluster_uuid == cluster_uuid), "")

    def default_group(self, cluster_uuid: str, tenant: str) -> Group:
        """Every (cluster, tenant) has a top-level ``default`` group; made on first use."""
        for group in self.groups.values():
            if (group.cluster_uuid, group.tenant, group.name, group.parent) == (
                cluster_uuid,
                tenant,
                DEFAULT_GROUP_NAME,
                "",
            ):
                return group
        group = Group(
            derived_uuid("default-group", cluster_uuid, tenant),
            DEFAULT_GROUP_NAME,
            cluster_uuid,
            tenant,
            self.namespace_of(cluster_uuid, tenant),
        )
        self.groups[group.uuid] = group
        return group

    def first_host(self, cluster_uuid: str) -> str:
        return next((h.uuid for h in self.hosts.values() if h.cluster_uuid == cluster_uuid), "")

    def new_vm(self, vm_uuid: str, name: str, cluster_uuid: str, tenant: str, **fields: Any) -> Vm:
        now = int(self.now())
        vm = Vm(
            vm_uuid,
            name,
            cluster_uuid,
            tenant,
            self.namespace_of(cluster_uuid, tenant),
            create_time=now,
            modify_time=now,
            **fields,
        )
        if not vm.object_group:
            vm.object_group = self.default_group(cluster_uuid, tenant).uuid
        self.vms[vm.uuid] = vm
        return vm

    def log(self, vm: Vm, message: str) -> None:
        self.logs.append(LogEntry(str(uuidlib.uuid4()), vm.uuid, vm.name, int(self.now()), message))

    # ------------------------------------------------------------ time

    def schedule(self, delay: float, apply: Callable[[], None], tag: str) -> None:
        self.transitions.append(Transition(self.now() + delay, apply, tag))

    def cancel(self, tag: str) -> None:
        self.transitions = [t for t in self.transitions if t.tag != tag]

    def advance(self) -> None:
        """Apply every scheduled effect whose time has come, in due order."""
        now = self.now()
        while True:
            due = [t for t in self.transitions if t.due <= now]
            if not due:
                return
            first = min(due, key=lambda t: t.due)
            self.transitions.remove(first)
            first.apply()
