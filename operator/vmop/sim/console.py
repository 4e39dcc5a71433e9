"""Console, guest and first-boot configuration: graphics/password/set, vgpu/set, video/*,
cloud_init/get|set, alter/device_name, screenshot, list/screenshot, vm/create/support/config.

The doc's state rules: console passwords change hot; vgpu/set and video/* need the VM shut off;
alter/device_name needs it running with its agent; screenshot needs it running. It gives none
for cloud_init/set or cloud_init/get: the simulator allows both in any state without a busy
action (``--cloud-init-set-needs-shutoff`` plays the stricter reading).
"""

from __future__ import annotations

from typing import Any

from vmop.compute.models import (
    CloudInitData,
    CloudInitInfo,
    ComputeVideo,
    DeviceNameAltered,
    Screenshot,
    ScreenshotList,
    VmNamed,
)
from vmop.compute.requests import (
    AlterDeviceNameRequest,
    CloudInitSetRequest,
    GraphicsPasswordSetRequest,
    SupportConfigQuery,
    VgpuSetRequest,
    VideoAttachRequest,
    VideoEditRequest,
)
from vmop.compute.rules import os_family
from vmop.compute.scodes import Scode
from vmop.sim.errors import SimError
from vmop.sim.platform import Platform, require, require_idle
from vmop.sim.world import Vm

ON_OR_OFF = ("running", "shutoff")
MULTI_HEAD_MODEL = "qxl"  # the doc: beside other video devices, only qxl


def set_graphics_password(p: Platform, vm: Vm, req: GraphicsPasswordSetRequest) -> None:
    require(vm, "graphics/password/set", states=ON_OR_OFF, noaction=False)  # the doc: hot
    if req.vnc_password is not None:
        vm.vnc_password = req.vnc_password.get_secret_value()
    if req.spice_password is not None:
        vm.spice_password = req.spice_password.get_secret_value()


def set_graphics(p: Platform, vm: Vm, req: VgpuSetRequest) -> None:
    require(vm, "vgpu/set", states=("shutoff",))
    if req.compression is not None:
        vm.compression_mode = req.compression
    if req.mode is not None:
        vm.streaming_mode = req.mode


def _named(vm: Vm) -> VmNamed:
    return VmNamed(name=vm.name, uuid=vm.uuid)


def attach_video(p: Platform, vm: Vm, req: VideoAttachRequest) -> VmNamed:
    require(vm, "video/attach", states=("shutoff",))
    models = {v.model_type for v in [*vm.video, *req.videos]}
    if models != {MULTI_HEAD_MODEL}:
        raise SimError(Scode.VIDEO_INVALID, f"video/attach: every video device must be qxl, got {sorted(models)}")
    vm.video.extend(ComputeVideo.model_validate(v.model_dump()) for v in req.videos)
    return _named(vm)


def detach_video(p: Platform, vm: Vm, index: int) -> VmNamed:
    require(vm, "video/detach", states=("shutoff",))
    # Device 0 cannot be removed (the doc): VideoDetachRequest refuses heads=0 as bad input.
    if not 0 < index < len(vm.video):
        raise SimError(Scode.VIDEO_INVALID, f"video/detach: vm {vm.uuid} has video devices 0-{len(vm.video) - 1}")
    del vm.video[index]  # the rest are renumbered from 0: their index is their place
    return _named(vm)


def edit_video(p: Platform, vm: Vm, req: VideoEditRequest) -> VmNamed:
    require(vm, "video/edit", states=("shutoff",))
    field = p.dialect.video_edit_field
    listed = next(iter(req.videos or []), None)
    device = {"video": req.video, "videos": listed}.get(field, req.video or listed)
    if device is None:
        raise SimError(Scode.INVALID_PARAMETER, f"video/edit: {'video or videos' if field == 'either' else field}")
    index = device.heads  # the doc: video.heads names the device to edit
    if not 0 <= index < len(vm.video):
        raise SimError(Scode.VIDEO_INVALID, f"video/edit: vm {vm.uuid} has video devices 0-{len(vm.video) - 1}")
    if len(vm.video) > 1 and device.model_type and device.model_type != MULTI_HEAD_MODEL:
        raise SimError(Scode.VIDEO_INVALID, "video/edit: beside other video devices only qxl is possible")
    current = vm.video[index]
    vm.video[index] = current.model_copy(
        update={
            "model_type": device.model_type or current.model_type,
            "ram_size": device.ram_size or current.ram_size,
            "vga_mem": device.vga_mem or current.vga_mem,
        }
    )
    return _named(vm)


def check_cloud_init(p: Platform, data: CloudInitData | None, operation: str) -> None:
    """The user data form this platform takes (``--cloud-init-user-data``); the value is never quoted."""
    if data is None or data.user_data is None:
        return
    wanted = p.dialect.cloud_init_user_data
    if isinstance(data.user_data, str) != (wanted == "text"):
        raise SimError(Scode.INVALID_PARAMETER, f"{operation}: cloud_init_data.user_data must be {wanted}")


def set_cloud_init(p: Platform, vm: Vm, req: CloudInitSetRequest) -> None:
    require_idle(vm, "cloud_init/set")
    if p.dialect.cloud_init_set_needs_shutoff:
        require(vm, "cloud_init/set", states=("shutoff",))
    check_cloud_init(p, req.cloud_init_data, "cloud_init/set")
    vm.cloud_init = req.cloud_init_data


def cloud_init(p: Platform, vm: Vm) -> CloudInitInfo:
    """The doc does not say what a VM without cloud-init data answers: here data null."""
    return CloudInitInfo(cloud_init_data=vm.cloud_init)


def alter_device_name(p: Platform, vm: Vm, req: AlterDeviceNameRequest) -> DeviceNameAltered:
    require(vm, "alter/device_name", states=("running",), agent=True)
    if os_family(vm.os) != "windows":  # the doc: "修改windows虚拟机设备名称"
        raise SimError(Scode.INVALID_PARAMETER, f"alter/device_name: vm {vm.uuid} runs {vm.os}, not windows")
    vm.device_name = req.device_name
    return DeviceNameAltered(compute_uuid=vm.uuid, compute_name=vm.name, device_name=vm.device_name)


def screenshot(p: Platform, vm: Vm) -> Screenshot:
    """The doc: the tenant needs screenshot space first; every simulated tenant has it."""
    require(vm, "screenshot", states=("running",), noaction=False)
    host = p.world.hosts[vm.host]
    return Screenshot(screenshot_url=f"http://{host.ip}:28000/{vm.tenant}/data/{vm.uuid}/detail/detail.png")


def screenshots(p: Platform, vm: Vm) -> ScreenshotList:
    """Screenshots saved at guest crashes: simulated guests never crash."""
    return ScreenshotList(screenshot_urls=[])


def support_config(p: Platform, q: SupportConfigQuery) -> dict[str, Any]:
    """An excerpt of the doc's example answer (it defines no fields)."""
    p.cluster(q.cluster_uuid)
    if q.zone and (q.zone not in p.world.zones or p.world.zones[q.zone].cluster_uuid != q.cluster_uuid):
        raise SimError(Scode.ZONE_NOT_FOUND, f"zone {q.zone!r}")
    return {
        "OsTypes": {
            "linux": ["Ubuntu x64", "CentOS", "CentOS x64", "Debian 11.x 64"],
            "windows": ["Windows Server 2019 x64", "Windows 10 x64"],
        },
        "InterfaceModels": ["virtio", "e1000", "rtl8139"],
        "NetworkTypes": ["internal", "storage", "dsfwd", "manage", "mirror"],
        "VideoModels": ["qxl", "vga"],
        "BootLoaders": ["BIOS", "UEFI"],
        "PanicDevices": ["none", "isa"],
        "HAModes": ["auto", "on", "off"],
        "MaxInterfaceCount": 10,
        "ClusterBaseline": "Haswell-noTSX-IBRS",
        "MaxTargetRedundancy": 3,
    }
