"""Host devices passed through (pci, mdev), resources (reservations, the balloon, the console's
graphics modes), restart requests and a NIC's bound IP, against the real apiserver, `vmop run`
and `vmop sim`: each converges by the doc's state rule, and nothing waiting says "in sync"."""

from __future__ import annotations

from typing import Any

import pytest
from tests.integration.test_virtualmachine_lifecycle import (
    manifest,
    platform_vm,
    status,
    stop_calls,
    unique,
    wait_ready,
)
from tests.support.processes import Kube, SimProcess, condition, wait_for

from vmop.sim.world import derived_uuid

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("operator")]

GPU = "0000:3b:00.0"  # every simulated host has it, passthrough-capable
MIB = 1024**2


def _pci(vm: dict[str, Any]) -> list[tuple[int, int, int, int]]:
    return [(d["Domain"], d["Bus"], d["Slot"], d["Function"]) for d in vm["pci_devices"] or []]


def _mdevs(vm: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["src_address_uuid"], d["display"]) for d in vm["mdev_devices"] or []]


def test_pci_and_mdev_devices_are_attached_running_changed_and_detached_before_ha_goes_on(
    kube: Kube, sim: SimProcess
) -> None:
    name = unique("gpu")
    kube.apply(manifest(name, haMode="off"))
    uuid = wait_ready(kube, name)["status"]["uuid"]
    mdev = derived_uuid("mdev", platform_vm(sim, uuid)["machine_uuid"])  # the simulated host's one mdev
    kube.patch_spec(
        "virtualmachine",
        name,
        {"pci": [{"name": "gpu", "address": GPU}], "mdev": [{"name": "vgpu", "uuid": mdev}]},
    )
    wait_for(lambda: _pci(platform_vm(sim, uuid)) == [(0, 0x3B, 0, 0)] or None, timeout=40, what="pci attached")
    wait_for(lambda: _mdevs(platform_vm(sim, uuid)) == [(mdev, "off")] or None, timeout=40, what="mdev attached")
    found = wait_for(lambda: status(kube, name) if status(kube, name).get("mdev") else None, what="status.mdev")
    assert found["pci"] == [{"name": "gpu", "address": GPU}] and found["mdev"] == [{"name": "vgpu", "uuid": mdev}]

    # Another display: detached and attached again (no call changes an mdev), while running.
    kube.patch_spec("virtualmachine", name, {"mdev": [{"name": "vgpu", "uuid": mdev, "display": True}]})
    wait_for(lambda: _mdevs(platform_vm(sim, uuid)) == [(mdev, "on")] or None, timeout=40, what="mdev display on")

    # Both removed and HA on in one edit: the detaches go first (passthrough and HA exclude each other).
    kube.patch_spec("virtualmachine", name, {"pci": [], "mdev": [], "haMode": "on"})

    def released() -> dict[str, Any] | None:
        vm = platform_vm(sim, uuid)
        return vm if not _pci(vm) and not _mdevs(vm) and vm["ha_mode"] == "on" else None

    wait_for(released, timeout=40, what="devices detached and HA on")
    after = wait_ready(kube, name)
    assert condition(after, "Synced")["status"] == "True", after["status"]
    assert not after["status"].get("pci") and not after["status"].get("mdev")
    assert platform_vm(sim, uuid)["state"] == "running"


@pytest.mark.profiles
def test_reservations_balloon_and_graphics_are_set_by_their_state_rules(kube: Kube, sim: SimProcess) -> None:
    """Run against both readings of the silent doc (scripts/test): the balloon only while running
    and dropped at power-off, memory/reserve reading either field name."""
    name = unique("res")
    kube.apply(
        manifest(
            name,
            cpu={"sockets": 1, "cores": 2, "reserve": True},
            memoryReserve=True,
            memoryBalloon="512Mi",
            console={"compression": "lz4"},
            updatePolicy="Restart",
            shutdownTimeoutSeconds=5,
        )
    )
    uuid = wait_ready(kube, name, timeout=60)["status"]["uuid"]
    vm = platform_vm(sim, uuid)
    # The create cannot send these: set on the new VM before its first start (memory/reserve and
    # vgpu/set need it shut off), the balloon once it runs.
    assert (vm["cpu_reserve_enable"], vm["memory_reserve_enable"], vm["compression_mode"]) == (True, True, "lz4")
    assert vm["state"] == "running" and sim.unshown(uuid)["balloon"] == 512 * MIB
    assert status(kube, name)["memoryBalloon"] == "512Mi"
    stops = stop_calls(sim)

    # While running: the CPU reservation hot; the memory reservation and streaming by a restart
    # (updatePolicy Restart); the balloon set again after that start (it may not outlast it).
    kube.patch_spec(
        "virtualmachine",
        name,
        {"cpu": {"sockets": 1, "cores": 2, "reserve": False}, "memoryReserve": False, "console": {"streaming": "all"}},
    )

    def applied() -> dict[str, Any] | None:
        vm = platform_vm(sim, uuid)
        done = (vm["cpu_reserve_enable"], vm["memory_reserve_enable"], vm["streaming_mode"]) == (False, False, "all")
        return vm if done and vm["state"] == "running" else None

    wait_for(applied, timeout=60, what="reservations off and streaming all, running again")
    assert stop_calls(sim) != stops  # the cold ones needed a power cycle
    after = wait_ready(kube, name, timeout=60)
    assert not after["status"].get("pendingChanges") and condition(after, "Synced")["status"] == "True"
    wait_for(lambda: sim.unshown(uuid)["balloon"] == 512 * MIB or None, timeout=30, what="the balloon after the start")


def test_restart_requests_reboot_through_the_guest_agent_or_reset_once_each(kube: Kube, sim: SimProcess) -> None:
    name = unique("reboot")
    kube.apply(manifest(name))
    uuid = wait_ready(kube, name)["status"]["uuid"]
    wait_for(lambda: platform_vm(sim, uuid)["ga_state"] == "connected" or None, what="the guest agent")
    calls = sim.stats()["calls"]
    before = {op: int(calls.get(op, 0)) for op in ("reboot_ga", "reset", "shutdown", "shutoff", "start")}

    def made() -> dict[str, int]:
        calls = sim.stats()["calls"]
        return {op: int(calls.get(op, 0)) - before[op] for op in before}

    kube.annotate("virtualmachine", name, **{"vmop.io/restart": "first"})
    wait_for(lambda: status(kube, name).get("restartRequested") == "first" or None, what="the request answered")
    assert made() == {"reboot_ga": 1, "reset": 0, "shutdown": 0, "shutoff": 0, "start": 0}

    kube.patch_spec("virtualmachine", name, {"restartMethod": "Reset"})
    kube.annotate("virtualmachine", name, **{"vmop.io/restart": "second"})
    wait_for(lambda: status(kube, name).get("restartRequested") == "second" or None, what="the reset answered")
    wait_ready(kube, name)
    assert made() == {"reboot_ga": 1, "reset": 1, "shutdown": 0, "shutoff": 0, "start": 0}
    assert platform_vm(sim, uuid)["state"] == "running"


def test_a_nics_bound_ip_changes_in_place_while_running(kube: Kube, sim: SimProcess) -> None:
    name = unique("boundip")
    eth0 = manifest(name)["spec"]["interfaces"][0]
    kube.apply(manifest(name, interfaces=[{**eth0, "boundIp": "10.30.40.5"}]))
    uuid = wait_ready(kube, name)["status"]["uuid"]
    nic = platform_vm(sim, uuid)["interfaces"][0]
    assert nic["bound_ip"] == "10.30.40.5"
    stops = stop_calls(sim)
    kube.patch_spec("virtualmachine", name, {"interfaces": [{**eth0, "boundIp": "10.30.40.6"}]})

    def rebound() -> dict[str, Any] | None:
        now = platform_vm(sim, uuid)["interfaces"][0]
        return now if now["bound_ip"] == "10.30.40.6" else None

    moved = wait_for(rebound, timeout=40, what="the new bound IP")
    assert (moved["mac_address"], moved["interface_id"]) == (nic["mac_address"], nic["interface_id"])  # in place
    after = wait_ready(kube, name)
    synced = condition(after, "Synced") or {}
    assert synced["status"] == "True" and synced["reason"] != "UnsupportedChange", synced
    assert stop_calls(sim) == stops and platform_vm(sim, uuid)["state"] == "running"
    assert not after["status"].get("pendingChanges")
