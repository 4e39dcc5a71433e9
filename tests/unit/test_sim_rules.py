"""The doc's state rules, accept and reject paths, through the real client against the simulator."""

from __future__ import annotations

import pytest

from tests.support.simulation import CLUSTER, OTHER_CLUSTER, POOL, PORT_GROUP, TEMPLATE, TENANT, ZONE, FakeClock
from vmop.compute import ComputeClient, ComputeError, Scode
from vmop.compute.models import ComputeIdentifier, ComputeMeta, DiskVsdSource, InterfaceBound
from vmop.compute.requests import (
    CrossClusterMigrateRequest,
    DeleteRequest,
    DiskAttachRequest,
    FromTemplateRequest,
    GroupCreateRequest,
    GroupInspectQuery,
    GroupMoveRequest,
    GroupRef,
    GroupTreeQuery,
    GroupUpdateRequest,
    InterfaceAttachRequest,
    ListQuery,
    MetaSetRequest,
    StateSummaryQuery,
    UnifiedCreateRequest,
    UnifiedDisk,
    UnifiedVsd,
    VcpuSetRequest,
)
from vmop.compute.rules import GIB
from vmop.sim.platform import Platform
from vmop.sim.world import Volume


async def make_vm(
    client: ComputeClient,
    name: str = "vm",
    *,
    disks: list[UnifiedDisk] | None = None,
    sockets: int = 1,
    cores: int = 2,
    current: int = 1,
) -> ComputeIdentifier:
    request = UnifiedCreateRequest(
        cluster_uuid=CLUSTER,
        tenant=TENANT,
        meta=ComputeMeta(compute_name=name),
        cpu_sockets=sockets,
        cpu_socket_cores=cores,
        cpunr=current,
        mem_size=2 * GIB,
        disks=disks
        if disks is not None
        else [UnifiedDisk(disk_target_bus="scsi", disk_unified_vsd=UnifiedVsd(pool_uuid=POOL, disk_capacity=10 * GIB))],
    )
    created = (await client.unified_create(request)).items[0]
    assert created.ok and created.data is not None, created.error
    return ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=created.data.vm_uuid, compute_name=name)


async def running_vm(client: ComputeClient, clock: FakeClock, name: str = "vm") -> ComputeIdentifier:
    vm = await make_vm(client, name)
    await client.start(vm)
    clock.advance(5)  # the guest boots and its agent connects
    assert (await client.inspect(vm)).ga_state == "connected"
    return vm


async def expect_scode(scode: int, call: object) -> ComputeError:
    with pytest.raises(ComputeError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.scode == scode, caught.value
    return caught.value


# ---------------------------------------------------------------- power


async def test_start_needs_shut_off_and_no_action(client: ComputeClient, clock: FakeClock) -> None:
    vm = await make_vm(client)
    await client.start(vm)
    state = await client.inspect(vm)
    assert (state.state, state.ga_state) == ("running", "pending")
    error = await expect_scode(Scode.VM_STATE_INVALID, client.start(vm))
    assert error.message and error.message_cn and "shutoff" in error.desc
    assert not error.transient


async def test_shutdown_needs_the_agent_and_completes_later(client: ComputeClient, clock: FakeClock) -> None:
    vm = await make_vm(client)
    await client.start(vm)
    await expect_scode(Scode.AGENT_NOT_CONNECTED, client.shutdown(vm))
    clock.advance(5)
    await client.shutdown(vm)
    assert (await client.inspect(vm)).state == "running"  # asynchronous: the guest takes its time
    clock.advance(5)
    assert (await client.inspect(vm)).state == "shutoff"


async def test_a_guest_may_ignore_shutdown(client: ComputeClient, clock: FakeClock, platform: Platform) -> None:
    vm = await running_vm(client, clock)
    platform.faults.guest_ignores_shutdown = True
    await client.shutdown(vm)
    clock.advance(600)
    assert (await client.inspect(vm)).state == "running"
    await client.shutoff(vm)  # the hard way works without the agent and is synchronous
    assert (await client.inspect(vm)).state == "shutoff"


async def test_shutoff_reset_and_reboot_need_running(client: ComputeClient, clock: FakeClock) -> None:
    vm = await make_vm(client)
    for call in (client.shutoff, client.reset, client.reboot, client.suspend, client.save):
        await expect_scode(Scode.VM_STATE_INVALID, call(vm))
    await client.start(vm)
    await expect_scode(Scode.AGENT_NOT_CONNECTED, client.reboot(vm))
    await client.reset(vm)
    clock.advance(5)
    await client.reboot(vm)
    assert (await client.inspect(vm)).state == "running"


async def test_suspend_and_resume(client: ComputeClient, clock: FakeClock) -> None:
    vm = await running_vm(client, clock)
    await expect_scode(Scode.VM_STATE_INVALID, client.resume(vm))
    await client.suspend(vm)
    assert (await client.inspect(vm)).state == "paused"
    await expect_scode(Scode.VM_STATE_INVALID, client.start(vm))
    await client.resume(vm)
    assert (await client.inspect(vm)).state == "running"


async def test_save_hibernates_and_only_restore_wakes(client: ComputeClient, clock: FakeClock) -> None:
    vm = await running_vm(client, clock)
    await expect_scode(Scode.VM_STATE_INVALID, client.restore(vm))
    await client.save(vm)
    state = await client.inspect(vm)
    assert (state.state, state.action) == ("shutoff", "save")  # vmop's reading of "hibernated"
    await expect_scode(Scode.VM_STATE_INVALID, client.start(vm))
    await client.restore(vm)
    assert (await client.inspect(vm)).state == "running"


async def test_batch_reports_each_vm(client: ComputeClient, clock: FakeClock) -> None:
    off = await make_vm(client, "off")
    on = await running_vm(client, clock, "on")
    results = await client.batch_start([off, on])
    assert [item.ok for item in results.items] == [True, False]
    assert results.failures[0].scode == Scode.VM_STATE_INVALID
    assert results.items[1].data is not None and results.items[1].data.compute_uuid == on.compute_uuid


# ---------------------------------------------------------------- shape


async def test_vcpu_rules(client: ComputeClient, clock: FakeClock) -> None:
    vm = await make_vm(client, sockets=1, cores=2, current=1)
    await expect_scode(Scode.CPU_INVALID, client.set_vcpu(VcpuSetRequest(**vm.model_dump(), cpu_current=3)))
    await expect_scode(
        Scode.CPU_INVALID,
        client.set_vcpu(VcpuSetRequest(**vm.model_dump(), cpu_max=4, cpu_sockets=1, cpu_socket_cores=2)),
    )
    await client.set_vcpu(VcpuSetRequest(**vm.model_dump(), cpu_max=4))  # cores re-derived, sockets kept
    shape = await client.inspect(vm)
    assert (shape.cpu_sockets, shape.cpu_socket_cores, shape.cpu_max_count) == (1, 4, 4)
    await client.set_vcpu(VcpuSetRequest(**vm.model_dump(), cpu_sockets=2))  # max re-derived
    assert (await client.inspect(vm)).cpu_max_count == 8
    await client.start(vm)
    await expect_scode(Scode.VM_STATE_INVALID, client.set_vcpu(VcpuSetRequest(**vm.model_dump(), cpu_max=2)))
    await client.set_vcpu(VcpuSetRequest(**vm.model_dump(), cpu_current=4))  # hot-add
    await expect_scode(Scode.VM_STATE_INVALID, client.set_vcpu(VcpuSetRequest(**vm.model_dump(), cpu_current=2)))
    assert (await client.inspect(vm)).cpu_current == 4


async def test_memory_rules(client: ComputeClient, clock: FakeClock) -> None:
    vm = await make_vm(client)
    await expect_scode(Scode.MEMORY_INVALID, client.set_memory(vm, 257 * GIB))
    await client.set_memory(vm, 1 * GIB)
    await client.start(vm)
    await client.set_memory(vm, 4 * GIB)  # hot-add
    await expect_scode(Scode.VM_STATE_INVALID, client.set_memory(vm, 2 * GIB))
    assert (await client.inspect(vm)).mem_size == 4 * GIB


async def test_meta_set_changes_only_what_is_sent(client: ComputeClient, clock: FakeClock) -> None:
    vm = await running_vm(client, clock)
    await client.set_meta(MetaSetRequest(**vm.model_dump(), meta=ComputeMeta(ha_mode="off")))
    await expect_scode(Scode.VM_STATE_INVALID, client.set_meta(MetaSetRequest(**vm.model_dump(), os="Windows 10")))
    await client.set_meta(MetaSetRequest(**vm.model_dump(), meta=ComputeMeta(compute_name="renamed")))
    state = await client.inspect(vm)
    assert (state.name, state.ha_mode) == ("renamed", "off")


async def test_the_options_meta_set_changes_show_in_list_and_inspect(client: ComputeClient) -> None:
    vm = await make_vm(client)
    before = await client.inspect(vm)
    assert (before.vnc_enable, before.mem_sec_enabled, before.virt_nested_enable, before.panic) == (
        False,
        False,
        False,
        "on",
    )
    options = ComputeMeta(vnc_enable=True, mem_sec_enabled=True, panic_model="none")
    await client.set_meta(MetaSetRequest(**vm.model_dump(), meta=options, virt_nested_enable=True, baseline="Skylake"))
    after = await client.inspect(vm)
    assert (after.vnc_enable, after.mem_sec_enabled, after.virt_nested_enable, after.panic, after.baseline) == (
        True,
        True,
        True,
        "off",
        "Skylake",
    )
    listed = await client.list_vms(ListQuery(cluster_uuid=CLUSTER, tenant=TENANT, filter_uuid=vm.compute_uuid))
    assert [(v.virt_nested_enable, v.type) for v in listed.domains] == [(True, "GUS")]


# ---------------------------------------------------------------- disks and NICs


def free_volume(platform: Platform, uuid: str = "vol-free") -> str:
    platform.world.volumes[uuid] = Volume(uuid, uuid, POOL, GIB, CLUSTER)
    return uuid


async def test_disk_attach_rules(client: ComputeClient, platform: Platform) -> None:
    vm = await make_vm(client)
    source = DiskVsdSource(volume_uuid=free_volume(platform))
    await expect_scode(
        Scode.INVALID_PARAMETER, client.attach_disk(DiskAttachRequest(**vm.model_dump(), source_vsd=source))
    )
    await expect_scode(
        Scode.INVALID_PARAMETER, client.attach_disk(DiskAttachRequest(**vm.model_dump(), target_bus="virtio"))
    )
    await expect_scode(
        Scode.DISK_DEVICE_INVALID,
        client.attach_disk(
            DiskAttachRequest(**vm.model_dump(), target_device="vdb", target_bus="scsi", source_vsd=source)
        ),
    )
    await expect_scode(
        Scode.DISK_DEVICE_IN_USE,
        client.attach_disk(DiskAttachRequest(**vm.model_dump(), target_device="sda", source_vsd=source)),
    )
    await expect_scode(
        Scode.DISK_SOURCE_INVALID,
        client.attach_disk(
            DiskAttachRequest(**vm.model_dump(), target_bus="virtio", source_vsd=DiskVsdSource(volume_uuid="nope"))
        ),
    )
    await client.attach_disk(
        DiskAttachRequest(**vm.model_dump(), target_bus="scsi", disk_cache_mode="writeback", source_vsd=source)
    )
    disks = {d.disk_target_device: d.disk_target_bus for d in (await client.inspect(vm)).disks}
    assert disks == {"sda": "scsi", "vda": "virtio"}  # writeback on scsi is switched to virtio


async def test_only_scsi_disks_detach_while_running(client: ComputeClient, platform: Platform) -> None:
    vm = await make_vm(client)
    await client.attach_disk(
        DiskAttachRequest(
            **vm.model_dump(), target_bus="virtio", source_vsd=DiskVsdSource(volume_uuid=free_volume(platform))
        )
    )
    await client.start(vm)
    await expect_scode(Scode.DISK_HOT_DETACH_UNSUPPORTED, client.detach_disk(vm, "vda"))
    await client.detach_disk(vm, "sda")
    await client.shutoff(vm)
    await client.detach_disk(vm, "vda")
    assert (await client.inspect(vm)).disks == []
    assert platform.world.volumes["vol-free"].vm_uuid == ""


async def test_interfaces(client: ComputeClient, clock: FakeClock) -> None:
    vm = await running_vm(client, clock)
    nic = await client.attach_interface(
        InterfaceAttachRequest(**vm.model_dump(), port_group=PORT_GROUP, interface_type="ycb123")
    )
    assert nic.mac_address.startswith("52:56:ff") and nic.interface_id
    await client.set_interface_qos(vm, nic.mac_address, out_bound=InterfaceBound(average=100))
    await client.detach_interface(vm, nic.mac_address)
    await expect_scode(Scode.INTERFACE_NOT_FOUND, client.detach_interface(vm, nic.mac_address))
    await expect_scode(
        Scode.INVALID_PARAMETER,
        client.attach_interface(InterfaceAttachRequest(**vm.model_dump(), port_group="missing")),
    )


async def test_boot_order_wants_lower_case_macs(client: ComputeClient) -> None:
    vm = await make_vm(client)
    await client.set_boot_order(vm, ["sda", "52:56:ff:00:00:01", "usb2-4"])
    await expect_scode(Scode.INVALID_PARAMETER, client.set_boot_order(vm, ["52:56:FF:00:00:01"]))


# ---------------------------------------------------------------- create and delete


async def test_failed_create_rolls_back_its_volumes(client: ComputeClient, platform: Platform) -> None:
    request = UnifiedCreateRequest(
        cluster_uuid=CLUSTER,
        tenant=TENANT,
        meta=ComputeMeta(compute_name="bad"),
        disks=[
            UnifiedDisk(disk_target_bus="scsi", disk_unified_vsd=UnifiedVsd(pool_uuid=POOL, disk_capacity=GIB)),
            UnifiedDisk(disk_target_bus="virtio", disk_vsd_source=DiskVsdSource(volume_uuid="missing")),
        ],
    )
    result = (await client.unified_create(request)).items[0]
    assert not result.ok and result.error is not None and result.error.scode == Scode.DISK_SOURCE_INVALID
    assert result.data is not None and result.data.vm_uuid == "" and result.data.vm_name == "bad"
    assert platform.world.volumes == {}


async def test_create_num_names_each_vm(client: ComputeClient) -> None:
    request = UnifiedCreateRequest(
        cluster_uuid=CLUSTER, tenant=TENANT, meta=ComputeMeta(compute_name="web"), create_num=3, disks=[]
    )
    names = [item.data.vm_name for item in (await client.unified_create(request)).items if item.data]
    assert names == ["web-0", "web-1", "web-2"]


async def test_from_template_with_assigned_uuid_never_duplicates(client: ComputeClient, clock: FakeClock) -> None:
    request = FromTemplateRequest(
        cluster_uuid=CLUSTER,
        tenant=TENANT,
        vm_template_id=TEMPLATE,
        assign_vm_uuid="11111111-2222-4333-8444-555555555555",
    )
    created = (await client.create_from_template(request)).items[0]
    assert created.ok and created.data is not None and created.data.vm_uuid == request.assign_vm_uuid
    vm = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=request.assign_vm_uuid)
    assert (await client.inspect(vm)).action == "cloning"
    assert 0 <= await client.clone_progress(vm) < 100
    clock.advance(10)
    await expect_scode(Scode.NOT_CLONING, client.clone_progress(vm))
    await expect_scode(Scode.VM_UUID_CONFLICT, client.create_from_template(request))


async def test_trash_and_real_delete(client: ComputeClient, platform: Platform) -> None:
    trashed, deleted = await make_vm(client, "trashed"), await make_vm(client, "deleted")
    await client.delete(DeleteRequest(**trashed.model_dump(), real_delete=False))
    await client.delete(DeleteRequest(**deleted.model_dump(), real_delete=True, is_delete_volumes=True))
    visible = {vm.name for vm in (await client.list_vms(ListQuery(cluster_uuid=CLUSTER))).domains}
    with_trash = {
        vm.name for vm in (await client.list_vms(ListQuery(cluster_uuid=CLUSTER, include_trash_vm=True))).domains
    }
    assert "trashed" not in visible and "trashed" in with_trash and "deleted" not in with_trash
    await expect_scode(Scode.VM_NOT_FOUND, client.inspect(trashed))
    assert (await client.inspect(trashed, include_trash_vm=True)).deleted_time > 0
    assert [v.vm_uuid for v in platform.world.volumes.values()] == [trashed.compute_uuid]


async def test_delete_without_volumes_leaves_them_behind(client: ComputeClient, platform: Platform) -> None:
    vm = await make_vm(client)
    await client.delete(DeleteRequest(**vm.model_dump(), real_delete=True, is_delete_volumes=False))
    assert [v.vm_uuid for v in platform.world.volumes.values()] == [""]


async def test_list_pages_and_filters(client: ComputeClient) -> None:
    for i in range(5):
        await make_vm(client, f"page-{i}")
    query = ListQuery(cluster_uuid=CLUSTER, tenant=TENANT, filter_fuzzy="page-", page_size=2, page_number=2)
    page = await client.list_vms(query)
    assert page.total_count == 5 and [vm.name for vm in page.domains] == ["page-4"]
    every = await client.list_all_vms(CLUSTER, TENANT, page_size=2, filter_fuzzy="page-")
    assert sorted(vm.name for vm in every.domains) == [f"page-{i}" for i in range(5)]
    exact = await client.list_vms(ListQuery(cluster_uuid=CLUSTER, filter_name="page-3"))
    assert [vm.name for vm in exact.domains] == ["page-3"]
    assert (
        await client.list_vms(ListQuery(cluster_uuid=CLUSTER, tenant=TENANT, filter_state="running"))
    ).total_count == 0


# ---------------------------------------------------------------- migration


async def test_migrate_runs_then_lands_on_the_destination(
    client: ComputeClient, clock: FakeClock, platform: Platform
) -> None:
    vm = await running_vm(client, clock)
    source = (await client.inspect(vm)).machine_uuid
    destination = next(h.uuid for h in platform.world.hosts.values() if h.cluster_uuid == CLUSTER and h.uuid != source)
    await expect_scode(Scode.HOST_NOT_FOUND, client.migrate(vm, "no-such-host"))
    await client.migrate(vm, destination)
    assert (await client.inspect(vm)).action == "migrating"
    await expect_scode(Scode.VM_ACTION_IN_PROGRESS, client.shutoff(vm))
    clock.advance(10)
    state = await client.inspect(vm)
    assert (state.action, state.machine_uuid) == ("noaction", destination)


async def test_migrate_abort(client: ComputeClient, clock: FakeClock, platform: Platform) -> None:
    vm = await running_vm(client, clock)
    await expect_scode(Scode.VM_STATE_INVALID, client.migrate_abort(vm))
    source = (await client.inspect(vm)).machine_uuid
    destination = next(h.uuid for h in platform.world.hosts.values() if h.cluster_uuid == CLUSTER and h.uuid != source)
    await client.migrate(vm, destination)
    await client.migrate_abort(vm)
    clock.advance(10)
    state = await client.inspect(vm)
    assert (state.action, state.machine_uuid) == ("noaction", source)


def cross_cluster(
    vm: ComputeIdentifier, platform: Platform, host_ip: str = "10.30.32.22"
) -> CrossClusterMigrateRequest:
    return CrossClusterMigrateRequest(
        **vm.model_dump(),
        destination_cluster=OTHER_CLUSTER,
        destination_host_uuid="963b6fd4-487e-4436-95c4-21a67aca5eaf",
        destination_host_ip=host_ip,
        destination_tenant=TENANT,
        pool_uuid="7c2d9e4f-1a6b-4c3d-8e5f-9a0b1c2d3e04",
        zone_uuid="a6f8ad4a-3fdf-4cf6-8fda-90a8093f5316",
        object_group=platform.world.default_group(OTHER_CLUSTER, TENANT).uuid,
    )


async def test_cross_cluster_migration_progress_and_arrival(
    client: ComputeClient, clock: FakeClock, platform: Platform
) -> None:
    vm = await running_vm(client, clock)
    await expect_scode(Scode.HOST_UNREACHABLE, client.cross_cluster_migrate(cross_cluster(vm, platform, "10.0.0.1")))
    await client.cross_cluster_migrate(cross_cluster(vm, platform))
    seen = []
    for _ in range(2):
        seen.append(await client.cross_cluster_progress(vm))
        clock.advance(1)
    assert seen[0] < seen[1] < 100
    clock.advance(10)
    moved = vm.model_copy(update={"cluster_uuid": OTHER_CLUSTER})
    assert (await client.inspect(moved)).cluster_uuid == OTHER_CLUSTER


async def test_cross_cluster_cancel_and_failure(client: ComputeClient, clock: FakeClock, platform: Platform) -> None:
    vm = await running_vm(client, clock)
    await expect_scode(Scode.VM_STATE_INVALID, client.cross_cluster_cancel(vm))
    await client.cross_cluster_migrate(cross_cluster(vm, platform))
    await client.cross_cluster_cancel(vm)
    assert (await client.inspect(vm)).action == "noaction"
    platform.faults.migration_fails = True
    await client.cross_cluster_migrate(cross_cluster(vm, platform))
    clock.advance(2)
    await expect_scode(Scode.MIGRATION_FAILED, client.cross_cluster_progress(vm))
    state = await client.inspect(vm)
    assert (state.cluster_uuid, state.action) == (CLUSTER, "noaction")


# ---------------------------------------------------------------- groups


async def test_groups_nest_five_deep_and_no_deeper(client: ComputeClient) -> None:
    parent = ""
    for depth in range(1, 6):
        group = await client.group_create(
            GroupCreateRequest(cluster_uuid=CLUSTER, tenant=TENANT, parent_group=parent, group_name=f"level{depth}")
        )
        assert group.depth == depth
        parent = group.metadata.uuid
    await expect_scode(
        Scode.GROUP_DEPTH_EXCEEDED,
        client.group_create(
            GroupCreateRequest(cluster_uuid=CLUSTER, tenant=TENANT, parent_group=parent, group_name="level6")
        ),
    )


async def test_group_naming_and_default_rules(client: ComputeClient, platform: Platform) -> None:
    default = platform.world.default_group(CLUSTER, TENANT).uuid
    scope = {"cluster_uuid": CLUSTER, "tenant": TENANT}
    await expect_scode(
        Scode.GROUP_DEFAULT_NO_CHILDREN,
        client.group_create(GroupCreateRequest(**scope, parent_group=default, group_name="x")),
    )
    await expect_scode(Scode.GROUP_DEFAULT_UNDELETABLE, client.group_delete(GroupRef(**scope, group_uuid=default)))
    a = await client.group_create(GroupCreateRequest(**scope, group_name="a"))
    await expect_scode(Scode.GROUP_NAME_CONFLICT, client.group_create(GroupCreateRequest(**scope, group_name="a")))
    await client.group_update(GroupUpdateRequest(**scope, group_uuid=a.metadata.uuid))  # no name: no change
    await client.group_update(GroupUpdateRequest(**scope, group_uuid=a.metadata.uuid, group_name="b"))
    tree = await client.group_tree(GroupTreeQuery(**scope))
    assert sorted(n.name for n in tree.nodes[0].children) == ["b", "default"]


async def test_group_delete_refused_while_vms_inside(client: ComputeClient) -> None:
    scope = {"cluster_uuid": CLUSTER, "tenant": TENANT}
    top = await client.group_create(GroupCreateRequest(**scope, group_name="top"))
    child = await client.group_create(GroupCreateRequest(**scope, parent_group=top.metadata.uuid, group_name="c"))
    vm = await make_vm(client)
    await client.set_meta(MetaSetRequest(**vm.model_dump(), object_group=child.metadata.uuid))
    error = await expect_scode(
        Scode.GROUP_NOT_EMPTY, client.group_delete(GroupRef(**scope, group_uuid=top.metadata.uuid))
    )
    assert vm.compute_uuid in error.desc
    await client.delete(DeleteRequest(**vm.model_dump(), real_delete=True))
    await client.group_delete(GroupRef(**scope, group_uuid=top.metadata.uuid))
    await expect_scode(Scode.GROUP_NOT_FOUND, client.group_delete(GroupRef(**scope, group_uuid=child.metadata.uuid)))


async def test_group_move_keeps_depth_limit(client: ComputeClient) -> None:
    scope = {"cluster_uuid": CLUSTER, "tenant": TENANT}
    chain = []
    parent = ""
    for depth in range(4):
        group = await client.group_create(GroupCreateRequest(**scope, parent_group=parent, group_name=f"c{depth}"))
        chain.append(group.metadata.uuid)
        parent = group.metadata.uuid
    other = await client.group_create(GroupCreateRequest(**scope, group_name="o1"))
    deeper = await client.group_create(GroupCreateRequest(**scope, parent_group=other.metadata.uuid, group_name="o2"))
    await expect_scode(
        Scode.GROUP_DEPTH_EXCEEDED,
        client.group_move(GroupMoveRequest(**scope, group_uuid=chain[0], parent_group=deeper.metadata.uuid)),
    )
    await expect_scode(
        Scode.GROUP_MOVE_INTO_SELF,
        client.group_move(GroupMoveRequest(**scope, group_uuid=chain[0], parent_group=chain[2])),
    )
    await client.group_move(GroupMoveRequest(**scope, group_uuid=chain[1], parent_group=other.metadata.uuid))
    moved = await client.group_inspect(GroupInspectQuery(**scope, group_uuid=chain[2]))
    assert moved.depth == 3


async def test_group_tree_without_scope_nests_cluster_tenant_namespace(client: ComputeClient) -> None:
    tree = await client.group_tree(GroupTreeQuery())
    cluster = next(n for n in tree.nodes if n.uuid == CLUSTER)
    assert cluster.fake and all(t.fake for t in cluster.children)
    namespace = next(t for t in cluster.children if t.uuid == TENANT).children[0]
    assert namespace.fake and any(g.name == "default" and not g.fake for g in namespace.children)


async def test_state_summary_counts(client: ComputeClient, clock: FakeClock) -> None:
    await running_vm(client, clock)
    summary = await client.state_summary(StateSummaryQuery(cluster_uuid=CLUSTER))
    assert summary.running_count >= 1 and summary.total >= summary.running_count


async def test_log_records_operations(client: ComputeClient, clock: FakeClock) -> None:
    vm = await running_vm(client, clock)
    page = await client.log(vm)
    assert page.total_count >= 2 and page.infos[0].object_uuid == vm.compute_uuid


async def test_zone_must_exist(client: ComputeClient) -> None:
    request = UnifiedCreateRequest(cluster_uuid=CLUSTER, tenant=TENANT, zone="nope", meta=ComputeMeta(compute_name="z"))
    await expect_scode(Scode.ZONE_NOT_FOUND, client.unified_create(request))
    ok = request.model_copy(update={"zone": ZONE})
    assert (await client.unified_create(ok)).items[0].ok


async def test_unified_import_imports_then_runs_and_a_missing_image_fails_22211(
    client: ComputeClient, clock: FakeClock
) -> None:
    image = UnifiedDisk(
        disk_target_bus="virtio",
        disk_unified_vsd=UnifiedVsd(pool_uuid=POOL, disk_capacity=GIB),
        image_uuid="caf1c032-8812-430f-98c3-f2117e3affe0",
        repository_uuid="15dd8b65-d4be-434f-92f9-88d13264e4f6",
    )
    request = UnifiedCreateRequest(
        cluster_uuid=CLUSTER, tenant=TENANT, meta=ComputeMeta(compute_name="img"), disks=[image]
    )
    made = (await client.unified_import(request)).items[0]
    assert made.ok
    assert made.data is not None
    vm = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=made.data.vm_uuid)
    assert (await client.inspect(vm)).action == "importing"
    await expect_scode(Scode.VM_ACTION_IN_PROGRESS, client.start(vm))
    assert 0 <= await client.import_progress(vm) < 100
    clock.advance(10)
    await client.start(vm)
    await expect_scode(Scode.VM_STATE_INVALID, client.import_progress(vm))
    missing = request.model_copy(update={"disks": [image.model_copy(update={"image_uuid": "nope"})]})
    failed = (await client.unified_import(missing)).items[0]
    assert failed.error is not None
    assert failed.error.scode == Scode.IMPORT_IMAGE_FAILED
