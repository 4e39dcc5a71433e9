"""Wire models of the compute API (../shared/compute-api.md), shared by the client and the simulator.

Responses are parsed leniently: unknown fields are kept (``extra="allow"``) because the platform
adds fields between versions, and ``null`` lists read as empty. Requests are validated strictly
on construction, so bad input fails before anything is sent, naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_serializer,
    model_serializer,
    model_validator,
)

T = TypeVar("T")


def _none_to_empty_list(value: Any) -> Any:
    return [] if value is None else value


def _none_to_empty_str(value: Any) -> Any:
    return "" if value is None else value


def _whole_number(value: Any) -> Any:
    """45.5 -> 45: a fraction where the doc says integer (a progress) is read, never rounded up."""
    return int(value) if isinstance(value, float) and value == value and abs(value) != float("inf") else value


# The platform writes null where it means "none"; reading it as empty keeps callers simple.
NullableList = Annotated[list[T], BeforeValidator(_none_to_empty_list)]
NullableStr = Annotated[str, BeforeValidator(_none_to_empty_str)]
# An integer of a response: a fractional number is cut to its whole part (nulls: see WireModel).
WireInt = Annotated[int, BeforeValidator(_whole_number)]
# A password: shown as '**********' in repr and str, sent as is (see secret_texts for exceptions).
NullableSecret = Annotated[SecretStr, BeforeValidator(_none_to_empty_str)]

# Secrets are written out as they are only into a request body or the simulator's answers, which
# dump with this context; any other JSON dump (a status, a log line) shows HIDDEN instead.
REVEAL_SECRETS: dict[str, Any] = {"reveal_secrets": True}
HIDDEN = "**********"


def reveals(info: SerializationInfo) -> bool:
    return isinstance(info.context, dict) and info.context.get("reveal_secrets") is True


def secret_text(value: SecretStr | None, info: SerializationInfo) -> str | None:
    """A SecretStr field's JSON: its value for the wire (REVEAL_SECRETS), else HIDDEN."""
    if value is None:
        return None
    return value.get_secret_value() if reveals(info) else HIDDEN


# Strings of cloud-init data shorter than this are not redacted from error text: such leaves are
# option words ("off", "auto", "true"), and blotting them out would mangle every message.
SECRET_LEAF_MIN_CHARS = 6

VmState = Literal["nostate", "running", "blocked", "paused", "shutdown", "shutoff", "crashed", "pmsuspend"]
VmAction = Literal["noaction", "cloning", "save", "migrating", "pending", "importing", "restoring", "exporting"]
AgentState = Literal["connected", "disconnected", "pending"]
DiskBus = Literal["ide", "scsi", "virtio", "sata"]
VM_STATES: tuple[str, ...] = VmState.__args__  # type: ignore[attr-defined]
VM_ACTIONS: tuple[str, ...] = VmAction.__args__  # type: ignore[attr-defined]
AGENT_STATES: tuple[str, ...] = AgentState.__args__  # type: ignore[attr-defined]
DISK_BUSES: tuple[str, ...] = DiskBus.__args__  # type: ignore[attr-defined]


class WireModel(BaseModel):
    """A structure as the platform sends it: unknown fields kept, names as on the wire, and a
    ``null`` read as the field's default (the doc's examples send null for absent values; an
    int or bool it nulls, such as ``create_time`` or ``kvm_clock_enable``, reads 0 or false; the options
    the planner compares, such as ``vnc_enable``, default to None: not reported). A field
    without a default (a VM's uuid) stays required: null there makes the structure unreadable."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and None in data.values():
            return {key: value for key, value in data.items() if value is not None}
        return data


class RequestModel(BaseModel):
    """A request body or query: strict types, so a wrong type fails before sending.

    Unknown fields are allowed because the platform ignores them and its own UI sends many
    (the doc's examples carry ``vm_type``, ``cloud_init``, ...); vmop itself never sends any.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=True)

    def wire(self) -> dict[str, Any]:
        """The JSON body: fields left unset are not sent (meta/set treats a sent field as a change)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, context=REVEAL_SECRETS)

    def secrets(self) -> list[str]:
        """The secret values this request carries (passwords, cloud-init data): the client removes
        them from the platform's words before they become an exception (compute/redact.py)."""
        return list(_secret_texts(self))


def _secret_texts(value: Any) -> Iterator[str]:
    if isinstance(value, SecretStr):
        yield value.get_secret_value()
    elif isinstance(value, CloudInitData):
        yield from value.secret_texts()
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_texts(getattr(value, name))
    elif isinstance(value, list):
        for item in value:
            yield from _secret_texts(item)


def _string_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _string_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _string_leaves(item)


# ---------------------------------------------------------------- envelopes


class Output(WireModel, Generic[T]):
    """The envelope of every response; ``scode`` 0 is success.

    The doc writes ``"data": ""`` in examples and says ``Output.data`` is unused on some endpoints:
    an empty string reads as no data, and a refusal's data is ignored whatever it holds, so its
    scode and messages always come through."""

    scode: WireInt
    desc: NullableStr = ""
    message: NullableStr = ""
    message_cn: NullableStr = ""
    stack: NullableList[Any] = Field(default_factory=list)
    data: T | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _refusals_read_whatever_their_data(cls, value: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        if isinstance(value, dict) and value.get("data") == "":
            value = {key: item for key, item in value.items() if key != "data"}
        try:
            return handler(value)
        except ValidationError:
            # A refusal whose data does not fit (a batch item naming its VM oddly): the scode
            # and messages are what matters; read it without its data.
            if not isinstance(value, dict) or value.get("scode") in (0, "0", None) or "data" not in value:
                raise
            return handler({key: item for key, item in value.items() if key != "data"})


class BatchOutput(WireModel, Generic[T]):
    """What batch endpoints put in ``data``: one ``Output`` per item."""

    success: WireInt = 0
    fail: WireInt = 0
    results: NullableList[Output[T]] = Field(default_factory=list)


class EachResourceRangeListState(WireModel):
    cluster_uuid: NullableStr = ""
    cluster_name: NullableStr = ""
    namespace_uuid: NullableStr = ""
    namespace_name: NullableStr = ""
    result: Output[Any] | None = None
    total_count: WireInt = 0


# ---------------------------------------------------------------- identifiers


class ClusterTenantScope(RequestModel):
    """CommonClusterTenantScope: the cluster and tenant a request is aimed at."""

    cluster_uuid: str = Field(min_length=1)
    tenant: str = ""
    cluster_name: str = ""
    tenant_name: str = ""


class ComputeIdentifier(ClusterTenantScope):
    """Names one VM: cluster, tenant and uuid (name only for the platform's operation log)."""

    compute_uuid: str = Field(min_length=1)
    compute_name: str = ""
    owner: str = ""

    @classmethod
    def of(cls, request: ComputeIdentifier) -> ComputeIdentifier:
        """Only the VM's identity, out of a request about it (a start, a delete, a resize)."""
        return cls.model_validate(request.model_dump(include=set(cls.model_fields)))


# ---------------------------------------------------------------- VM structures


class InterfaceBound(WireModel):
    average: WireInt = 0
    peak: WireInt = 0
    burst: WireInt = 0


class Interface(WireModel):
    interface_id: NullableStr = ""
    interface_model_type: NullableStr = ""
    interface_type: NullableStr = ""
    mac_address: NullableStr = ""
    ips: NullableList[str] = Field(default_factory=list)
    in_bount: InterfaceBound | None = None
    out_bount: InterfaceBound | None = None
    switch_uuid: NullableStr = ""
    switch_name: NullableStr = ""
    gateway_uuid: NullableStr = ""
    gateway_name: NullableStr = ""
    port_group: NullableStr = ""
    port_group_name: NullableStr = ""
    vlan_tag_ids: NullableList[int] = Field(default_factory=list)
    bound_ip: NullableStr = ""
    peer: NullableStr = ""


class DiskVolumeSource(WireModel):
    pool: NullableStr = ""
    volume: NullableStr = ""
    volume_uuid: NullableStr = ""
    disk_capacity: WireInt = 0
    pool_name: NullableStr = ""
    replica: NullableStr = ""
    drive_type: NullableStr = ""


class DiskVsdSource(WireModel):
    volume_uuid: NullableStr = ""
    volume_name: NullableStr = ""
    disk_capacity: WireInt = 0
    pool_uuid: NullableStr = ""
    pool_name: NullableStr = ""
    replica: NullableStr = ""
    drive_type: NullableStr = ""
    redundancy: WireInt = 0
    vsd_vendor: NullableStr = ""


class DiskBlockSource(WireModel):
    volume_uuid: NullableStr = ""
    host_dev: NullableStr = ""
    volume_name: NullableStr = ""
    disk_capacity: WireInt = 0
    pool_uuid: NullableStr = ""
    pool_name: NullableStr = ""
    replica: NullableStr = ""
    drive_type: NullableStr = ""
    vsd_vendor: NullableStr = ""


class DiskPassthroughSource(WireModel):
    disk_id: NullableStr = ""
    host_uuid: NullableStr = ""
    host_ip: NullableStr = ""
    disk_capacity: WireInt = 0
    disk_path: NullableStr = ""


class Disk(WireModel):
    """A VM disk; exactly one ``disk_*_source`` is set."""

    disk_target_device: NullableStr = ""
    disk_target_bus: NullableStr = ""
    disk_volume_source: DiskVolumeSource | None = None
    disk_vsd_source: DiskVsdSource | None = None
    disk_block_source: DiskBlockSource | None = None
    disk_source_passthrough: DiskPassthroughSource | None = None
    disk_cache_mode: NullableStr = ""
    disks_serial: NullableStr = ""
    wwn: NullableStr = ""
    disk_is_system: bool = False

    def volume_uuid(self) -> str:
        for source in (self.disk_vsd_source, self.disk_volume_source, self.disk_block_source):
            if source is not None and source.volume_uuid:
                return source.volume_uuid
        return ""

    def capacity(self) -> int:
        for source in (
            self.disk_vsd_source,
            self.disk_volume_source,
            self.disk_block_source,
            self.disk_source_passthrough,
        ):
            if source is not None:
                return source.disk_capacity
        return 0


class ComputeVideo(WireModel):
    model_type: NullableStr = ""
    heads: WireInt = 0
    ram_size: WireInt = 0
    vga_mem: WireInt = 0


class CloudInitData(WireModel):
    """CloudInitData: the doc defines no fields ("虚拟机初始化配置参数"); these three are its
    cloud_init/get and cloud_init/set examples', where ``user_data`` is a structured object (set_passwd,
    time_zone, ssh, users, runcmd, growpart), not a #cloud-config text. A text is accepted too; which
    one a platform takes the doc does not say (the simulator's ``--cloud-init-user-data``).

    All of it is secret (it comes from a Kubernetes Secret, and user data carries passwords): never
    shown by repr, and removed from error text by the client."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, hide_input_in_errors=True)

    meta_data: dict[str, Any] | None = Field(default=None, repr=False)
    network_data: dict[str, Any] | None = Field(default=None, repr=False)
    user_data: dict[str, Any] | str | None = Field(default=None, repr=False)

    def __repr_args__(self) -> list[tuple[str | None, Any]]:  # extra fields too may hold secrets
        return [(name, HIDDEN) for name in ("meta_data", "network_data", "user_data") if getattr(self, name)]

    @model_serializer(mode="wrap", when_used="json")
    def _hidden(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        dumped = handler(self)
        return dumped if reveals(info) else {key: HIDDEN for key, value in dumped.items() if value is not None}

    def secret_texts(self) -> set[str]:
        """Every form of the user data an error text could quote: whole (as text or JSON) and each
        string in it, also JSON-escaped; meta and network data whole only (their leaves are the
        VM's own uuid, MACs and IPs, which errors name for good reasons)."""
        texts: set[str] = set()
        for value in (self.meta_data, self.network_data):
            if value:
                texts.add(json.dumps(value, ensure_ascii=False))
        data = self.user_data
        if data:
            texts.add(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))
            leaves = data.splitlines() if isinstance(data, str) else _string_leaves(data)
            for leaf in leaves:
                leaf = leaf.strip()
                if len(leaf) >= SECRET_LEAF_MIN_CHARS:
                    texts.update({leaf, json.dumps(leaf)[1:-1], json.dumps(leaf, ensure_ascii=False)[1:-1]})
        return texts


class PCIDevice(WireModel):
    """A host PCI address, as the host writes it (domain:bus:slot.function)."""

    domain: WireInt = Field(default=0, alias="Domain")
    bus: WireInt = Field(default=0, alias="Bus")
    slot: WireInt = Field(default=0, alias="Slot")
    function: WireInt = Field(default=0, alias="Function")


MdevModel = Literal["vfio-pci", "vfio-ccw", "vfio-ap"]
MDEV_MODELS: tuple[str, ...] = MdevModel.__args__  # type: ignore[attr-defined]


class MdevDevice(WireModel):
    src_address_uuid: NullableStr = ""
    model: NullableStr = ""  # one of MDEV_MODELS
    display: NullableStr = ""  # "on", "off"


class UsbInfo(WireModel):
    """An entry of inspect's ``usbs``. The doc's one example is the default spice vmc port, with
    ``port`` as a string ("4"): read as a number. Its other ``source_type`` values are not given."""

    bus: WireInt = 0
    port: WireInt = 0
    product_id: NullableStr = ""
    product_name: NullableStr = ""
    vendor_id: NullableStr = ""
    vendor_name: NullableStr = ""
    source_type: NullableStr = ""


class StartupSetting(WireModel):
    hosts: NullableList[str] = Field(default_factory=list)
    labels: NullableList[str] = Field(default_factory=list)


class HaConfig(WireModel):
    priority: WireInt = 0


class ComputeMeta(WireModel):
    """The options meta/set changes; a field left unset is not sent and so not changed."""

    compute_name: str | None = None
    ha_mode: str | None = None
    ha_config: HaConfig | None = None
    os_loader_path: str | None = None
    video: list[ComputeVideo] | None = None
    panic_model: str | None = None
    startup_setting: StartupSetting | None = None
    vnc_enable: bool | None = None
    mem_sec_enabled: bool | None = None
    shown_ip: str | None = None
    virt_nested_enable: bool | None = None
    data_localization_mode_on: str | None = None
    recover_to_related_zones: int | None = None
    master_zone_take_over: int | None = None


class CpuStatistic(WireModel):
    ratio: float = 0
    logical: WireInt = 0
    physical: float = 0


class VmStatistic(WireModel):
    cpu: CpuStatistic | None = None
    mem: CpuStatistic | None = None


class ComputeInfo(WireModel):
    """One VM as /v1/compute/list returns it (the doc leaves the type "TODO"; fields from its example)."""

    uuid: str
    name: NullableStr = ""
    tenant: NullableStr = ""
    tenant_name: NullableStr = ""
    type: NullableStr = ""
    create_time: WireInt = 0
    modify_time: WireInt = 0
    deleted_time: WireInt = 0
    state: NullableStr = "nostate"
    ga_state: NullableStr = "disconnected"
    action: NullableStr = "noaction"
    os: NullableStr = ""
    first_shown_ip: NullableStr = ""
    namespace: NullableStr = ""
    machine_uuid: NullableStr = ""  # the host the VM runs on (state/summary filters hosts by it)
    interface_ips: NullableList[str] = Field(default_factory=list)
    object_group: NullableStr = ""
    object_group_name: NullableStr = ""
    running_cluster: NullableStr = ""
    zone: NullableStr = ""
    zone_name: NullableStr = ""
    statistic: VmStatistic | None = None
    interface: NullableList[Interface] = Field(default_factory=list)
    # None: not reported (null or absent), which vmop never reads as false.
    virt_nested_enable: bool | None = None
    cluster_uuid: NullableStr = ""
    cluster_name: NullableStr = ""


class ComputeInspectInfo(ComputeInfo):
    """One VM as /v1/compute/inspect returns it: list fields plus shape and devices."""

    mem_size: WireInt = 0
    mem_max: WireInt = 0
    compute_name: NullableStr = ""
    ha_mode: NullableStr = ""
    os_loader_path: NullableStr = ""
    video: NullableList[ComputeVideo] = Field(default_factory=list)
    startup_setting: StartupSetting | None = None
    vnc_enable: bool | None = None  # None: not reported
    mem_sec_enabled: bool | None = None
    parent_uuid: NullableStr = ""
    migrate_dest: NullableStr = ""
    baseline: NullableStr = ""
    cpu_current: WireInt = 0  # the platform sends it as a string ("1"); lax parsing reads it as int
    cpu_max_count: WireInt = 0
    cpu_sockets: WireInt = 0
    cpu_socket_cores: WireInt = 0
    panic: NullableStr = ""  # "on" in the doc's example: the panic device (meta.panic_model "isa") is there
    interfaces: NullableList[Interface] = Field(default_factory=list)
    cdrom: dict[str, Any] | None = None
    disks: NullableList[Disk] = Field(default_factory=list)
    device_order: NullableList[str] = Field(default_factory=list)
    kvm_clock_enable: bool = False
    memory_huge_pages_enable: bool = False
    recover_to_related_zones: WireInt = 0
    master_zone_take_over: WireInt = 0
    floppy: dict[str, Any] | None = None
    usbs: NullableList[UsbInfo] = Field(default_factory=list)
    pci_devices: NullableList[PCIDevice] = Field(default_factory=list)
    mdev_devices: NullableList[MdevDevice] = Field(default_factory=list)
    cpu_reserve_enable: bool | None = None  # None: not reported
    memory_reserve_enable: bool | None = None
    streaming_mode: NullableStr = ""
    compression_mode: NullableStr = ""
    device_name: NullableStr = ""
    # The doc's inspect shows the console passwords (in the "encrypted" form graphics/password/set
    # takes): typed here so they never show in a repr, an extra field or a log line.
    vnc_password: NullableSecret = SecretStr("")
    spice_password: NullableSecret = SecretStr("")

    @field_serializer("vnc_password", "spice_password", when_used="json")
    def _plain(self, value: SecretStr, info: SerializationInfo) -> str | None:
        return secret_text(value, info)


class VmList(WireModel):
    domains: NullableList[ComputeInfo] = Field(default_factory=list)
    total_count: WireInt = 0
    # Not on the wire: uuids (or "#index" without one) of entries the client could not read and
    # skipped, so one odd VM never blinds a whole page; the objects they belong to can say so.
    unreadable: list[str] = Field(default_factory=list, exclude=True)
    each_range_list_state: NullableList[EachResourceRangeListState] = Field(default_factory=list)
    object_group_counts: dict[str, int] | None = None


class VmLog(WireModel):
    uuid: str = Field(default="", alias="UUID")
    object_type: str = Field(default="", alias="ObjectType")
    object_uuid: str = Field(default="", alias="ObjectUUID")
    object_name: str = Field(default="", alias="ObjectName")
    ctime: WireInt = Field(default=0, alias="Ctime")
    message: str = Field(default="", alias="Message")
    start_time: WireInt = Field(default=0, alias="StartTime")
    end_time: WireInt = Field(default=0, alias="EndTime")


class VmLogPage(WireModel):
    total_count: WireInt = 0
    infos: NullableList[VmLog] = Field(default_factory=list)


class Progress(WireModel):
    progress: WireInt = 0


class StateSummary(WireModel):
    total: WireInt = 0
    no_state_count: WireInt = 0
    running_count: WireInt = 0
    blocked_count: WireInt = 0
    paused_count: WireInt = 0
    shutdown_count: WireInt = 0
    shutoff_count: WireInt = 0
    crashed_count: WireInt = 0
    pmsuspend_count: WireInt = 0
    cloning_count: WireInt = 0
    save_count: WireInt = 0
    migrating_count: WireInt = 0
    pending_count: WireInt = 0
    importing_count: WireInt = 0
    unknown_count: WireInt = 0
    restoring_count: WireInt = 0


class CreateResult(WireModel):
    """One item of unified_create / create/from_template: ``vm_uuid`` is empty on failure."""

    tenant: NullableStr = ""
    vm_uuid: NullableStr = ""
    index: WireInt = 0
    vm_name: NullableStr = ""
    volume_uuids: NullableList[str] = Field(default_factory=list)
    mac_addresses: NullableList[str] = Field(default_factory=list)
    group: NullableStr = ""
    group_name: NullableStr = ""


class CloneResult(WireModel):
    tenant: NullableStr = ""
    vm_uuid: NullableStr = ""
    index: WireInt = 0
    clone_name: NullableStr = ""


class BatchItem(WireModel):
    """One item of a batch power/delete call: which VM it was about."""

    cluster_uuid: NullableStr = ""
    cluster_name: NullableStr = ""
    tenant: NullableStr = ""
    compute_uuid: NullableStr = ""
    compute_name: NullableStr = ""


class InterfaceAttached(WireModel):
    interface_return: Interface | None = None


class ExportStarted(WireModel):
    name: NullableStr = ""  # the VM's name


class MigrateStarted(WireModel):
    compute_name: NullableStr = ""


class VmNamed(WireModel):
    """video/attach|detach|edit: the VM operated on."""

    name: NullableStr = ""
    uuid: NullableStr = ""


class CloudInitInfo(WireModel):
    cloud_init_data: CloudInitData | None = None


class DeviceNameAltered(WireModel):
    compute_uuid: NullableStr = ""
    compute_name: NullableStr = ""
    device_name: NullableStr = ""


class Screenshot(WireModel):
    screenshot_url: NullableStr = ""


class ScreenshotList(WireModel):
    """list/screenshot: the doc's text names ``screenshot_urls``, its example ``final_screenshots``."""

    screenshot_urls: NullableList[str] = Field(default_factory=list)
    final_screenshots: NullableList[str] = Field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return self.screenshot_urls or self.final_screenshots


class UsbAttached(WireModel):
    """One item of usb/attach: the doc's data is empty."""


# ---------------------------------------------------------------- groups


class ObjectGroupMeta(WireModel):
    uuid: str = Field(alias="UUID")
    namespace: NullableStr = Field(default="", alias="Namespace")
    name: NullableStr = Field(default="", alias="Name")
    parent: NullableStr = Field(default="", alias="Parent")
    ref_count: WireInt = Field(default=0, alias="RefCount")


class ObjectGroupRef(WireModel):
    uuid: str = Field(alias="UUID")
    type: WireInt = Field(default=0, alias="Type")


class ObjectGroupCache(WireModel):
    metadata: ObjectGroupMeta = Field(alias="Metadata")
    children: NullableList[str] = Field(default_factory=list, alias="Children")
    refs: NullableList[ObjectGroupRef] = Field(default_factory=list, alias="Refs")
    depth: WireInt = Field(default=1, alias="Depth")


class ComputeGroupObjectMeta(WireModel):
    """A node of group/tree; ``fake`` nodes stand for clusters, tenants and namespaces."""

    uuid: str = Field(alias="UUID")
    namespace: NullableStr = Field(default="", alias="Namespace")
    name: NullableStr = Field(default="", alias="Name")
    parent: NullableStr = Field(default="", alias="Parent")
    ref_count: WireInt = Field(default=0, alias="RefCount")
    children: NullableList[ComputeGroupObjectMeta] = Field(default_factory=list, alias="Children")
    fake: bool = False
    is_stop: bool = False
    is_health: bool = False
    cluster_uuid: NullableStr = ""
    cluster_name: NullableStr = ""
    tenant: NullableStr = ""
    tenant_name: NullableStr = ""


class GroupTree(WireModel):
    nodes: NullableList[ComputeGroupObjectMeta] = Field(default_factory=list, alias="list")
    total_count: WireInt = 0
    each_range_list_state: NullableList[EachResourceRangeListState] = Field(default_factory=list)
