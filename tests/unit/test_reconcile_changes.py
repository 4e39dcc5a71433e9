"""plan_changes: every difference between spec and observed shape, classified hot or cold as the
doc's rules say (hot: allowed while running; cold: needs the VM shut off)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.reconcile import (
    DATA_VOLUME,
    ISO,
    MAC_A,
    MAC_B,
    NAME,
    REPOSITORY,
    ROOT_DISK,
    ROOT_VOLUME,
    SPARE_VOLUME,
    VM_UUID,
    memory,
    nic,
    observed,
    shape,
    spec,
)
from tests.support.simulation import CLUSTER, OTHER_CLUSTER, POOL, PORT_GROUP, TENANT
from vmop.api.virtualmachine import VirtualMachineSpec
from vmop.compute.models import ComputeIdentifier, InterfaceBound
from vmop.compute.requests import (
    BootOrderSetRequest,
    CdromAttachRequest,
    DiskAttachRequest,
    DiskDetachRequest,
    InterfaceAttachRequest,
    InterfaceDetachRequest,
    InterfaceSetQosRequest,
    MetaSetRequest,
    ModifyNetworkRequest,
    VcpuSetRequest,
    VmemorySetRequest,
)
from vmop.compute.rules import GIB
from vmop.reconcile.changes import Change, Owned, match_adopted, plan_changes
from vmop.reconcile.observed import Observed, ObservedDisk, ObservedNic, Shape

IDENT = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=VM_UUID, compute_name="vm1")
ROOT: dict[str, Any] = {"name": "root", "size": "10Gi", "pool": POOL, "bus": "virtio", "device": "vda"}
LOCAL_NIC: dict[str, Any] = {"network": "ycb123", "portGroup": PORT_GROUP}


def changes(
    wanted: VirtualMachineSpec, vm_shape: Shape, owned: Owned | None = None, *, vm: Observed | None = None
) -> tuple[list[Change], list[str]]:
    seen = vm or observed(vm_shape=vm_shape)
    return plan_changes(wanted, seen, IDENT, owned or memory().owned, name="vm1", group=None)


def only(found: tuple[list[Change], list[str]]) -> Change:
    planned, unsupported = found
    assert unsupported == []
    assert len(planned) == 1, planned
    return planned[0]


def test_nothing_to_change_when_in_sync() -> None:
    assert changes(spec(), shape()) == ([], [])


def test_no_shape_no_changes() -> None:
    assert plan_changes(
        spec(memory="4Gi"), observed(with_shape=False), IDENT, memory().owned, name="vm1", group=None
    ) == (
        [],
        [],
    )


# ---------------------------------------------------------------- cpu and memory


def test_raising_current_cpus_is_hot() -> None:
    change = only(changes(spec(cpu={"sockets": 2, "cores": 2, "current": 3}), shape(cpu_sockets=2, cpu_cores=2)))
    assert (change.field, change.hot, change.call.operation) == ("cpu.current", True, "vcpu/set")
    request = change.call.request
    assert isinstance(request, VcpuSetRequest)
    assert (request.cpu_current, request.cpu_sockets, request.cpu_socket_cores) == (3, None, None)


def test_current_defaults_to_sockets_times_cores() -> None:
    change = only(changes(spec(cpu={"sockets": 2, "cores": 2}), shape(cpu_sockets=2, cpu_cores=2, cpu_current=1)))
    assert isinstance(change.call.request, VcpuSetRequest) and change.call.request.cpu_current == 4


def test_lowering_current_cpus_is_cold() -> None:
    change = only(
        changes(spec(cpu={"sockets": 2, "cores": 2, "current": 1}), shape(cpu_sockets=2, cpu_cores=2, cpu_current=4))
    )
    assert (change.field, change.hot) == ("cpu.current", False)


@pytest.mark.parametrize(("sockets", "cores"), [(2, 1), (1, 2), (4, 4)])
def test_changing_the_topology_is_cold_and_sends_sockets_cores_and_current(sockets: int, cores: int) -> None:
    change = only(changes(spec(cpu={"sockets": sockets, "cores": cores}), shape()))
    assert (change.field, change.hot) == ("cpu.topology", False)
    request = change.call.request
    assert isinstance(request, VcpuSetRequest)
    assert (request.cpu_sockets, request.cpu_socket_cores, request.cpu_current) == (sockets, cores, sockets * cores)
    assert request.cpu_max is None  # sockets*cores is the max; sending both could conflict


def test_memory_up_is_hot_and_down_is_cold() -> None:
    up = only(changes(spec(memory="2Gi"), shape(memory=GIB)))
    assert (up.field, up.hot, up.call.operation) == ("memory", True, "vmemory/set")
    assert isinstance(up.call.request, VmemorySetRequest) and up.call.request.vmemory == 2 * GIB
    down = only(changes(spec(memory="512Mi"), shape(memory=GIB)))
    assert (down.field, down.hot) == ("memory", False)
    assert isinstance(down.call.request, VmemorySetRequest) and down.call.request.vmemory == GIB // 2


# ---------------------------------------------------------------- disks


def test_attaching_an_existing_volume_is_hot() -> None:
    wanted = spec(disks=[ROOT, {"name": "data", "volume": DATA_VOLUME, "bus": "scsi", "device": "sdb"}])
    change = only(changes(wanted, shape()))
    assert (change.field, change.hot, change.call.operation) == ("disks[data]", True, "disk/attach")
    request = change.call.request
    assert isinstance(request, DiskAttachRequest)
    assert (request.target_device, request.target_bus) == ("sdb", "scsi")
    assert request.source_vsd is not None and request.source_vsd.volume_uuid == DATA_VOLUME


def test_an_attached_volume_is_left_alone() -> None:
    data = ObservedDisk("sdb", "scsi", DATA_VOLUME, GIB)
    wanted = spec(disks=[ROOT, {"name": "data", "volume": DATA_VOLUME, "bus": "scsi"}])
    assert changes(wanted, shape(disks=(ROOT_DISK, data))) == ([], [])


def test_changing_an_attached_disks_bus_is_unsupported() -> None:
    """No call changes a bus: the change is reported, not dropped with "in sync"."""
    data = ObservedDisk("sdb", "scsi", DATA_VOLUME, GIB)
    wanted = spec(disks=[ROOT, {"name": "data", "volume": DATA_VOLUME, "bus": "virtio"}])
    planned, unsupported = changes(wanted, shape(disks=(ROOT_DISK, data)))
    assert planned == []
    assert len(unsupported) == 1 and unsupported[0].startswith("disks[data]: bus scsi -> virtio")


def test_a_scsi_disk_the_platform_made_virtio_for_its_cache_mode_is_in_sync() -> None:
    data = ObservedDisk("vdb", "virtio", DATA_VOLUME, GIB, "writeback")
    wanted = spec(disks=[ROOT, {"name": "data", "volume": DATA_VOLUME, "bus": "scsi", "cacheMode": "writeback"}])
    assert changes(wanted, shape(disks=(ROOT_DISK, data))) == ([], [])


def test_a_new_volume_after_create_is_unsupported() -> None:
    planned, unsupported = changes(spec(disks=[ROOT, {"name": "more", "size": "1Gi", "pool": POOL}]), shape())
    assert planned == []
    assert len(unsupported) == 1 and unsupported[0].startswith("disks[more]")


@pytest.mark.parametrize(
    ("bus", "device", "hot"), [("scsi", "sdb", True), ("virtio", "vdb", False), ("ide", "hdb", False)]
)
def test_detaching_an_owned_disk_is_hot_only_on_scsi(bus: str, device: str, hot: bool) -> None:
    data = ObservedDisk(device, bus, DATA_VOLUME, GIB)
    owned = Owned({"root": ROOT_VOLUME, "data": DATA_VOLUME}, {})
    change = only(changes(spec(), shape(disks=(ROOT_DISK, data)), owned))
    assert (change.field, change.hot, change.call.operation) == ("disks[data]", hot, "disk/detach")
    assert isinstance(change.call.request, DiskDetachRequest) and change.call.request.target_device == device


def test_a_disk_vmop_did_not_attach_is_never_detached() -> None:
    foreign = ObservedDisk("sdb", "scsi", DATA_VOLUME, GIB)
    assert changes(spec(), shape(disks=(ROOT_DISK, foreign))) == ([], [])


def test_an_owned_disk_already_gone_is_not_detached() -> None:
    owned = Owned({"root": ROOT_VOLUME, "data": DATA_VOLUME}, {})
    assert changes(spec(), shape(), owned) == ([], [])


def test_replacing_a_disk_on_the_same_device_detaches_before_attaching() -> None:
    # data (vdb) is replaced by spare, asked for on vdb: the attach can only follow the detach,
    # and a virtio detach is cold, so the attach waits with it.
    data = ObservedDisk("vdb", "virtio", DATA_VOLUME, GIB)
    owned = Owned({"root": ROOT_VOLUME, "data": DATA_VOLUME}, {})
    wanted = spec(disks=[ROOT, {"name": "spare", "volume": SPARE_VOLUME, "bus": "virtio", "device": "vdb"}])
    planned, unsupported = changes(wanted, shape(disks=(ROOT_DISK, data)), owned)
    assert unsupported == []
    assert [(c.call.operation, c.field, c.hot) for c in planned] == [
        ("disk/detach", "disks[data]", False),
        ("disk/attach", "disks[spare]", False),
    ]


def test_replacing_a_scsi_disk_on_the_same_device_is_hot() -> None:
    data = ObservedDisk("sdb", "scsi", DATA_VOLUME, GIB)
    owned = Owned({"root": ROOT_VOLUME, "data": DATA_VOLUME}, {})
    wanted = spec(disks=[ROOT, {"name": "spare", "volume": SPARE_VOLUME, "bus": "scsi", "device": "sdb"}])
    planned, _ = changes(wanted, shape(disks=(ROOT_DISK, data)), owned)
    assert [(c.call.operation, c.hot) for c in planned] == [("disk/detach", True), ("disk/attach", True)]


def test_a_device_held_by_a_disk_that_stays_is_unsupported() -> None:
    foreign = ObservedDisk("vdb", "virtio", DATA_VOLUME, GIB)  # not vmop's: never detached
    wanted = spec(disks=[ROOT, {"name": "spare", "volume": SPARE_VOLUME, "bus": "virtio", "device": "vdb"}])
    planned, unsupported = changes(wanted, shape(disks=(ROOT_DISK, foreign)))
    assert planned == []
    assert len(unsupported) == 1 and "vdb" in unsupported[0] and unsupported[0].startswith("disks[spare]")


def test_explicit_devices_are_attached_before_auto_assigned_ones() -> None:
    # The platform picks a free device for an attach by bus alone; one it picks must not be the
    # device a later attach of the same plan names.
    wanted = spec(
        disks=[
            ROOT,
            {"name": "auto", "volume": DATA_VOLUME, "bus": "virtio"},
            {"name": "fixed", "volume": SPARE_VOLUME, "bus": "virtio", "device": "vdb"},
        ]
    )
    planned, _ = changes(wanted, shape())
    assert [c.field for c in planned] == ["disks[fixed]", "disks[auto]"]


# ---------------------------------------------------------------- interfaces


def test_a_new_interface_is_attached_hot() -> None:
    change = only(changes(spec(interfaces=[{"name": "eth0", "mac": MAC_A, **LOCAL_NIC}]), shape()))
    assert (change.field, change.hot, change.call.operation) == ("interfaces[eth0]", True, "interface/attach")
    request = change.call.request
    assert isinstance(request, InterfaceAttachRequest)
    assert (request.mac_address, request.port_group, request.interface_type) == (MAC_A, PORT_GROUP, "ycb123")


def test_only_owned_interfaces_are_detached() -> None:
    vm_shape = shape(nics=(nic(MAC_A), nic(MAC_B)))
    change = only(changes(spec(), vm_shape, Owned({"root": ROOT_VOLUME}, {"eth0": MAC_A})))
    assert (change.field, change.hot, change.call.operation) == ("interfaces[eth0]", True, "interface/detach")
    assert isinstance(change.call.request, InterfaceDetachRequest) and change.call.request.mac_address == MAC_A


def test_an_owned_interface_is_found_by_name_and_kept() -> None:
    owned = Owned({"root": ROOT_VOLUME}, {"eth0": MAC_A})
    assert changes(spec(interfaces=[{"name": "eth0", **LOCAL_NIC}]), shape(nics=(nic(MAC_A),)), owned) == ([], [])


def test_a_qos_change_is_set_in_place_hot() -> None:
    wanted = spec(
        interfaces=[
            {"name": "eth0", "mac": MAC_A, **LOCAL_NIC, "qos": {"inbound": {"average": 100, "peak": 200, "burst": 300}}}
        ]
    )
    change = only(changes(wanted, shape(nics=(nic(MAC_A),))))
    assert (change.field, change.hot, change.call.operation) == ("interfaces[eth0].qos", True, "interface/setqos")
    request = change.call.request
    assert isinstance(request, InterfaceSetQosRequest)
    assert request.mac_address == MAC_A
    assert request.in_bount == InterfaceBound(average=100, peak=200, burst=300)
    assert request.out_bount == InterfaceBound()


def test_removing_a_qos_limit_is_a_change_too() -> None:
    change = only(
        changes(
            spec(interfaces=[{"name": "eth0", "mac": MAC_A, **LOCAL_NIC}]), shape(nics=(nic(MAC_A, inbound=(1, 2, 3)),))
        )
    )
    assert isinstance(change.call.request, InterfaceSetQosRequest)
    assert change.call.request.in_bount == InterfaceBound()


def test_moving_an_interface_to_another_local_network_is_modify_network_shut_off() -> None:
    moved = only(
        changes(
            spec(interfaces=[{"name": "eth0", "mac": MAC_A, **LOCAL_NIC}]), shape(nics=(nic(MAC_A, network="mirror"),))
        )
    )
    assert (moved.field, moved.hot, moved.call.operation) == ("interfaces[eth0].network", False, "modify/network")
    assert isinstance(moved.call.request, ModifyNetworkRequest)
    request = moved.call.request
    assert (request.mac_address, request.interface_type, request.port_group) == (MAC_A, "ycb123", PORT_GROUP)


def test_moving_an_interface_to_or_from_the_vpc_network_is_unsupported() -> None:
    planned, unsupported = changes(
        spec(interfaces=[{"name": "eth0", "mac": MAC_A, **LOCAL_NIC}]), shape(nics=(nic(MAC_A, network="internal"),))
    )
    assert planned == []
    assert len(unsupported) == 1 and unsupported[0].startswith("interfaces[eth0]") and "VPC" in unsupported[0]


# ---------------------------------------------------------------- cdrom, boot order, meta, os


def test_inserting_and_ejecting_a_cdrom_is_hot() -> None:
    insert = only(changes(spec(cdrom={"image": ISO, "repository": REPOSITORY}), shape(cdrom="")))
    assert (insert.field, insert.hot, insert.call.operation) == ("cdrom", True, "cdrom/attach")
    assert isinstance(insert.call.request, CdromAttachRequest)
    assert (insert.call.request.source_network_name, insert.call.request.repository_uuid) == (ISO, REPOSITORY)
    eject = only(changes(spec(), shape(cdrom=ISO)))
    assert (eject.field, eject.hot, eject.call.operation) == ("cdrom", True, "cdrom/detach")
    assert changes(spec(cdrom={"image": ISO, "repository": REPOSITORY}), shape(cdrom=ISO)) == ([], [])


def test_boot_order_maps_disk_names_to_devices_and_nic_names_to_lower_case_macs() -> None:
    data = ObservedDisk("sdc", "scsi", DATA_VOLUME, GIB)
    wanted = spec(
        disks=[{"name": "root", "size": "10Gi", "pool": POOL}, {"name": "data", "volume": DATA_VOLUME, "bus": "scsi"}],
        interfaces=[{"name": "eth0", **LOCAL_NIC}, {"name": "eth1", "mac": MAC_B, **LOCAL_NIC}],
        boot_order=["eth1", "data", "eth0", "root"],
    )
    owned = Owned({"root": ROOT_VOLUME}, {"eth0": MAC_A.upper()})
    vm_shape = shape(disks=(ROOT_DISK, data), nics=(nic(MAC_A.upper()), nic(MAC_B)), boot_order=("vda", "sdc"))
    planned, _ = changes(wanted, vm_shape, owned)
    boot = [c for c in planned if c.field == "bootOrder"]
    assert len(boot) == 1 and boot[0].hot
    request = boot[0].call.request
    assert isinstance(request, BootOrderSetRequest)
    assert request.device_order == [MAC_B, "sdc", MAC_A, "vda"]


def test_boot_order_already_leading_is_left_alone() -> None:
    wanted = spec(boot_order=["root"])
    assert changes(wanted, shape(boot_order=("vda", "sdb", "hdd"))) == ([], [])


@pytest.mark.parametrize(
    ("was", "becomes", "hot"),
    [
        ("CentOS x64", "Ubuntu x64", True),
        ("CentOS x64", "Windows Server 2019", False),
        ("Windows 10", "Windows 11", True),
    ],
)
def test_an_os_family_change_is_cold(was: str, becomes: str, hot: bool) -> None:
    change = only(changes(spec(os=becomes), shape(), vm=observed(os=was)))
    assert (change.field, change.hot, change.call.operation) == ("os", hot, "meta/set")
    assert isinstance(change.call.request, MetaSetRequest) and change.call.request.os == becomes


def test_ha_mode_and_name_are_set_together_hot() -> None:
    change = only(changes(spec(ha_mode="off"), shape(), vm=observed(name="old-name")))
    assert (change.field, change.hot) == ("meta", True)
    request = change.call.request
    assert isinstance(request, MetaSetRequest) and request.meta is not None
    assert (request.meta.compute_name, request.meta.ha_mode) == ("vm1", "off")
    assert request.meta.os_loader_path is None  # meta/set changes what is sent: send nothing else


def test_the_loader_is_cold() -> None:
    change = only(changes(spec(meta={"osLoader": "UEFI"}), shape(os_loader="BIOS")))
    assert (change.field, change.hot) == ("meta.osLoader", False)


def test_moving_to_a_group_is_hot() -> None:
    group = "eefcd799-3c9f-46fa-aa48-d2cc65d944a6"
    planned, _ = plan_changes(spec(), observed(), IDENT, memory().owned, name="vm1", group=group)
    assert [(c.field, c.hot) for c in planned] == [("group", True)]
    assert isinstance(planned[0].call.request, MetaSetRequest) and planned[0].call.request.object_group == group


# ---------------------------------------------------------------- adoption: which devices are the spec's


def test_an_adopted_vms_devices_are_matched_by_what_identifies_them_not_attached_again() -> None:
    data = ObservedDisk("sdb", "scsi", "vol-data", 2 * GIB)
    nics = (
        ObservedNic("52:54:00:00:00:01", "ycb123", PORT_GROUP, "virtio"),
        ObservedNic("52:54:00:00:00:02", "ycb123", PORT_GROUP, "virtio"),
    )
    vm_shape = shape(disks=(ROOT_DISK, data), nics=nics)
    wanted = spec(
        adopt={"uuid": VM_UUID},
        disks=[
            {"name": "data", "bus": "scsi", "size": "2Gi", "pool": POOL},
            {"name": "root", "bus": "virtio", "size": "10Gi", "pool": POOL},
        ],
        interfaces=[{"name": n, "network": "ycb123", "portGroup": PORT_GROUP} for n in ("eth0", "eth1")],
    )
    found = match_adopted(wanted, vm_shape)
    assert found.disks == {"data": "vol-data", "root": ROOT_DISK.volume}
    assert found.nics == {"eth0": nics[0].mac, "eth1": nics[1].mac}
    changes, unsupported = plan_changes(wanted, observed(vm_shape=vm_shape), IDENT, found, name=NAME, group=None)
    assert [c.call.operation for c in changes if "attach" in c.call.operation] == [] and unsupported == []


def test_two_alike_disks_are_ambiguous_reported_and_never_attached() -> None:
    twins = (ObservedDisk("vda", "virtio", "vol-a", 10 * GIB), ObservedDisk("vdb", "virtio", "vol-b", 10 * GIB))
    wanted = spec(adopt={"uuid": VM_UUID}, disks=[{"name": "root", "bus": "virtio", "size": "10Gi", "pool": POOL}])
    found = match_adopted(wanted, shape(disks=twins))
    assert found.disks == {}
    changes, unsupported = plan_changes(
        wanted, observed(vm_shape=shape(disks=twins)), IDENT, found, name=NAME, group=None
    )
    assert not [c for c in changes if c.call.operation == "disk/attach"]
    assert unsupported and "disks[root]" in unsupported[0]
    named = spec(
        adopt={"uuid": VM_UUID},
        disks=[{"name": "root", "bus": "virtio", "device": "vdb", "size": "10Gi", "pool": POOL}],
    )
    assert match_adopted(named, shape(disks=twins)).disks == {"root": "vol-b"}  # the device settles it


# ---------------------------------------------------------------- options sent at create: baseline, meta


ZONE_A = "2871bab9-d6ed-4100-8d74-9c4442b52bb5"
ZONE_B = "a6f8ad4a-3fdf-4cf6-8fda-90a8093f5316"

# (spec fields, the shape/observation it differs from, the field, the meta/set parameters sent)
OPTIONS: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any], str, dict[str, Any]]] = [
    ({"cpu": {"baseline": "Haswell"}}, {"baseline": "Skylake"}, {}, "cpu.baseline", {"baseline": "Haswell"}),
    ({"meta": {"vnc": True}}, {"vnc": False}, {}, "meta.vnc", {"meta": {"vnc_enable": True}}),
    (
        {"meta": {"panicModel": "none"}},
        {"panic_model": "isa"},
        {},
        "meta.panicModel",
        {"meta": {"panic_model": "none"}},
    ),
    (
        {"meta": {"memorySecurity": True}},
        {"memory_security": False},
        {},
        "meta.memorySecurity",
        {"meta": {"mem_sec_enabled": True}},
    ),
    (
        {"meta": {"nestedVirtualization": True}},
        {},
        {"nested": False},
        "meta.nestedVirtualization",
        {"virt_nested_enable": True},
    ),
]


@pytest.mark.parametrize(("fields", "has", "seen", "field", "sent"), OPTIONS, ids=[o[3] for o in OPTIONS])
def test_an_option_the_create_sent_is_changed_with_meta_set_at_the_next_power_cycle(
    fields: dict[str, Any], has: dict[str, Any], seen: dict[str, Any], field: str, sent: dict[str, Any]
) -> None:
    change = only(changes(spec(**fields), shape(**has), vm=observed(vm_shape=shape(**has), **seen)))
    assert (change.field, change.hot, change.call.operation) == (field, False, "meta/set")
    request = change.call.request
    assert isinstance(request, MetaSetRequest)
    # meta/set treats every parameter sent as a change: only this one is sent.
    assert request.model_dump(mode="json", exclude_unset=True, exclude=set(IDENT.model_dump())) == sent


@pytest.mark.parametrize(("fields", "has", "seen", "field", "sent"), OPTIONS, ids=[o[3] for o in OPTIONS])
def test_an_option_the_platform_has_already_is_in_sync(
    fields: dict[str, Any], has: dict[str, Any], seen: dict[str, Any], field: str, sent: dict[str, Any]
) -> None:
    del has, seen, sent
    same = {
        "cpu.baseline": ({"baseline": "Haswell"}, {}),
        "meta.vnc": ({"vnc": True}, {}),
        "meta.panicModel": ({"panic_model": "none"}, {}),
        "meta.memorySecurity": ({"memory_security": True}, {}),
        "meta.nestedVirtualization": ({}, {"nested": True}),
    }[field]
    assert changes(spec(**fields), shape(**same[0]), vm=observed(vm_shape=shape(**same[0]), **same[1])) == ([], [])


def test_an_option_the_platform_does_not_report_is_not_compared() -> None:
    """null vnc_enable / virt_nested_enable, a panic value other than on/off: nothing to compare."""
    wanted = spec(meta={"vnc": True, "nestedVirtualization": True, "panicModel": "none", "memorySecurity": True})
    assert changes(wanted, shape(), vm=observed(vm_shape=shape())) == ([], [])


def test_an_option_left_unset_is_the_platforms_choice() -> None:
    vm_shape = shape(baseline="Skylake", vnc=True, panic_model="none", memory_security=True)
    assert changes(spec(), vm_shape, vm=observed(vm_shape=vm_shape, nested=True)) == ([], [])


# ---------------------------------------------------------------- immutable fields: drift reported


def test_a_vm_of_another_type_is_reported_naming_the_field() -> None:
    planned, unsupported = changes(spec(type="GUS"), shape(), vm=observed(type="VDI"))
    assert planned == [] and len(unsupported) == 1 and unsupported[0].startswith("type: ")


def test_a_vm_in_another_resource_pool_is_reported_naming_the_field() -> None:
    planned, unsupported = changes(spec(zone=ZONE_A), shape(), vm=observed(zone=ZONE_B))
    assert planned == [] and len(unsupported) == 1 and unsupported[0].startswith("zone: ")
    assert changes(spec(zone=ZONE_A), shape(), vm=observed(zone=ZONE_A)) == ([], [])
    assert changes(spec(), shape(), vm=observed(zone=ZONE_B)) == ([], [])  # unset: the platform's choice


def test_the_zone_is_not_compared_after_a_migration_to_another_cluster() -> None:
    assert changes(spec(zone=ZONE_A), shape(), vm=observed(zone=ZONE_B, cluster=OTHER_CLUSTER)) == ([], [])


# ---------------------------------------------------------------- attached devices: what cannot change in place


@pytest.mark.parametrize(
    ("disk", "seen", "field"),
    [
        ({"device": "vdb"}, ROOT_DISK, "device"),
        ({"cacheMode": "writeback"}, ObservedDisk("vda", "virtio", ROOT_VOLUME, 10 * GIB, "none"), "cacheMode"),
        ({"size": "20Gi"}, ROOT_DISK, "size"),
    ],
)
def test_what_an_attached_disk_cannot_change_is_reported(disk: dict[str, Any], seen: ObservedDisk, field: str) -> None:
    planned, unsupported = changes(spec(disks=[{**ROOT, **disk}]), shape(disks=(seen,)))
    assert planned == [] and len(unsupported) == 1
    assert unsupported[0].startswith("disks[root]") and field in unsupported[0]


@pytest.mark.parametrize(
    ("declared", "seen", "field"),
    [
        ({"model": "e1000"}, {}, "model"),
        ({"boundIp": "192.0.2.10"}, {}, "boundIp"),
        ({"boundIp": "192.0.2.10"}, {"bound_ip": "192.0.2.11"}, "boundIp"),
    ],
)
def test_what_an_attached_nic_cannot_change_in_place_is_reported(
    declared: dict[str, Any], seen: dict[str, Any], field: str
) -> None:
    present = ObservedNic(MAC_A, "ycb123", PORT_GROUP, "virtio", **seen)
    planned, unsupported = changes(
        spec(interfaces=[{"name": "eth0", "mac": MAC_A, **LOCAL_NIC, **declared}]), shape(nics=(present,))
    )
    assert planned == [] and len(unsupported) == 1 and unsupported[0].startswith(f"interfaces[eth0].{field}")


def test_other_vlans_of_a_nic_are_modify_network_shut_off() -> None:
    present = ObservedNic(MAC_A, "ycb123", PORT_GROUP, "virtio")
    moved = only(
        changes(spec(interfaces=[{"name": "eth0", "mac": MAC_A, **LOCAL_NIC, "vlanIds": [14]}]), shape(nics=(present,)))
    )
    assert (moved.call.operation, moved.hot) == ("modify/network", False)
    assert isinstance(moved.call.request, ModifyNetworkRequest) and moved.call.request.vlan_tag_ids == [14]


def test_a_nic_as_declared_is_in_sync() -> None:
    present = ObservedNic(MAC_A, "ycb123", PORT_GROUP, "e1000", vlan_ids=(14,), bound_ip="192.0.2.10")
    declared = {"name": "eth0", "mac": MAC_A, "model": "e1000", "vlanIds": [14], "boundIp": "192.0.2.10", **LOCAL_NIC}
    assert changes(spec(interfaces=[declared]), shape(nics=(present,))) == ([], [])


def test_the_same_iso_from_another_repository_is_inserted_again() -> None:
    other = "15dd8b65-d4be-434f-92f9-88d13264e4f6"
    change = only(
        changes(spec(cdrom={"image": ISO, "repository": REPOSITORY}), shape(cdrom=ISO, cdrom_repository=other))
    )
    assert (change.field, change.call.operation) == ("cdrom", "cdrom/attach")
