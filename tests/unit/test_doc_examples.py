"""Every example of the compute API doc, read from the doc: responses parse into the client's
models; requests are accepted by the simulator once the world is in the state the doc requires."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.compute_doc import Example, load_examples, repair_json
from tests.support.simulation import CLUSTER, POOL, ZONE, ident
from vmop.compute.models import (
    BatchItem,
    BatchOutput,
    CloneResult,
    CloudInitInfo,
    ComputeInspectInfo,
    ComputeVideo,
    CreateResult,
    Disk,
    DiskVsdSource,
    GroupTree,
    Interface,
    InterfaceAttached,
    MdevDevice,
    MigrateStarted,
    ObjectGroupCache,
    Output,
    PCIDevice,
    Progress,
    Screenshot,
    ScreenshotList,
    UsbAttached,
    VmList,
    VmLogPage,
    VmNamed,
)
from vmop.compute.requests import CloneRequest, CrossClusterMigrateRequest
from vmop.compute.scodes import Scode
from vmop.sim import lifecycle, migration
from vmop.sim.app import ROUTES, create_app
from vmop.sim.platform import Platform
from vmop.sim.world import Group, Host, UsbPort, Volume

EXAMPLES = load_examples()
MODELLED = {route.endpoint.path.removeprefix("/v1/compute/") for route in ROUTES}
BATCH_POWER = {
    f"batch_{op}"
    for op in (
        "start",
        "shutdown",
        "shutoff",
        "reboot",
        "reboot_ga",
        "reset",
        "suspend",
        "resume",
        "save",
        "restore",
        "delete",
    )
}

RESPONSE_TYPES: dict[str, Any] = {
    "list": VmList,
    "inspect": ComputeInspectInfo,
    "unified_create": BatchOutput[CreateResult],
    "unified_import": BatchOutput[CreateResult],
    "create/from_template": BatchOutput[CreateResult],
    "clone": BatchOutput[CloneResult],
    "clone/progress": Progress,
    "cross_cluster_pregress": Progress,
    "log": VmLogPage,
    "migrate": MigrateStarted,
    "interface/attach": InterfaceAttached,
    "group/create": ObjectGroupCache,
    "group/inspect": ObjectGroupCache,
    "group/tree": GroupTree,
    "cloud_init/get": CloudInitInfo,
    "usb/attach": BatchOutput[UsbAttached],
    "screenshot": Screenshot,
    "list/screenshot": ScreenshotList,
    **dict.fromkeys(("video/attach", "video/detach", "video/edit"), VmNamed),
    **dict.fromkeys(BATCH_POWER, BatchOutput[BatchItem]),
}

# The doc's precondition per endpoint: (state, action, agent).
RUNNING = ("running", "noaction", "disconnected")
WITH_AGENT = ("running", "noaction", "connected")
PRECONDITION = {
    "shutdown": WITH_AGENT,
    "reboot": WITH_AGENT,
    "shutoff": RUNNING,
    "reset": RUNNING,
    "suspend": RUNNING,
    "save": RUNNING,
    "resume": ("paused", "noaction", "disconnected"),
    "restore": ("shutoff", "save", "disconnected"),
    "migrate": RUNNING,
    "migrate/abort": RUNNING,
    "cross_cluster_migrate": RUNNING,
    "cross_cluster_cancel": RUNNING,
    "cross_cluster_pregress": RUNNING,
    "disk/export": RUNNING,
    "reboot_ga": WITH_AGENT,
    "pci/attach": RUNNING,
    "mdev/attach": RUNNING,
    "usb/attach": RUNNING,
    "screenshot": RUNNING,
}
# The doc: passthrough devices and HA exclude each other.
HA_OFF = {"pci/attach", "mdev/attach", "usb/attach"}
# The host usb/attach's example takes a device from (not in the seed: its cluster's hosts are others).
USB_HOST = "27b506e4-ed2d-4c78-b723-e5fe77303d93"


def with_requests(endpoints: set[str], modelled: bool) -> list[Example]:
    return [e for e in EXAMPLES if e.request_text is not None and (e.endpoint in endpoints) == modelled]


def test_the_doc_is_read() -> None:
    assert len(EXAMPLES) > 90, "the compute API doc was not found or not parsed"
    assert {"list", "inspect", "unified_create", "migrate", "group/move"} <= {e.endpoint for e in EXAMPLES}


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.responses], ids=lambda e: e.id)
def test_response_examples_parse_into_client_models(example: Example) -> None:
    data_type = RESPONSE_TYPES.get(example.endpoint, Any)
    for raw in example.responses:
        output = Output[data_type].model_validate_json(repair_json(raw))  # type: ignore[valid-type]
        if data_type is not Any and output.scode == 0:
            assert isinstance(output.data, data_type)


def test_unknown_fields_are_kept() -> None:
    inspect = next(e for e in EXAMPLES if e.endpoint == "inspect")
    output = Output[ComputeInspectInfo].model_validate_json(inspect.responses[0])
    assert output.data is not None
    assert output.data.model_extra is not None and output.data.model_extra["spice_port"] == 5925
    assert output.data.cpu_current == 1  # the doc sends it as the string "1"


def _ensure_vm(p: Platform, body: dict[str, Any], ref: dict[str, Any]) -> None:
    vm_uuid = ref["compute_uuid"]
    if vm_uuid not in p.world.vms:
        cluster = ref.get("cluster_uuid") or body["cluster_uuid"]
        tenant = ref.get("tenant") or body.get("tenant", "")
        p.world.new_vm(vm_uuid, ref.get("compute_name") or "doc-vm", cluster, tenant)


def _arrange(p: Platform, example: Example, body: dict[str, Any]) -> None:
    """Put the world in the state the doc requires for the example's request."""
    refs = body.get("vms") or ([body] if "compute_uuid" in body else [])
    for ref in refs:
        _ensure_vm(p, body, ref)
        vm = p.world.vms[ref["compute_uuid"]]
        op = example.endpoint.removeprefix("batch_")
        if op in PRECONDITION:
            vm.state, vm.action, vm.ga_state = PRECONDITION[op]
            vm.host = p.world.first_host(vm.cluster_uuid)
        if op in HA_OFF:
            vm.meta["ha_mode"] = "off"
    vm = p.world.vms[refs[0]["compute_uuid"]] if refs else None
    match example.endpoint:
        case "modify/network" | "ip_mac_bind/update" | "interface/mac/update":
            assert vm is not None
            mac = body.get("mac_address") or body["old_mac_address"]
            vm.interfaces.append(Interface(mac_address=mac, interface_id=body.get("interface_id", "doc-nic")))
        case "pci/detach":
            assert vm is not None
            vm.pci_devices.append(PCIDevice.model_validate(body["pci_device"]))
        case "mdev/attach":
            assert vm is not None
            p.world.hosts[vm.host].mdevs.append(body["mdev_device"]["src_address_uuid"])
        case "mdev/detach":
            assert vm is not None
            vm.mdev_devices.append(MdevDevice.model_validate(body["mdev_device"]))
        case "usb/attach":
            assert vm is not None
            p.world.hosts[USB_HOST] = Host(USB_HOST, "usb-host", "10.30.32.99", vm.cluster_uuid, usb=[(1, 1)])
            vm.host = USB_HOST
        case "usb/detach":
            assert vm is not None
            vm.usbs.append(UsbPort(bus=body["target_bus"], port=body["target_port"], source_type="spice_vmc"))
        case "video/attach":
            assert vm is not None
            vm.video = [ComputeVideo(model_type="qxl")]
        case "video/detach":
            assert vm is not None
            vm.video = [ComputeVideo(model_type="qxl"), ComputeVideo(model_type="qxl")]
        case "migrate/abort":
            assert vm is not None
            other = next(h for h in p.world.hosts.values() if h.cluster_uuid == vm.cluster_uuid and h.uuid != vm.host)
            migration.migrate(p, vm, other.uuid)
        case "cross_cluster_cancel" | "cross_cluster_pregress":
            assert vm is not None
            migration.cross_cluster_migrate(
                p,
                vm,
                CrossClusterMigrateRequest(
                    **ident(vm).model_dump(),
                    destination_cluster=CLUSTER,
                    destination_host_uuid="200e3364-e720-47e4-8b12-734422d6eae3",
                    destination_host_ip="10.30.32.23",
                    destination_tenant=vm.tenant,
                    pool_uuid=POOL,
                    zone_uuid=ZONE,
                    object_group=p.world.default_group(CLUSTER, vm.tenant).uuid,
                ),
            )
        case "clone/progress":
            assert vm is not None
            lifecycle.clone(p, vm, CloneRequest(**ident(vm).model_dump(), clone_name="doc-clone"))
        case "import/progress" | "disk/export/progress":
            assert vm is not None
            action = "importing" if example.endpoint == "import/progress" else "exporting"
            vm.action, vm.clone_started, vm.clone_duration = action, p.world.now(), 10.0
        case "disk/attach":
            volume = body["source_vsd"]["volume_uuid"]
            p.world.volumes[volume] = Volume(volume, "doc-volume", POOL, 1 << 30, body["cluster_uuid"])
        case "disk/export":
            assert vm is not None
            device = body["disk"][0]["device"]
            vm.disks.append(Disk(disk_target_device=device, disk_target_bus="virtio", disk_vsd_source=DiskVsdSource()))
        case "disk/update" | "disk/detach":
            assert vm is not None
            device = body["old_disk"]["disk_target_device"] if "old_disk" in body else body["target_device"]
            bus = "scsi" if device.startswith("sd") else "virtio"
            vm.disks.append(Disk(disk_target_device=device, disk_target_bus=bus, disk_vsd_source=DiskVsdSource()))
        case "interface/detach" | "interface/setqos":
            assert vm is not None
            vm.interfaces.append(Interface(mac_address=body["mac_address"], interface_id="doc-nic"))
        case "group/delete" | "group/update" | "group/move":
            scope = (body["cluster_uuid"], body["tenant"], p.world.namespace_of(body["cluster_uuid"], body["tenant"]))
            for key in ("group_uuid", "parent_group"):
                if body.get(key) and body[key] not in p.world.groups:
                    p.world.groups[body[key]] = Group(body[key], f"doc-{key}", *scope)
        case _:
            pass


@pytest.mark.parametrize("example", with_requests(MODELLED, modelled=True), ids=lambda e: e.id)
async def test_request_examples_are_accepted_by_the_simulator(example: Example, platform: Platform) -> None:
    body = example.request()
    if example.method == "POST" or "compute_uuid" in body:  # e.g. disk/export/progress needs an export
        _arrange(platform, example, body)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(platform)), base_url="http://sim"
    ) as http:
        path = f"/v1/compute/{example.endpoint}"
        response = await (http.get(path, params=body) if example.method == "GET" else http.post(path, json=body))
    output = response.json()
    assert response.status_code == 200
    assert output["scode"] == 0, output
    items = (output["data"] or {}).get("results", []) if isinstance(output["data"], dict) else []
    assert all(item["scode"] == 0 for item in items), items


@pytest.mark.parametrize("example", with_requests(MODELLED, modelled=False), ids=lambda e: e.id)
async def test_unmodelled_endpoints_answer_with_a_clear_scode(example: Example, platform: Platform) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(platform)), base_url="http://sim"
    ) as http:
        response = await http.request(example.method, f"/v1/compute/{example.endpoint}", json={})
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["scode"] == Scode.UNSUPPORTED_ENDPOINT
    assert example.endpoint in response.json()["desc"]
