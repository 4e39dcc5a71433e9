"""The planner's rules for host devices passed through (spec.pci, spec.mdev), the console's
graphics modes (vgpu/set), reservations and the memory balloon, a NIC's bound IP, and restart
requests (vmop.io/restart): each the doc's state rule, or where it is silent the strictest one."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.support.reconcile import MAC_A, VM_UUID, context, memory, nic, observed, shape, spec
from tests.support.simulation import CLUSTER, TENANT
from vmop.api.conditions import Reason
from vmop.api.virtualmachine import VirtualMachineStatus
from vmop.compute.models import ComputeIdentifier
from vmop.compute.requests import (
    BalloonSetRequest,
    IpMacBindRequest,
    MdevDeviceRequest,
    MemoryReserveRequest,
    MetaSetRequest,
    PciDeviceRequest,
    VgpuSetRequest,
)
from vmop.reconcile.changes import Owned, held_passthrough, pci_device, plan_changes
from vmop.reconcile.create import settings_after_create
from vmop.reconcile.drift import list_suggests_drift
from vmop.reconcile.observed import ObservedMdev, Shape, pci_address
from vmop.reconcile.status import memory_from_status, render_status
from vmop.reconcile.virtualmachine import AGENT_WAIT_SECONDS, Memory, Plan, plan_virtual_machine

IDENT = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=VM_UUID, compute_name="vm1")
GPU = "0000:3b:00.0"
MDEV_UUID = "8a1b7e0c-2f0d-4c1e-9b3a-5d6e7f8a9b0c"
PCI: dict[str, Any] = {"name": "gpu", "address": GPU}
MDEV: dict[str, Any] = {"name": "vgpu", "uuid": MDEV_UUID}
HA_OFF = shape(ha_mode="off")


def _plan(
    wanted: Any,
    *,
    state: str = "running",
    agent: str = "connected",
    vm_shape: Shape | None = None,
    restart: str | None = None,
    **kept: Any,
) -> Plan:
    seen = observed(state, agent=agent, vm_shape=vm_shape or shape())
    return plan_virtual_machine(wanted, context(restart_request=restart), replace(memory(), **kept), seen, [])


def _owned(**devices: Any) -> Memory:
    return replace(memory(), owned=replace(memory().owned, **devices))


def _operations(plan: Plan) -> list[str]:
    return [c.operation for c in plan.calls]


# ---------------------------------------------------------------- pci


def test_a_pci_address_reads_as_the_hosts_numbers_and_back() -> None:
    device = pci_device("0001:3b:1f.7")
    assert (device.domain, device.bus, device.slot, device.function) == (1, 0x3B, 0x1F, 7)
    assert pci_address(device) == "0001:3b:1f.7"


def test_a_pci_device_is_attached_only_while_the_vm_runs() -> None:
    wanted = spec(ha_mode="off", pci=[PCI])
    running = _plan(wanted, vm_shape=HA_OFF)
    (attach,) = running.calls
    assert attach.operation == "pci/attach" and isinstance(attach.request, PciDeviceRequest)
    assert attach.request.wire()["pci_device"] == {"Domain": 0, "Bus": 0x3B, "Slot": 0, "Function": 0}
    stopped = _plan(spec(ha_mode="off", pci=[PCI], power_state="Stopped"), state="shutoff", vm_shape=HA_OFF)
    assert stopped.calls == [] and stopped.pending_changes == ["pci[gpu]"]


def test_only_pci_devices_vmop_attached_are_detached_running_or_shut_off() -> None:
    held = shape(ha_mode="off", pci=(GPU, "0000:00:00.0"))
    for state, power in (("running", "Running"), ("shutoff", "Stopped")):
        wanted = spec(ha_mode="off", power_state=power)
        plan = _plan(wanted, state=state, vm_shape=held, owned=_owned(pci={"gpu": GPU}).owned)
        (detach,) = plan.calls
        assert detach.operation == "pci/detach" and isinstance(detach.request, PciDeviceRequest)
        assert pci_address(detach.request.pci_device) == GPU
        assert plan.memory.owned.pci == {"gpu": GPU}  # until the detach succeeds (the controller drops it)
    assert _plan(spec(ha_mode="off"), vm_shape=held).calls == []  # 0000:00:00.0 is not vmop's: kept


def test_a_declared_pci_device_the_vm_has_is_recorded_and_a_rename_calls_nothing() -> None:
    held = shape(ha_mode="off", pci=(GPU,))
    found = _plan(spec(ha_mode="off", pci=[PCI]), vm_shape=held)
    assert found.calls == [] and found.memory.owned.pci == {"gpu": GPU}
    renamed = _plan(spec(ha_mode="off", pci=[{**PCI, "name": "card"}]), vm_shape=held, owned=found.memory.owned)
    assert renamed.calls == [] and renamed.memory.owned.pci == {"card": GPU}


def test_a_record_of_a_device_gone_behind_vmops_back_is_dropped_or_attached_again() -> None:
    kept = Owned({}, {}, pci={"gpu": GPU, "old": "0000:3b:00.1"})
    owned = held_passthrough(spec(ha_mode="off", pci=[PCI]), shape(ha_mode="off"), kept)
    assert owned.pci == {}
    plan = _plan(spec(ha_mode="off", pci=[PCI]), vm_shape=HA_OFF, owned=kept)
    assert _operations(plan) == ["pci/attach"]


def test_high_availability_goes_off_before_an_attach_and_back_on_after_the_detach() -> None:
    """The doc: passthrough devices and HA exclude each other; meta/set otherwise comes first."""
    attach = _plan(spec(ha_mode="off", pci=[PCI]))
    assert _operations(attach) == ["meta/set", "pci/attach"]
    assert isinstance(attach.calls[0].request, MetaSetRequest) and attach.calls[0].request.meta is not None
    assert attach.calls[0].request.meta.ha_mode == "off"
    detach = _plan(spec(ha_mode="on"), vm_shape=shape(ha_mode="off", pci=(GPU,)), owned=_owned(pci={"gpu": GPU}).owned)
    assert _operations(detach) == ["pci/detach", "meta/set"]


def test_high_availability_is_not_turned_on_beside_a_device_vmop_did_not_attach_and_that_is_said() -> None:
    plan = _plan(spec(ha_mode="on"), vm_shape=shape(ha_mode="off", pci=(GPU,)))
    assert plan.calls == [] and plan.verdict.synced_reason == Reason.UNSUPPORTED_CHANGE
    assert plan.verdict.message.startswith("haMode: on") and f"pci {GPU}" in plan.verdict.message


# ---------------------------------------------------------------- mdev


def test_an_mdev_is_attached_while_running_with_its_model_and_display() -> None:
    plan = _plan(spec(ha_mode="off", mdev=[{**MDEV, "model": "vfio-ap", "display": True}]), vm_shape=HA_OFF)
    (attach,) = plan.calls
    assert attach.operation == "mdev/attach" and isinstance(attach.request, MdevDeviceRequest)
    device = attach.request.mdev_device
    assert (device.src_address_uuid, device.model, device.display) == (MDEV_UUID, "vfio-ap", "on")
    off = _plan(spec(ha_mode="off", mdev=[MDEV], power_state="Stopped"), state="shutoff", vm_shape=HA_OFF)
    assert off.calls == [] and off.pending_changes == ["mdev[vgpu]"]


def test_an_mdev_is_detached_by_uuid_alone() -> None:
    held = shape(ha_mode="off", mdevs=(ObservedMdev(MDEV_UUID, "vfio-pci", "off"),))
    (detach,) = _plan(spec(ha_mode="off"), vm_shape=held, owned=_owned(mdev={"vgpu": MDEV_UUID}).owned).calls
    assert detach.operation == "mdev/detach" and isinstance(detach.request, MdevDeviceRequest)
    assert detach.request.wire()["mdev_device"] == {"src_address_uuid": MDEV_UUID}


def test_an_mdev_of_another_display_is_attached_again_only_while_running() -> None:
    held = shape(ha_mode="off", mdevs=(ObservedMdev(MDEV_UUID, "vfio-pci", "off"),))
    wanted = {**MDEV, "display": True}
    running = _plan(spec(ha_mode="off", mdev=[wanted]), vm_shape=held)
    assert _operations(running) == ["mdev/detach", "mdev/attach"]
    stopped = _plan(spec(ha_mode="off", mdev=[wanted], power_state="Stopped"), state="shutoff", vm_shape=held)
    assert stopped.calls == [] and stopped.pending_changes == ["mdev[vgpu]", "mdev[vgpu]"]  # never left without it
    unreported = shape(ha_mode="off", mdevs=(ObservedMdev(MDEV_UUID),))
    assert _plan(spec(ha_mode="off", mdev=[wanted]), vm_shape=unreported).calls == []


def test_declared_devices_not_recorded_as_attached_ask_for_details() -> None:
    seen = observed(with_shape=False)
    kept = memory().owned
    for wanted in (spec(ha_mode="off", pci=[PCI]), spec(ha_mode="off", mdev=[MDEV])):
        assert list_suggests_drift(wanted, seen, kept, name="vm1", group=None)
    recorded = replace(kept, pci={"gpu": GPU}, mdev={"vgpu": MDEV_UUID})
    both = spec(ha_mode="off", pci=[PCI], mdev=[MDEV])
    assert not list_suggests_drift(both, seen, recorded, name="vm1", group=None)


def test_a_view_without_details_that_cannot_show_declared_devices_is_never_in_sync() -> None:
    """The list (or a create's answer) shows no devices: the pass must read the details before it
    says anything, and until then it says neither Ready nor "in sync"."""
    unseen = observed(with_shape=False)
    plan = plan_virtual_machine(spec(ha_mode="off", mdev=[MDEV]), context(), memory(), unseen, [])
    assert plan.needs_details and plan.calls == []
    assert not plan.verdict.ready and plan.verdict.message != "in sync"
    recorded = _owned(mdev={"vgpu": MDEV_UUID})
    settled = plan_virtual_machine(spec(ha_mode="off", mdev=[MDEV]), context(), recorded, unseen, [])
    assert not settled.needs_details and settled.verdict.ready and settled.verdict.message == "in sync"


# ---------------------------------------------------------------- console graphics, reservations


def test_graphics_modes_wait_for_a_power_cycle_and_are_set_one_call_each_when_off() -> None:
    wanted = {"compression": "lz4", "streaming": "all"}
    running = _plan(spec(console=wanted), vm_shape=shape(compression="glz", streaming="filter"))
    assert running.calls == [] and running.pending_changes == ["console.compression", "console.streaming"]
    off = _plan(
        spec(console=wanted, power_state="Stopped"), state="shutoff", vm_shape=shape(compression="glz", streaming="all")
    )
    (call,) = off.calls
    assert call.operation == "vgpu/set" and isinstance(call.request, VgpuSetRequest)
    assert {k: v for k, v in call.request.wire().items() if k in ("compression", "mode")} == {"compression": "lz4"}
    assert _plan(spec(console=wanted), vm_shape=shape()).calls == []  # not reported: not compared


def test_cpu_reservation_is_set_hot_and_memory_reservation_shut_off() -> None:
    wanted = spec(cpu={"reserve": True}, memory_reserve=True)
    running = _plan(wanted, vm_shape=shape(cpu_reserve=False, memory_reserve=False))
    assert _operations(running) == ["cpu/reserve"] and running.pending_changes == ["memoryReserve"]
    off = _plan(
        spec(cpu={"reserve": True}, memory_reserve=True, power_state="Stopped"),
        state="shutoff",
        vm_shape=shape(cpu_reserve=True, memory_reserve=False),
    )
    (call,) = off.calls
    assert call.operation == "memory/reserve" and isinstance(call.request, MemoryReserveRequest)
    assert (call.request.memory_reserve_enable, call.request.cpu_reserve_enable) == (True, True)  # both names
    assert _plan(wanted, vm_shape=shape()).calls == []  # not reported: not compared
    assert _plan(spec(), vm_shape=shape(cpu_reserve=True, memory_reserve=True)).calls == []  # unset: left


def test_a_vm_just_made_is_inspected_first_only_for_what_the_create_cannot_send() -> None:
    assert settings_after_create(spec()) == []
    wanted = spec(cpu={"reserve": False}, memory_reserve=True, console={"streaming": "off"}, pci=[PCI], ha_mode="off")
    assert settings_after_create(wanted) == ["cpu.reserve", "memoryReserve", "console.streaming"]


# ---------------------------------------------------------------- balloon


def test_the_balloon_is_set_only_while_running_and_recorded_once_sent() -> None:
    running = _plan(spec(memory_balloon="512Mi"))
    (call,) = running.calls
    assert call.operation == "balloon/set" and isinstance(call.request, BalloonSetRequest)
    assert call.request.memory == 512 * 1024**2
    assert running.memory.balloon is None  # recorded by the controller once the call succeeds
    stopped = _plan(spec(memory_balloon="512Mi", power_state="Stopped"), state="shutoff")
    assert stopped.calls == [] and stopped.pending_changes == ["memoryBalloon"]
    assert _plan(spec(memory_balloon="512Mi"), balloon=512 * 1024**2).calls == []


def test_a_start_forgets_the_balloon_so_it_is_set_again_and_unset_forgets_it() -> None:
    start = _plan(spec(memory_balloon="0"), state="shutoff", balloon=0)
    assert _operations(start) == ["start"] and start.memory.balloon is None
    assert _plan(spec(), balloon=0).memory.balloon is None


# ---------------------------------------------------------------- a NIC's bound IP


def test_a_new_bound_ip_is_set_hot_on_the_same_mac_keeping_the_binding() -> None:
    eth0 = {"name": "eth0", "network": "ycb123", "portGroup": nic(MAC_A).port_group, "mac": MAC_A}
    seen = replace(nic(MAC_A), bound_ip="10.0.0.1", interface_id="nic-1")
    for state, power in (("running", "Running"), ("shutoff", "Stopped")):
        plan = _plan(
            spec(interfaces=[{**eth0, "boundIp": "10.0.0.2"}], power_state=power),
            state=state,
            vm_shape=shape(nics=(seen,)),
        )
        (call,) = plan.calls
        assert call.operation == "ip_mac_bind/update" and isinstance(call.request, IpMacBindRequest)
        request = call.request
        assert (request.interface_id, request.mac_address, request.bound_ip, request.peer) == (
            "nic-1",
            MAC_A,
            "10.0.0.2",
            "",
        )
    assert _plan(spec(interfaces=[eth0]), vm_shape=shape(nics=(seen,))).calls == []  # unset: left as it is


def test_a_bound_ip_change_on_a_nic_the_platform_shows_no_id_for_is_reported() -> None:
    eth0 = {"name": "eth0", "network": "ycb123", "portGroup": nic(MAC_A).port_group, "mac": MAC_A}
    seen = replace(nic(MAC_A), bound_ip="10.0.0.1")
    changes, unsupported = plan_changes(
        spec(interfaces=[{**eth0, "boundIp": "10.0.0.2"}]),
        observed(vm_shape=shape(nics=(seen,))),
        IDENT,
        memory().owned,
        name="vm1",
        group=None,
    )
    assert changes == [] and len(unsupported) == 1 and "interfaces[eth0].boundIp" in unsupported[0]


# ---------------------------------------------------------------- restart requests


def test_a_restart_request_reboots_through_the_guest_agent_once() -> None:
    plan = _plan(spec(), restart="r1")
    (call,) = plan.calls
    assert call.operation == "reboot_ga" and call.owner == "r1" and "vmop.io/restart=r1" in call.reason
    assert plan.memory.restart_handled is None  # recorded by the controller once the call succeeds
    assert _plan(spec(), restart="r1", restart_handled="r1").calls == []


@pytest.mark.parametrize("agent", ["disconnected", "pending"])
def test_a_guest_agent_restart_waits_for_the_agent_and_says_so(agent: str) -> None:
    plan = _plan(spec(), agent=agent, restart="r1")
    assert plan.calls == [] and plan.memory.restart_handled is None
    assert plan.verdict.synced_reason == Reason.RESTART_PENDING and "waits for the guest agent" in plan.verdict.message
    assert plan.verdict.message != "in sync" and plan.requeue_after == AGENT_WAIT_SECONDS


def test_restart_method_reset_restarts_without_the_agent() -> None:
    (call,) = _plan(spec(restart_method="Reset"), agent="disconnected", restart="r2").calls
    assert (call.operation, call.owner) == ("reset", "r2")


@pytest.mark.parametrize(
    ("state", "power"),
    [("shutoff", "Stopped"), ("paused", "Suspended"), ("shutoff", "Running")],
    ids=["stopped", "paused", "about-to-start"],
)
def test_a_vm_that_is_not_running_or_is_starting_has_nothing_to_restart(state: str, power: str) -> None:
    plan = _plan(spec(power_state=power), state=state, agent="disconnected", restart="r3")
    assert "reboot_ga" not in _operations(plan) and "reset" not in _operations(plan)
    assert plan.memory.restart_handled == "r3"


def test_a_vm_being_stopped_has_nothing_to_restart() -> None:
    plan = _plan(spec(power_state="Stopped"), restart="r4")
    assert _operations(plan) == ["shutdown"] and plan.memory.restart_handled == "r4"


def test_a_create_keeps_the_answered_restart_request_so_a_new_vm_is_not_rebooted_for_it() -> None:
    plan = plan_virtual_machine(
        spec(), context(restart_request="r5"), replace(memory(uuid=None), restart_handled="r5"), None, []
    )
    assert _operations(plan) == ["unified_create"] and plan.memory.restart_handled == "r5"


# ---------------------------------------------------------------- status


def test_status_keeps_what_no_observation_shows() -> None:
    owned = replace(memory().owned, pci={"gpu": GPU}, mdev={"vgpu": MDEV_UUID})
    plan = _plan(
        spec(ha_mode="off", pci=[PCI], mdev=[MDEV], memory_balloon="0"),
        vm_shape=shape(ha_mode="off", pci=(GPU,), mdevs=(ObservedMdev(MDEV_UUID),)),
        owned=owned,
        balloon=0,
        restart_handled="r1",
    )
    assert plan.calls == []
    status = render_status(VirtualMachineStatus(), plan, None, error=None, generation=1, now=0.0)
    assert (status.memory_balloon, status.restart_requested) == ("0", "r1")
    again = memory_from_status(status, None)
    assert (again.owned.pci, again.owned.mdev, again.balloon, again.restart_handled) == (
        {"gpu": GPU},
        {"vgpu": MDEV_UUID},
        0,
        "r1",
    )
