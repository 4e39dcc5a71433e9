"""`vmop sim` plays the other readings of the doc (sim/dialect.py), and vmop's client, with its
default profile, reads them all; plus --state-file, PATCH /sim/faults and disk/export."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.simulation import CLUSTER, FLIPPED, TENANT, FakeClock, dialect_arguments, make_platform
from tests.unit.test_sim_rules import make_vm, running_vm
from vmop.compute import ComputeClient, ComputeError, ComputeSettings, RetryPolicy, Scode
from vmop.compute.models import ComputeIdentifier
from vmop.compute.requests import DiskExportRequest, ExportDisk, ListQuery
from vmop.reconcile.observed import from_inspect
from vmop.reconcile.power import current_power
from vmop.sim.app import create_app
from vmop.sim.platform import Platform
from vmop.sim.server import add_arguments, build_platform
from vmop.sim.state import load_state, save_state
from vmop.sim.world import World, default_seed

GONE = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid="00000000-0000-4000-8000-000000000000")


@pytest.fixture
def flipped(clock: FakeClock) -> Platform:
    return make_platform(clock, dialect=FLIPPED)


@pytest.fixture
async def flipped_client(flipped: Platform) -> AsyncIterator[ComputeClient]:
    settings = ComputeSettings(base_url="http://sim.test", retry=RetryPolicy(max_attempts=2, base_delay=0.001))
    async with ComputeClient(settings, transport=httpx.ASGITransport(app=create_app(flipped))) as client:
        yield client


def test_the_command_line_selects_every_option_of_the_dialect() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(dialect_arguments(FLIPPED))
    assert build_platform(args).dialect == FLIPPED
    assert build_platform(parser.parse_args([])).dialect == type(FLIPPED)()
    assert all(flag in parser.format_help() for flag in dialect_arguments(FLIPPED) if flag.startswith("--"))
    assert "forced_scode" in parser.format_help() and "unreachable_hosts" in parser.format_help()


async def test_refusals_use_the_dialect_s_codes_status_and_data(flipped: Platform) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(flipped)), base_url="http://s") as http:
        answer = await http.get("/v1/compute/inspect", params=GONE.model_dump(include={"cluster_uuid", "compute_uuid"}))
    assert answer.status_code == 500
    assert (answer.json()["scode"], answer.json()["data"]) == (31001, "")


async def test_the_default_client_reads_the_flipped_dialect(flipped_client: ComputeClient, clock: FakeClock) -> None:
    with pytest.raises(ComputeError) as caught:
        await flipped_client.inspect(GONE)
    assert (caught.value.scode, caught.value.message) == (31001, "vm not found")
    for i in range(7):
        await make_vm(flipped_client, f"flip-{i}")
    listing = await flipped_client.list_all_vms(CLUSTER, TENANT, page_size=2, filter_fuzzy="flip-")
    assert sorted(vm.name for vm in listing.domains) == [f"flip-{i}" for i in range(7)]
    assert listing.unreadable == []
    vm = await running_vm(flipped_client, clock, "sleeper")
    await flipped_client.save(vm)
    hibernated = await flipped_client.inspect(vm)
    assert (hibernated.state, hibernated.action) == ("pmsuspend", "noaction")
    assert current_power(from_inspect(hibernated)) == "Hibernated"
    with pytest.raises(ComputeError) as refused:
        await flipped_client.start(vm)  # a hibernated VM is never cold-booted
    assert refused.value.scode == Scode.VM_STATE_INVALID
    await flipped_client.restore(vm)
    assert (await flipped_client.inspect(vm)).state == "running"


async def test_null_fields_are_seeded_and_sent(flipped: Platform) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(flipped)), base_url="http://s") as http:
        answers = [(await http.get("/v1/compute/list", params={"cluster_uuid": CLUSTER})).json() for _ in range(8)]
    nulls = [vm.get("modify_time") is None for answer in answers for vm in answer["data"]["domains"]]
    assert any(nulls) and not all(nulls)


async def test_page_size_not_above_zero_lists_everything(client: ComputeClient) -> None:
    for i in range(3):
        await make_vm(client, f"all-{i}")
    for size in (0, -1):
        page = await client.list_vms(
            ListQuery(cluster_uuid=CLUSTER, tenant=TENANT, filter_fuzzy="all-", page_size=size)
        )
        assert len(page.domains) == 3


async def test_inspect_shows_one_vnc_enable_at_the_top_and_in_meta(client: ComputeClient, platform: Platform) -> None:
    vm = await make_vm(client, "vnc")
    platform.world.vms[vm.compute_uuid].meta["vnc_enable"] = True
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(platform)), base_url="http://s") as http:
        params = vm.model_dump(include={"cluster_uuid", "tenant", "compute_uuid"})
        data = (await http.get("/v1/compute/inspect", params=params)).json()["data"]
    assert data["vnc_enable"] is True and data["meta"]["vnc_enable"] is True


async def test_disk_export_runs_then_progress_says_22151(client: ComputeClient, clock: FakeClock) -> None:
    vm = await running_vm(client, clock, "export")
    device = (await client.inspect(vm)).disks[0].disk_target_device
    request = DiskExportRequest(
        **vm.model_dump(), disk=[ExportDisk(image_name="e.qcow2", image_type="qcow2", device=device)]
    )
    assert await client.export_disk(request) == "export"
    assert (await client.inspect(vm)).action == "exporting"
    assert 0 <= await client.export_progress(vm) < 100
    clock.advance(60)
    with pytest.raises(ComputeError) as idle:
        await client.export_progress(vm)
    assert idle.value.scode == Scode.NOT_EXPORTING == 22151


async def test_put_faults_replaces_patch_merges(platform: Platform) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(platform)), base_url="http://s") as http:
        await http.put("/sim/faults", json={"latency_ms": 5, "no_guest_agent": True})
        merged = (await http.patch("/sim/faults", json={"forced_scode": {"start": 20926}})).json()
        assert (merged["latency_ms"], merged["no_guest_agent"], merged["forced_scode"]) == (5, True, {"start": 20926})
        replaced = (await http.put("/sim/faults", json={"migration_fails": True})).json()
    assert (replaced["latency_ms"], replaced["no_guest_agent"], replaced["forced_scode"]) == (0, False, {})


async def test_the_state_file_keeps_the_world_across_a_restart(
    client: ComputeClient, platform: Platform, clock: FakeClock, tmp_path: Path
) -> None:
    kept = await running_vm(client, clock, "kept")
    booting = await make_vm(client, "booting")
    await client.start(booting)  # its agent connects after the restart
    state = tmp_path / "world.json"
    save_state(platform.world, state)
    restarted = World(default_seed(), clock=clock)
    load_state(restarted, state)
    assert {vm.name: (vm.state, vm.ga_state) for vm in restarted.vms.values() if vm.name in ("kept", "booting")} == {
        "kept": ("running", "connected"),
        "booting": ("running", "connected"),
    }
    original = platform.world.vms[kept.compute_uuid]
    again = restarted.vms[kept.compute_uuid]
    assert (again.disks, again.interfaces, again.create_time) == (
        original.disks,
        original.interfaces,
        original.create_time,
    )
    assert restarted.volumes.keys() == platform.world.volumes.keys()
