"""The client against the simulator for cloud-init, NIC changes in place, console, video, floppy,
passthrough devices, balloon, reservations and guest-agent calls: each endpoint's happy path and
the doc's state rule, refused with the scode of compute/scodes.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from tests.support.simulation import CLUSTER, POOL, PORT_GROUP, TENANT, FakeClock, make_platform
from tests.unit.test_sim_rules import expect_scode, free_volume, make_vm, running_vm
from vmop.compute import ComputeClient, ComputeSettings, RetryPolicy, Scode
from vmop.compute.models import (
    CloudInitData,
    ComputeIdentifier,
    ComputeMeta,
    ComputeVideo,
    DiskVsdSource,
    Interface,
    MdevDevice,
    PCIDevice,
)
from vmop.compute.requests import (
    DiskAttachRequest,
    MetaSetRequest,
    UnifiedCreateRequest,
    UnifiedDisk,
    UnifiedVsd,
    UsbAttachment,
)
from vmop.compute.rules import GIB
from vmop.sim.app import create_app
from vmop.sim.dialect import Dialect
from vmop.sim.platform import Platform
from vmop.sim.state import load_state, save_state
from vmop.sim.world import World, default_seed

MIRROR_GROUP = "edc39bfd-339e-4c78-a0b9-aac517d42b39"  # network "mirror", VLAN 0 only
IMAGE_REPOSITORY = "c5c6e82d-e7ea-47bc-b422-f2d9c767b080"
GPU = PCIDevice(domain=0, bus=0x3B, slot=0, function=0)
ISA_BRIDGE = PCIDevice(domain=0, bus=0, slot=0x1F, function=0)  # no passthrough
USER_DATA = {"set_passwd": {"chpasswd": {"list": ["root:Correct-Horse-9"]}}, "growpart": {"mode": "off"}}


def ide_disk() -> UnifiedDisk:
    return UnifiedDisk(disk_target_bus="ide", disk_unified_vsd=UnifiedVsd(pool_uuid=POOL, disk_capacity=GIB))


async def create(client: ComputeClient, name: str = "vm", **fields: object) -> ComputeIdentifier:
    request = UnifiedCreateRequest.model_validate(
        {"cluster_uuid": CLUSTER, "tenant": TENANT, "meta": ComputeMeta(compute_name=name), **fields}
    )
    created = (await client.unified_create(request)).items[0]
    assert created.ok and created.data is not None, created.error
    return ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=created.data.vm_uuid, compute_name=name)


async def with_nic(client: ComputeClient, name: str = "nic-vm") -> tuple[ComputeIdentifier, Interface]:
    vm = await create(
        client, name, interfaces=[Interface(interface_type="ycb123", port_group=PORT_GROUP, vlan_tag_ids=[14])]
    )
    return vm, (await client.inspect(vm)).interfaces[0]


async def ha_off(client: ComputeClient, vm: ComputeIdentifier) -> None:
    await client.set_meta(MetaSetRequest(**vm.model_dump(), meta=ComputeMeta(ha_mode="off")))


@pytest.fixture
async def dialect_client(clock: FakeClock, request: pytest.FixtureRequest) -> AsyncIterator[ComputeClient]:
    """A client of a simulator playing ``Dialect(**request.param)``."""
    platform = make_platform(clock, dialect=Dialect(**request.param))
    settings = ComputeSettings(base_url="http://sim.test", retry=RetryPolicy(max_attempts=1))
    async with ComputeClient(settings, transport=httpx.ASGITransport(app=create_app(platform))) as compute:
        yield compute


# ---------------------------------------------------------------- cloud-init


async def test_cloud_init_given_at_create_is_read_back_and_replaced_in_any_state(
    client: ComputeClient, clock: FakeClock
) -> None:
    data = CloudInitData(meta_data={"hostname": "web-1"}, user_data=USER_DATA)
    vm = await create(client, "ci", cloud_init_data=data)
    assert await client.cloud_init(vm) == data
    assert await client.cloud_init(await make_vm(client, "none")) is None
    await client.start(vm, cloud_init=True)
    replaced = CloudInitData(user_data={"runcmd": {"cmd": ["true"]}})
    await client.set_cloud_init(vm, replaced)  # the doc gives no state rule: running too
    assert await client.cloud_init(vm) == replaced


@pytest.mark.parametrize("dialect_client", [{"cloud_init_set_needs_shutoff": True}], indirect=True)
async def test_the_stricter_reading_sets_cloud_init_only_shut_off(dialect_client: ComputeClient) -> None:
    vm = await make_vm(dialect_client)
    await dialect_client.start(vm)
    await expect_scode(Scode.VM_STATE_INVALID, dialect_client.set_cloud_init(vm, CloudInitData(user_data=USER_DATA)))
    await dialect_client.shutoff(vm)
    await dialect_client.set_cloud_init(vm, CloudInitData(user_data=USER_DATA))


@pytest.mark.parametrize("dialect_client", [{"cloud_init_user_data": "text"}], indirect=True)
async def test_a_platform_taking_user_data_as_text_refuses_an_object(dialect_client: ComputeClient) -> None:
    vm = await make_vm(dialect_client)
    await expect_scode(Scode.INVALID_PARAMETER, dialect_client.set_cloud_init(vm, CloudInitData(user_data=USER_DATA)))
    text = CloudInitData(user_data="#cloud-config\nchpasswd: {list: ['root:Correct-Horse-9']}\n")
    await dialect_client.set_cloud_init(vm, text)
    assert await dialect_client.cloud_init(vm) == text


async def test_a_start_with_cloud_init_takes_an_ide_slot_until_power_off(
    client: ComputeClient, platform: Platform
) -> None:
    vm = await make_vm(client, disks=[ide_disk()])  # hda
    await client.start(vm, cloud_init=True)  # the doc: the cloud-init drive takes an ide slot, hdb
    source = DiskVsdSource(volume_uuid=free_volume(platform))
    taken = DiskAttachRequest(**vm.model_dump(), target_device="hdb", source_vsd=source)
    await expect_scode(Scode.DISK_DEVICE_IN_USE, client.attach_disk(taken))
    await client.attach_disk(DiskAttachRequest(**vm.model_dump(), target_bus="ide", source_vsd=source))
    assert [d.disk_target_device for d in (await client.inspect(vm)).disks] == ["hda", "hdc"]  # hdb skipped
    await client.shutoff(vm)
    await client.detach_disk(vm, "hdc")
    await client.attach_disk(taken)  # powered off: the slot is free again


async def test_a_start_with_cloud_init_needs_a_free_ide_slot(client: ComputeClient) -> None:
    full = await make_vm(client, "full", disks=[ide_disk(), ide_disk(), ide_disk()])
    await expect_scode(Scode.DISK_DEVICE_INVALID, client.start(full, cloud_init=True))
    await client.start(full)  # without cloud-init it needs no slot
    also_full = await make_vm(client, "also-full", disks=[ide_disk(), ide_disk(), ide_disk()])
    batch = await client.batch_start([also_full], cloud_init=True)
    assert [e.scode for e in batch.failures] == [Scode.DISK_DEVICE_INVALID]


# ---------------------------------------------------------------- NICs changed in place


async def test_modify_network_moves_a_nic_while_shut_off(client: ComputeClient, platform: Platform) -> None:
    vm, nic = await with_nic(client)
    await client.modify_network(vm, nic.mac_address, interface_type="mirror", port_group=MIRROR_GROUP)
    moved = (await client.inspect(vm)).interfaces[0]
    assert (moved.mac_address, moved.interface_type, moved.port_group, moved.vlan_tag_ids) == (
        nic.mac_address,
        "mirror",
        MIRROR_GROUP,
        [0],
    )
    refusals = {
        Scode.INTERFACE_VPC_UNSUPPORTED: dict(interface_type="internal", port_group=MIRROR_GROUP),
        Scode.INVALID_PARAMETER: dict(interface_type="ycb123", port_group=MIRROR_GROUP),  # not that network
    }
    for scode, fields in refusals.items():
        await expect_scode(scode, client.modify_network(vm, nic.mac_address, **fields))  # type: ignore[arg-type]
    await expect_scode(  # the doc: VLANs only where the port group has them
        Scode.INVALID_PARAMETER,
        client.modify_network(vm, nic.mac_address, interface_type="mirror", port_group=MIRROR_GROUP, vlan_tag_ids=[5]),
    )
    await expect_scode(
        Scode.INTERFACE_NOT_FOUND,
        client.modify_network(vm, "52:56:ff:00:00:99", interface_type="mirror", port_group=MIRROR_GROUP),
    )
    platform.world.vms[vm.compute_uuid].action = "cloning"  # the doc allows cloning and importing
    await client.modify_network(vm, nic.mac_address, interface_type="ycb123", port_group=PORT_GROUP)
    platform.world.vms[vm.compute_uuid].action = "migrating"
    await expect_scode(
        Scode.VM_ACTION_IN_PROGRESS,
        client.modify_network(vm, nic.mac_address, interface_type="mirror", port_group=MIRROR_GROUP),
    )
    platform.world.vms[vm.compute_uuid].action = "noaction"
    await client.start(vm)
    await expect_scode(
        Scode.VM_STATE_INVALID,
        client.modify_network(vm, nic.mac_address, interface_type="mirror", port_group=MIRROR_GROUP),
    )


async def test_interface_mac_update_only_shut_off_and_unique(client: ComputeClient) -> None:
    vm, nic = await with_nic(client)
    _, other = await with_nic(client, "other")
    await expect_scode(Scode.INVALID_PARAMETER, client.update_interface_mac(vm, nic.mac_address, other.mac_address))
    await expect_scode(Scode.INVALID_PARAMETER, client.update_interface_mac(vm, nic.mac_address, "not-a-mac"))
    await client.update_interface_mac(vm, nic.mac_address, "52:56:ff:aa:bb:cc")
    assert (await client.inspect(vm)).interfaces[0].mac_address == "52:56:ff:aa:bb:cc"
    await client.start(vm)
    await expect_scode(
        Scode.VM_STATE_INVALID, client.update_interface_mac(vm, "52:56:ff:aa:bb:cc", "52:56:ff:aa:bb:cd")
    )


async def test_ip_mac_bind_binds_hot_and_changes_the_mac_only_shut_off(client: ComputeClient) -> None:
    vm, nic = await with_nic(client)
    await client.start(vm)
    await client.update_ip_mac_bind(vm, nic.interface_id, nic.mac_address, bound_ip="10.11.12.13", peer="mac")
    bound = (await client.inspect(vm)).interfaces[0]
    assert (bound.bound_ip, bound.peer) == ("10.11.12.13", "mac")
    await client.update_ip_mac_bind(vm, nic.interface_id, nic.mac_address, bound_ip="10.11.12.14")  # peer "": kept
    assert (await client.inspect(vm)).interfaces[0].peer == "mac"
    await client.update_ip_mac_bind(vm, nic.interface_id, nic.mac_address, bound_ip="10.11.12.14", peer="none")
    assert (await client.inspect(vm)).interfaces[0].peer == ""
    await expect_scode(
        Scode.INVALID_PARAMETER, client.update_ip_mac_bind(vm, nic.interface_id, nic.mac_address, bound_ip="10.1")
    )
    await expect_scode(
        Scode.VM_STATE_INVALID, client.update_ip_mac_bind(vm, nic.interface_id, "52:56:ff:aa:bb:cc", peer="mac")
    )
    await expect_scode(Scode.INTERFACE_NOT_FOUND, client.update_ip_mac_bind(vm, "no-such-nic", nic.mac_address))
    await client.shutoff(vm)
    await client.update_ip_mac_bind(vm, nic.interface_id, "52:56:ff:aa:bb:cc", peer="mac")
    assert (await client.inspect(vm)).interfaces[0].mac_address == "52:56:ff:aa:bb:cc"


# ---------------------------------------------------------------- console and video


async def test_console_passwords_change_hot_and_one_left_out_stays(client: ComputeClient, clock: FakeClock) -> None:
    vm = await running_vm(client, clock)
    await client.set_graphics_password(vm, vnc=SecretStr("0f1e2d3c4b5a69788796a5b4c3d2e1f0"))
    await client.set_graphics_password(vm, spice=SecretStr("106b6c5a91eb9b432e577b880b843978"))
    shown = await client.inspect(vm)
    assert shown.vnc_password.get_secret_value() == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert shown.spice_password.get_secret_value() == "106b6c5a91eb9b432e577b880b843978"
    with pytest.raises(ValueError, match="vnc, spice or both"):
        await client.set_graphics_password(vm)


async def test_graphics_modes_need_the_vm_shut_off(client: ComputeClient, clock: FakeClock) -> None:
    vm = await running_vm(client, clock)
    await expect_scode(Scode.VM_STATE_INVALID, client.set_graphics(vm, compression="lz4"))
    await client.shutoff(vm)
    await client.set_graphics(vm, compression="lz4", streaming="all")
    shown = await client.inspect(vm)
    assert (shown.compression_mode, shown.streaming_mode) == ("lz4", "all")


async def test_video_devices_shut_off_only_qxl_beside_others_and_device_0_stays(
    client: ComputeClient, platform: Platform
) -> None:
    vm = await make_vm(client)  # one vga device
    qxl = ComputeVideo(model_type="qxl", ram_size=131072, vga_mem=32768)
    await expect_scode(Scode.VIDEO_INVALID, client.attach_video(vm, [qxl]))  # beside a vga
    await client.edit_video(vm, 0, ComputeVideo(model_type="qxl"))
    await client.attach_video(vm, [qxl, qxl])
    assert [v.model_type for v in (await client.inspect(vm)).video] == ["qxl"] * 3
    await expect_scode(Scode.VIDEO_INVALID, client.edit_video(vm, 1, ComputeVideo(model_type="vga")))
    await client.edit_video(vm, 2, ComputeVideo(ram_size=65536))
    await client.detach_video(vm, 1)  # the third becomes the second
    assert [v.ram_size for v in (await client.inspect(vm)).video] == [131072, 65536]
    await expect_scode(Scode.VIDEO_INVALID, client.detach_video(vm, 5))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(platform)), base_url="http://s") as http:
        answer = await http.post("/v1/compute/video/detach", json={**vm.model_dump(), "heads": 0})
    assert (answer.json()["scode"], answer.json()["desc"].split(":")[0]) == (Scode.INVALID_PARAMETER, "heads")
    with pytest.raises(ValidationError, match="heads"):  # the client refuses it before sending
        await client.detach_video(vm, 0)
    await client.start(vm)
    for call in (client.attach_video(vm, [qxl]), client.detach_video(vm, 1), client.edit_video(vm, 0, qxl)):
        await expect_scode(Scode.VM_STATE_INVALID, call)


@pytest.mark.parametrize(
    "dialect_client",
    [{"video_edit_field": "video"}, {"video_edit_field": "videos"}, {"memory_reserve_field": "cpu_reserve_enable"}],
    indirect=True,
)
async def test_the_client_is_understood_whichever_field_the_platform_reads(dialect_client: ComputeClient) -> None:
    vm = await make_vm(dialect_client)
    await dialect_client.edit_video(vm, 0, ComputeVideo(model_type="qxl"))
    await dialect_client.set_memory_reserve(vm, True)
    shown = await dialect_client.inspect(vm)
    assert (shown.video[0].model_type, shown.memory_reserve_enable) == ("qxl", True)


async def test_each_reading_ignores_the_other_field(clock: FakeClock) -> None:
    """What makes the previous test mean something: a platform reading one name does not see the other."""
    cases = [
        (Dialect(video_edit_field="videos"), "video/edit", {"video": {"model_type": "qxl"}}),
        (Dialect(video_edit_field="video"), "video/edit", {"videos": [{"model_type": "qxl"}]}),
        (Dialect(memory_reserve_field="cpu_reserve_enable"), "memory/reserve", {"memory_reserve_enable": True}),
    ]
    for dialect, endpoint, body in cases:
        platform = make_platform(clock, dialect=dialect)
        vm = platform.world.new_vm("0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "raw", CLUSTER, TENANT)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(platform)), base_url="http://s"
        ) as http:
            ident = {"cluster_uuid": CLUSTER, "compute_uuid": vm.uuid}
            answer = await http.post(f"/v1/compute/{endpoint}", json={**ident, **body})
        assert answer.json()["scode"] == Scode.INVALID_PARAMETER, (dialect, answer.json())


# ---------------------------------------------------------------- floppy and passthrough


async def test_floppy_images_go_in_and_out_running_or_shut_off(client: ComputeClient, clock: FakeClock) -> None:
    vm = await make_vm(client)
    await expect_scode(Scode.DISK_SOURCE_INVALID, client.attach_floppy(vm, "missing.vfd", IMAGE_REPOSITORY))
    await client.attach_floppy(vm, "virt.vfd", IMAGE_REPOSITORY)
    await client.start(vm)
    assert (await client.inspect(vm)).floppy == {"name": "virt.vfd", "repository_uuid": IMAGE_REPOSITORY}
    await client.detach_floppy(vm)
    assert (await client.inspect(vm)).floppy == {}


async def test_pci_passthrough_needs_running_without_ha_and_pins_the_host(
    client: ComputeClient, clock: FakeClock, platform: Platform
) -> None:
    vm = await make_vm(client)
    await expect_scode(Scode.VM_STATE_INVALID, client.attach_pci(vm, GPU))  # the doc: not shut off
    await client.start(vm)
    await expect_scode(Scode.PASSTHROUGH_HA_CONFLICT, client.attach_pci(vm, GPU))  # ha_mode on by default
    await ha_off(client, vm)
    await expect_scode(Scode.INVALID_PARAMETER, client.attach_pci(vm, ISA_BRIDGE))
    await expect_scode(Scode.DEVICE_NOT_FOUND, client.attach_pci(vm, PCIDevice(domain=0, bus=9, slot=9, function=9)))
    await client.attach_pci(vm, GPU)
    assert (await client.inspect(vm)).pci_devices == [GPU]
    neighbour = await make_vm(client, "neighbour")
    await client.start(neighbour)
    await ha_off(client, neighbour)
    await expect_scode(Scode.DEVICE_IN_USE, client.attach_pci(neighbour, GPU))
    other_host = next(
        h
        for h in platform.world.hosts.values()
        if h.cluster_uuid == CLUSTER and h.uuid != platform.world.vms[vm.compute_uuid].host
    )
    await expect_scode(Scode.PASSTHROUGH_PINS_HOST, client.migrate(vm, other_host.uuid))
    await expect_scode(
        Scode.PASSTHROUGH_HA_CONFLICT,
        client.set_meta(MetaSetRequest(**vm.model_dump(), meta=ComputeMeta(ha_mode="auto"))),
    )
    await client.shutoff(vm)
    await client.detach_pci(vm, GPU)  # the doc: shut off or hot
    await expect_scode(Scode.DEVICE_NOT_FOUND, client.detach_pci(vm, GPU))
    await client.start(vm)
    await client.migrate(vm, other_host.uuid)


async def test_mdev_passthrough_attaches_running_and_detaches_by_uuid(
    client: ComputeClient, platform: Platform
) -> None:
    vm = await make_vm(client)
    await ha_off(client, vm)
    await client.start(vm)
    mdev = platform.world.hosts[platform.world.vms[vm.compute_uuid].host].mdevs[0]
    await expect_scode(
        Scode.INVALID_PARAMETER, client.attach_mdev(vm, MdevDevice(src_address_uuid=mdev, model="vfio-gpu"))
    )
    await expect_scode(Scode.DEVICE_NOT_FOUND, client.attach_mdev(vm, MdevDevice(src_address_uuid="no-such-mdev")))
    await client.attach_mdev(vm, MdevDevice(src_address_uuid=mdev, model="vfio-pci", display="on"))
    assert [d.src_address_uuid for d in (await client.inspect(vm)).mdev_devices] == [mdev]
    await expect_scode(Scode.DEVICE_IN_USE, client.attach_mdev(vm, MdevDevice(src_address_uuid=mdev)))
    await client.shutoff(vm)
    await expect_scode(Scode.VM_STATE_INVALID, client.attach_mdev(vm, MdevDevice(src_address_uuid=mdev)))
    await client.detach_mdev(vm, mdev)
    assert (await client.inspect(vm)).mdev_devices == []


def redirect(host: str, device: int, bus: int = 1, port: int | None = None) -> UsbAttachment:
    return UsbAttachment(
        redirect_usb_bus=bus,
        redirect_usb_port=port,
        source_usb_host_uuid=host,
        source_usb_bus=1,
        source_usb_device=device,
    )


async def test_usb_devices_each_succeed_or_fail_on_their_own(client: ComputeClient, platform: Platform) -> None:
    vm = await make_vm(client)
    host = platform.world.first_host(CLUSTER)
    results = await client.attach_usb(
        vm,
        [
            redirect(host, 2),  # shut off is fine for a redirected device; port chosen: bus 1 port 1
            UsbAttachment(pass_through_usb_bus=2, source_usb_host_uuid=host, source_usb_bus=1, source_usb_device=3),
            UsbAttachment(spice_vmc_usb_bus=0, spice_vmc_usb_port=1),  # bus 0 port 1 is the VM's own
            UsbAttachment(spice_vmc_usb_bus=2, source_usb_host_uuid=host),  # spice vmc takes no source
            UsbAttachment(spice_vmc_usb_bus=1, redirect_usb_bus=1),  # one kind per device
            redirect(host, 2, bus=1),  # that host device is in use now
            redirect(host, 3, bus=0, port=3),  # bus 0 has ports 1-2
            redirect(host, 9),  # no such device on the host
        ],
    )
    assert [item.error.scode if item.error else 0 for item in results.items] == [
        0,
        Scode.VM_STATE_INVALID,  # pass-through only running
        Scode.DEVICE_IN_USE,
        Scode.INVALID_PARAMETER,
        Scode.INVALID_PARAMETER,
        Scode.DEVICE_IN_USE,
        Scode.USB_PORT_INVALID,
        Scode.DEVICE_NOT_FOUND,
    ]
    assert {(u.bus, u.port, u.source_type) for u in (await client.inspect(vm)).usbs} == {
        (2, 4, "spice_vmc"),  # there by default (the doc's inspect example)
        (1, 1, "redirect"),
    }


async def test_usb_pass_through_is_running_only_from_the_vm_s_host(client: ComputeClient, platform: Platform) -> None:
    vm = await make_vm(client)
    await ha_off(client, vm)
    await client.start(vm)
    host = platform.world.vms[vm.compute_uuid].host
    elsewhere = next(h for h in platform.world.hosts.values() if h.cluster_uuid == CLUSTER and h.uuid != host)
    through = UsbAttachment(pass_through_usb_bus=2, source_usb_host_uuid=host, source_usb_bus=1, source_usb_device=2)
    foreign = through.model_copy(update={"source_usb_host_uuid": elsewhere.uuid})
    results = await client.attach_usb(vm, [through, foreign])
    assert [item.error.scode if item.error else 0 for item in results.items] == [0, Scode.INVALID_PARAMETER]
    await expect_scode(Scode.PASSTHROUGH_PINS_HOST, client.migrate(vm, elsewhere.uuid))
    await client.detach_usb(vm, 2, 1)
    await client.detach_usb(vm, 2, 4)  # the default spice vmc port may go too
    await expect_scode(Scode.DEVICE_NOT_FOUND, client.detach_usb(vm, 2, 4))
    await expect_scode(Scode.INVALID_PARAMETER, client.detach_usb(vm, 0, 1))
    full = [UsbAttachment(spice_vmc_usb_bus=2) for _ in range(5)]  # bus 2 has 4 ports
    results = await client.attach_usb(vm, full)
    assert [item.error.scode if item.error else 0 for item in results.items] == [0, 0, 0, 0, Scode.USB_PORT_INVALID]


# ---------------------------------------------------------------- resources and the guest


async def test_balloon_within_the_vm_s_memory(client: ComputeClient, platform: Platform) -> None:
    vm = await make_vm(client)  # 2 GiB
    await client.set_balloon(vm, 0)  # the doc: 0 is allowed
    await client.start(vm)
    await client.set_balloon(vm, GIB)
    assert platform.world.vms[vm.compute_uuid].balloon == GIB
    await expect_scode(Scode.MEMORY_INVALID, client.set_balloon(vm, 3 * GIB))


@pytest.mark.parametrize("dialect_client", [{"balloon_needs_running": True}], indirect=True)
async def test_the_stricter_reading_sets_the_balloon_only_running(dialect_client: ComputeClient) -> None:
    vm = await make_vm(dialect_client)
    await expect_scode(Scode.VM_STATE_INVALID, dialect_client.set_balloon(vm, GIB))
    await dialect_client.start(vm)
    await dialect_client.set_balloon(vm, GIB)


@pytest.mark.parametrize("dropped", [False, True], ids=["kept", "dropped-at-power-off"])
async def test_the_balloon_no_endpoint_shows_is_under_sim_and_may_go_at_power_off(
    clock: FakeClock, dropped: bool
) -> None:
    app = create_app(make_platform(clock, dialect=Dialect(balloon_dropped_at_power_off=dropped)))
    settings = ComputeSettings(base_url="http://sim.test", retry=RetryPolicy(max_attempts=1))
    async with (
        ComputeClient(settings, transport=httpx.ASGITransport(app=app)) as compute,
        httpx.AsyncClient(base_url="http://sim.test", transport=httpx.ASGITransport(app=app)) as control,
    ):
        vm = await running_vm(compute, clock)
        await compute.set_balloon(vm, GIB)
        assert (await control.get(f"/sim/vms/{vm.compute_uuid}")).json() == {"uuid": vm.compute_uuid, "balloon": GIB}
        await compute.shutoff(vm)
        shown = (await control.get(f"/sim/vms/{vm.compute_uuid}")).json()
        assert shown["balloon"] == (None if dropped else GIB)
        assert (await control.get("/sim/vms/no-such-vm")).status_code == 404


async def test_cpu_reserve_hot_and_memory_reserve_shut_off(client: ComputeClient, clock: FakeClock) -> None:
    vm = await running_vm(client, clock)
    await client.set_cpu_reserve(vm, True)
    await expect_scode(Scode.VM_STATE_INVALID, client.set_memory_reserve(vm, True))
    await client.shutoff(vm)
    await client.set_memory_reserve(vm, True)
    shown = await client.inspect(vm)
    assert (shown.cpu_reserve_enable, shown.memory_reserve_enable) == (True, True)


async def test_reboot_ga_needs_a_running_vm_with_its_agent(client: ComputeClient, clock: FakeClock) -> None:
    vm = await make_vm(client)
    await expect_scode(Scode.VM_STATE_INVALID, client.reboot_ga(vm))
    await client.start(vm)
    await expect_scode(Scode.AGENT_NOT_CONNECTED, client.reboot_ga(vm))  # still booting
    clock.advance(5)
    await client.reboot_ga(vm)
    assert (await client.inspect(vm)).ga_state == "pending"  # rebooting
    clock.advance(5)
    assert (await client.inspect(vm)).ga_state == "connected"
    results = await client.batch_reboot_ga([vm, await make_vm(client, "off")])
    assert [item.error.scode if item.error else 0 for item in results.items] == [0, Scode.VM_STATE_INVALID]


async def test_alter_device_name_renames_a_running_windows_guest(client: ComputeClient, clock: FakeClock) -> None:
    linux = await running_vm(client, clock, "linux")
    await expect_scode(Scode.INVALID_PARAMETER, client.alter_device_name(linux, "WEB-1"))
    windows = await create(client, "win", os="Windows Server 2019 x64")
    await expect_scode(Scode.VM_STATE_INVALID, client.alter_device_name(windows, "WEB-1"))
    await client.start(windows)
    await expect_scode(Scode.AGENT_NOT_CONNECTED, client.alter_device_name(windows, "WEB-1"))
    clock.advance(5)
    altered = await client.alter_device_name(windows, "WEB-1")
    assert (altered.compute_uuid, altered.device_name) == (windows.compute_uuid, "WEB-1")
    assert (await client.inspect(windows)).device_name == "WEB-1"


async def test_screenshots_of_running_vms_and_the_create_options(client: ComputeClient, clock: FakeClock) -> None:
    vm = await make_vm(client)
    await expect_scode(Scode.VM_STATE_INVALID, client.screenshot(vm))
    await client.start(vm)
    assert vm.compute_uuid in await client.screenshot(vm)
    assert await client.list_screenshots(vm) == []
    options = await client.support_config(CLUSTER, zone="2871bab9-d6ed-4100-8d74-9c4442b52bb5")
    assert "CentOS x64" in options["OsTypes"]["linux"] and options["HAModes"] == ["auto", "on", "off"]
    await expect_scode(
        Scode.ZONE_NOT_FOUND, client.support_config(CLUSTER, zone="a6f8ad4a-3fdf-4cf6-8fda-90a8093f5316")
    )
    await expect_scode(Scode.CLUSTER_NOT_FOUND, client.support_config("no-such-cluster"))


# ---------------------------------------------------------------- what the simulator keeps


async def test_the_state_file_keeps_devices_and_cloud_init(
    client: ComputeClient, platform: Platform, tmp_path: Path
) -> None:
    vm = await create(client, "kept", cloud_init_data=CloudInitData(user_data=USER_DATA))
    await ha_off(client, vm)
    await client.start(vm)
    await client.attach_pci(vm, GPU)
    await client.attach_usb(vm, [UsbAttachment(spice_vmc_usb_bus=1)])
    state = tmp_path / "world.json"
    save_state(platform.world, state)
    restarted = World(default_seed())
    load_state(restarted, state)
    kept = restarted.vms[vm.compute_uuid]
    original = platform.world.vms[vm.compute_uuid]
    assert (kept.cloud_init, kept.pci_devices, kept.usbs) == (original.cloud_init, [GPU], original.usbs)


async def test_a_simulated_vm_never_shows_its_secrets(client: ComputeClient, platform: Platform) -> None:
    vm = await create(client, "secretive", cloud_init_data=CloudInitData(user_data=USER_DATA))
    await client.set_graphics_password(vm, vnc=SecretStr("0f1e2d3c4b5a69788796a5b4c3d2e1f0"))
    shown = (
        repr(platform.world.vms[vm.compute_uuid]) + repr(await client.inspect(vm)) + repr(await client.cloud_init(vm))
    )
    assert "Correct-Horse-9" not in shown and "0f1e2d3c4b5a69788796a5b4c3d2e1f0" not in shown
