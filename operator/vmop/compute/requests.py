"""Request bodies and queries of the compute API endpoints vmop uses (one model per shape)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, SecretStr, SerializationInfo, field_serializer, model_validator

from vmop.compute.models import (
    CloudInitData,
    ClusterTenantScope,
    ComputeIdentifier,
    ComputeMeta,
    ComputeVideo,
    Disk,
    DiskBlockSource,
    DiskPassthroughSource,
    DiskVolumeSource,
    DiskVsdSource,
    Interface,
    InterfaceBound,
    MdevDevice,
    NullableList,
    NullableStr,
    PCIDevice,
    RequestModel,
    WireModel,
    secret_text,
)

# ---------------------------------------------------------------- queries (GET)


class ListQuery(RequestModel):
    """GET /v1/compute/list: every filter of the doc; empty cluster/tenant means all."""

    cluster_uuid: str = ""
    tenant: str = ""
    include_trash_vm: bool = False
    page_number: int = Field(default=0, ge=0)
    page_num: int = Field(default=0, ge=0, description="page_number as the doc's request example spells it")
    page_size: int = Field(default=0, description="the doc: not greater than 0 means no paging")
    filter_name: str = ""
    filter_uuid: str = ""
    filter_user_uuid: str = ""
    filter_host_type: str = ""
    filter_no_external_storage: bool = False
    filter_vm_ip: str = ""
    filter_mac_address: str = ""
    filter_object_group: str = ""
    filter_fuzzy: str = ""
    filter_zone: str = ""
    filter_recover_to_related_zones: int = 0
    filter_state: str = ""
    filter_agent: str = ""
    filter_action: str = ""


class InspectQuery(RequestModel):
    cluster_uuid: str = Field(min_length=1)
    tenant: str = ""
    compute_uuid: str = Field(min_length=1)
    include_trash_vm: bool = False


class DetailQuery(RequestModel):
    cluster_uuid: str = Field(min_length=1)
    tenant: str = ""
    compute_uuid: str = Field(min_length=1)


class StateSummaryQuery(RequestModel):
    cluster_uuid: str = Field(min_length=1)
    tenant: str = ""
    filter_machine_uuid: str = ""


class GroupInspectQuery(RequestModel):
    cluster_uuid: str = Field(min_length=1)
    tenant: str = ""
    group_uuid: str = Field(min_length=1)


class GroupTreeQuery(RequestModel):
    cluster_uuid: str = ""
    tenant: str = ""


class CloudInitQuery(DetailQuery):
    """GET cloud_init/get."""


class ScreenshotListQuery(DetailQuery):
    """GET list/screenshot."""


class SupportConfigQuery(RequestModel):
    """GET vm/create/support/config: ``zone`` only changes the baseline and redundancy fields."""

    cluster_uuid: str = Field(min_length=1)
    zone: str = ""


# ---------------------------------------------------------------- one VM (POST)


class PowerRequest(ComputeIdentifier):
    """shutdown, shutoff, reboot, reset, suspend, resume, save, restore."""

    exclusive_desktop_uuid: str = ""


class StartRequest(PowerRequest):
    cloud_init: bool = False
    is_repair: bool = False


class DeleteRequest(PowerRequest):
    real_delete: bool = False
    is_delete_volumes: bool = False


class VcpuSetRequest(ComputeIdentifier):
    cpu_current: int | None = Field(default=None, ge=1)
    cpu_max: int | None = Field(default=None, ge=1)
    cpu_sockets: int | None = Field(default=None, ge=1)
    cpu_socket_cores: int | None = Field(default=None, ge=1)


class VmemorySetRequest(ComputeIdentifier):
    vmemory: int = Field(ge=1)


class MetaSetRequest(ComputeIdentifier):
    meta: ComputeMeta | None = None
    kvm_clock_enable: bool | None = None
    virt_nested_enable: bool | None = None
    memory_huge_pages_enable: bool | None = None
    expand_config: dict[str, Any] | None = None
    baseline: str | None = None
    data_localization_mode: str | None = None
    object_group: str | None = None
    os: str | None = None


class BootOrderSetRequest(ComputeIdentifier):
    device_order: list[str]


class DiskAttachRequest(ComputeIdentifier):
    target_device: NullableStr = ""
    target_bus: NullableStr = ""
    source_volume: DiskVolumeSource | None = None
    source_vsd: DiskVsdSource | None = None
    disk_block_source: DiskBlockSource | None = None
    disk_source_passthrough: DiskPassthroughSource | None = None
    disk_cache_mode: NullableStr = ""

    def sources(self) -> list[WireModel]:
        candidates = (self.source_volume, self.source_vsd, self.disk_block_source, self.disk_source_passthrough)
        return [s for s in candidates if s is not None]


class DiskUpdateRequest(ComputeIdentifier):
    old_disk: Disk
    new_disk: Disk


class DiskDetachRequest(ComputeIdentifier):
    target_device: str = Field(min_length=1)


class InterfaceAttachRequest(ComputeIdentifier, Interface):
    zone: str = ""


class InterfaceDetachRequest(ComputeIdentifier):
    mac_address: str = Field(min_length=1)


class InterfaceSetQosRequest(ComputeIdentifier):
    mac_address: str = Field(min_length=1)
    in_bount: InterfaceBound | None = None
    out_bount: InterfaceBound | None = None


class CdromAttachRequest(ComputeIdentifier):
    source_network_name: str = Field(min_length=1)
    repository_uuid: str = Field(min_length=1)


class FloppyAttachRequest(CdromAttachRequest):
    """floppy/attach: the same fields as cdrom/attach (the doc calls the image "光驱镜像名" there too)."""


# ---------------------------------------------------------------- network changes in place


class ModifyNetworkRequest(ComputeIdentifier, Interface):
    """modify/network: the NIC named by ``mac_address`` (the doc's example; its text says only
    "Interface") moves to another local network, port group or VLAN. Never to or from VPC."""


class InterfaceMacUpdateRequest(ComputeIdentifier):
    old_mac_address: str = Field(min_length=1)
    new_mac_address: str = Field(min_length=1)


IpMacPeer = Literal["", "mac", "none"]


class IpMacBindRequest(ComputeIdentifier):
    """ip_mac_bind/update: ``peer`` "" leaves the binding as it is, "mac" binds MAC and IP, any
    other value unbinds (vmop sends "none"). Interface's own description of ``peer`` says ""
    means "not bound": this endpoint's reading is used here."""

    interface_id: str = Field(min_length=1)
    mac_address: str = Field(min_length=1)
    bound_ip: str = ""
    peer: IpMacPeer = ""


# ---------------------------------------------------------------- console, devices, resources


class BalloonSetRequest(ComputeIdentifier):
    memory: int | None = Field(default=None, ge=0, description="bytes; 0 is allowed")


GraphicsCompression = Literal["off", "auto_glz", "auto_lz", "quic", "glz", "lz", "lz4"]
GraphicsStreaming = Literal["filter", "all", "off"]


class VgpuSetRequest(ComputeIdentifier):
    """vgpu/set, which the doc calls "设置虚拟机图形接口": spice image compression and streaming,
    not a vGPU (mdev/attach passes those through)."""

    compression: GraphicsCompression | None = None
    mode: GraphicsStreaming | None = None


class GraphicsPasswordSetRequest(ComputeIdentifier):
    """The doc: each password is "加密后的字符串" (already encrypted; how, it does not say), and a
    password left out is not changed. Both are secrets: repr shows '**********', validation
    errors never quote them, the client removes them from the platform's words."""

    model_config = ConfigDict(hide_input_in_errors=True)

    vnc_password: SecretStr | None = None
    spice_password: SecretStr | None = None

    @field_serializer("vnc_password", "spice_password", when_used="json")
    def _plain(self, value: SecretStr | None, info: SerializationInfo) -> str | None:
        return secret_text(value, info)


class CloudInitSetRequest(ComputeIdentifier):
    model_config = ConfigDict(hide_input_in_errors=True)

    cloud_init_data: CloudInitData


class PciDeviceRequest(ComputeIdentifier):
    pci_device: PCIDevice


class MdevDeviceRequest(ComputeIdentifier):
    mdev_device: MdevDevice


class UsbAttachment(RequestModel):
    """AttachUSBSingleRequest: exactly one of the three sources, with only its own fields. A port
    left out is chosen by the platform on that bus (bus 0: usb1.1, ports 1-2, 1 taken; bus 1:
    usb2.0, ports 1-6; bus 2: usb3.0, ports 1-4, 4 taken by a spice vmc port by default)."""

    pass_through_usb_bus: int | None = Field(default=None, ge=0, le=2)
    pass_through_usb_port: int | None = Field(default=None, ge=1)
    redirect_usb_bus: int | None = Field(default=None, ge=0, le=2)
    redirect_usb_port: int | None = Field(default=None, ge=1)
    spice_vmc_usb_bus: int | None = Field(default=None, ge=0, le=2)
    spice_vmc_usb_port: int | None = Field(default=None, ge=1)
    source_usb_host_uuid: str | None = None
    source_usb_bus: int | None = Field(default=None, ge=0)
    source_usb_device: int | None = Field(default=None, ge=0)


class UsbAttachRequest(ComputeIdentifier):
    usb: list[UsbAttachment] = Field(min_length=1)


class UsbDetachRequest(ComputeIdentifier):
    target_bus: int = Field(ge=0, le=2)
    # Not marked required by the doc, which does not say what leaving it out does: vmop sends it.
    target_port: int = Field(ge=1)


class VideoAttachRequest(ComputeIdentifier):
    videos: list[ComputeVideo] = Field(min_length=1)


class VideoDetachRequest(ComputeIdentifier):
    heads: int = Field(ge=1, description="index of the video device; 0 cannot be removed")


class VideoEditRequest(ComputeIdentifier):
    """video/edit: the doc's text takes ``video`` (its ``heads`` the index of the device to edit),
    its example sends ``videos`` (a list). vmop sends both, the same device, so either reading
    finds it (the simulator's ``--video-edit-field`` plays each)."""

    video: ComputeVideo | None = None
    videos: list[ComputeVideo] | None = Field(default=None, min_length=1, max_length=1)

    @model_validator(mode="after")
    def _a_device(self) -> VideoEditRequest:
        if self.video is None and self.videos is None:
            raise ValueError("video/edit needs video (or videos)")
        return self


class CpuReserveRequest(ComputeIdentifier):
    cpu_reserve_enable: bool


class MemoryReserveRequest(ComputeIdentifier):
    """memory/reserve: the doc's body and example name ``memory_reserve_enable``, its parameter list
    ``cpu_reserve_enable`` (a copy of cpu/reserve's). vmop sends both with the same value; the
    simulator's ``--memory-reserve-field`` reads one of them."""

    memory_reserve_enable: bool | None = None
    cpu_reserve_enable: bool | None = None

    @model_validator(mode="after")
    def _a_value(self) -> MemoryReserveRequest:
        if self.memory_reserve_enable is None and self.cpu_reserve_enable is None:
            raise ValueError("memory/reserve needs memory_reserve_enable")
        return self


class AlterDeviceNameRequest(ComputeIdentifier):
    device_name: str = Field(min_length=1)


class ExportDisk(RequestModel):
    """ComputeExportDisk: one disk to export as an image (the doc: only one disk per call)."""

    image_name: str = Field(min_length=1, description="the image file name, with its suffix")
    image_type: Literal["raw", "qcow2", "qed", "vdi", "vpc", "vmdk"]
    device: str = Field(min_length=1)
    snapshot_uuid: str = ""
    repository_uuid: str = ""


class DiskExportRequest(ComputeIdentifier):
    disk: list[ExportDisk] = Field(min_length=1, max_length=1)
    compress: bool = False


class DiskExportProgressQuery(RequestModel):
    cluster_uuid: str = Field(min_length=1)
    tenant: str = ""
    compute_uuid: str = Field(min_length=1)


class CloneVsdDisk(WireModel):
    source_pool_uuid: str
    target_device: str


class CloneRequest(ComputeIdentifier):
    link: bool = False
    snapshot: NullableStr = ""
    component_cache: bool = False
    clone_name: str = Field(min_length=1)
    migrate_namespace: str = ""
    disks: NullableList[CloneVsdDisk] = Field(default_factory=list)
    clone_num: int = Field(default=1, ge=1)
    object_group: str = ""
    zone: str = ""


class MigrateRequest(ComputeIdentifier):
    destination: str = Field(min_length=1)


class CrossClusterMigrateRequest(ComputeIdentifier):
    destination_cluster: str = Field(min_length=1)
    destination_host_uuid: str = Field(min_length=1)
    destination_host_ip: str = Field(min_length=1)
    destination_tenant: str = Field(min_length=1)
    pool_uuid: str = Field(min_length=1)
    zone_uuid: str = Field(min_length=1)
    object_group: str = Field(min_length=1)


# ---------------------------------------------------------------- many VMs (POST)


class BatchPowerRequest(RequestModel):
    vms: list[ComputeIdentifier] = Field(min_length=1)
    exclusive_desktop_uuid: str = ""
    vm_type: str = ""


class BatchStartRequest(BatchPowerRequest):
    cloud_init: bool = False
    is_repair: bool = False


class BatchDeleteRequest(BatchPowerRequest):
    real_delete: bool = False
    is_delete_volumes: bool = False


# ---------------------------------------------------------------- create


class UnifiedVsd(WireModel):
    """A new built-in storage volume created with the VM (``disk_unified_vsd``)."""

    pool_uuid: NullableStr = ""
    pool_name: NullableStr = ""
    volume_name: NullableStr = ""
    disk_capacity: int = 0
    capacity: int = 0
    snap_capacity: int = 0
    attribute: dict[str, Any] | None = None


class UnifiedDisk(WireModel):
    """A disk of unified_create: a new volume (``disk_unified_vsd``) or an existing one."""

    disk_target_bus: NullableStr = ""
    disk_target_device: NullableStr = ""
    disk_cache_mode: NullableStr = ""
    disk_unified_vsd: UnifiedVsd | None = None
    disk_vsd_source: DiskVsdSource | None = None
    disk_volume_source: DiskVolumeSource | None = None
    image_name: NullableStr = ""
    image_uuid: NullableStr = ""
    repository_uuid: NullableStr = ""
    redundancy: int = 0


class MediaRef(WireModel):
    """A cdrom or floppy image reference in create requests."""

    name: NullableStr = ""
    image_uuid: NullableStr = ""
    repository_uuid: NullableStr = ""


class VmConfig(WireModel):
    """UnifiedComputeCreateRequest (the doc leaves it "TODO"; fields from its examples)."""

    tenant: NullableStr = ""
    object_group: NullableStr = ""
    zone: NullableStr = ""
    cpunr: int = 0
    cpu_sockets: int = 0
    cpu_socket_cores: int = 0
    max_cpu_nr: int = 0
    baseline: NullableStr = ""
    mem_size: int = 0
    mem_max: int = 0
    memory_huge_pages_enable: bool = False
    type: NullableStr = ""
    image_uuid: NullableStr = ""
    os: NullableStr = ""
    cloud_init_data: CloudInitData | None = None
    meta: ComputeMeta | None = None
    interfaces: NullableList[Interface] = Field(default_factory=list)
    disks: NullableList[UnifiedDisk] = Field(default_factory=list)
    cdrom: MediaRef | None = None
    floppy: MediaRef | None = None


class UnifiedCreateRequest(ClusterTenantScope, VmConfig):
    user_uuid: str = ""
    create_num: int = Field(default=1, ge=1)
    vm_type: str = ""


class FromTemplateRequest(ClusterTenantScope):
    vm_template_id: str = Field(min_length=1)
    baseline: str = ""
    user_uuid: str = ""
    vm_config_override: VmConfig | None = None
    create_num: int = Field(default=1, ge=1)
    object_group: str = ""
    assign_vm_uuid: str = ""
    link: bool = False
    snapshot: str = ""
    component_cache: bool = False
    auto_snapshot: bool = False


# ---------------------------------------------------------------- groups


class GroupCreateRequest(ClusterTenantScope):
    parent_group: NullableStr = ""
    group_name: str = Field(min_length=1)


class GroupRef(ClusterTenantScope):
    """group/delete."""

    group_uuid: str = Field(min_length=1)


class GroupUpdateRequest(GroupRef):
    group_name: NullableStr = ""


class GroupMoveRequest(GroupRef):
    parent_group: NullableStr = ""
