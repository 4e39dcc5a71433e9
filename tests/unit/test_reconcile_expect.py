"""expect_after: the VM as a pass's successful calls leave it, so the status that pass writes shows
what it made (a hot memory change showed the old memory, with the new generation and Synced=True,
until the next resync), and planning again from it finds nothing more to do."""

from __future__ import annotations

from dataclasses import replace
from functools import reduce

from tests.support.reconcile import (
    DATA_VOLUME,
    MAC_A,
    MAC_B,
    NOW,
    ROOT_DISK,
    context,
    memory,
    nic,
    observed,
    shape,
    spec,
)
from tests.support.simulation import PORT_GROUP
from tests.unit.test_reconcile_virtualmachine import cold_and_hot_spec, running_with_data_disk
from vmop.api.conditions import READY, RESTART_REQUIRED, SYNCED
from vmop.api.virtualmachine import VirtualMachineSpec, VirtualMachineStatus
from vmop.compute.models import ComputeIdentifier, DiskVsdSource, Interface
from vmop.compute.requests import DiskAttachRequest, InterfaceAttachRequest
from vmop.compute.rules import GIB
from vmop.reconcile.calls import Call
from vmop.reconcile.expect import expect_after
from vmop.reconcile.observed import Observed
from vmop.reconcile.status import render_status
from vmop.reconcile.virtualmachine import Memory, Plan, plan_virtual_machine


def performed(plan: Plan, vm: Observed) -> Observed:
    return reduce(expect_after, plan.calls, vm)


def status_after(desired: VirtualMachineSpec, mem: Memory, vm: Observed) -> tuple[Plan, VirtualMachineStatus]:
    """Plan, perform (as expected), plan again, render: what one controller pass writes."""
    plan = plan_virtual_machine(desired, context(), mem, vm, [])
    assert plan.calls
    made = performed(plan, vm)
    again = plan_virtual_machine(desired, context(), plan.memory, made, [])
    return again, render_status(VirtualMachineStatus(), again, made, error=None, generation=2, now=NOW)


def conditions(status: VirtualMachineStatus) -> dict[str, str]:
    return {c.type: c.status for c in status.conditions or []}


def test_a_hot_memory_change_shows_the_new_memory_in_the_pass_that_made_it() -> None:
    vm = observed(vm_shape=shape(memory=2 * GIB))
    again, status = status_after(spec(memory="4Gi"), memory(), vm)
    assert again.calls == [] and again.pending_changes == []
    assert (status.memory, status.observed_generation, status.state) == ("4Gi", 2, "running")
    assert conditions(status) == {READY: "True", SYNCED: "True", RESTART_REQUIRED: "False"}


def test_every_change_a_shut_off_vm_takes_shows_and_leaves_nothing_to_plan() -> None:
    """cpu, memory, os, a detach and a cdrom, then the start: all expected exactly."""
    running, mem = running_with_data_disk()
    vm = replace(running, state="shutoff", agent="disconnected", host="")
    again, status = status_after(cold_and_hot_spec(), mem, vm)
    assert again.calls == [] and again.pending_changes == [] and again.verdict.ready
    assert (status.cpus, status.memory, status.state) == (4, "512Mi", "running")
    assert status.volumes == [ROOT_DISK.volume]  # the data disk detached


def test_changes_left_for_the_next_power_cycle_stay_listed_after_a_hot_call() -> None:
    vm, mem = running_with_data_disk()
    again, status = status_after(cold_and_hot_spec(), mem, vm)  # the cdrom now, the rest cold
    assert again.calls == []
    assert sorted(status.pending_changes or []) == ["cpu.topology", "disks[data]", "memory", "os"]
    assert conditions(status)[RESTART_REQUIRED] == "True"


def test_an_attach_leaves_the_shape_unknown_and_shows_what_is_known() -> None:
    vm = observed(vm_shape=shape())
    ident = ComputeIdentifier(cluster_uuid=vm.cluster, tenant=vm.tenant, compute_uuid=vm.uuid)
    disk = DiskAttachRequest(
        **ident.model_dump(), target_bus="virtio", source_vsd=DiskVsdSource(volume_uuid=DATA_VOLUME)
    )
    attached = expect_after(vm, Call("disk/attach", disk, "attach disk data", owner="data"))
    assert attached.shape is None  # the platform picked the device: nothing is planned from a guess
    assert attached.volumes == (ROOT_DISK.volume, DATA_VOLUME)
    nic = InterfaceAttachRequest(**ident.model_dump(), interface_type="ycb123")
    answer = Interface(mac_address=MAC_B.upper())
    plugged = expect_after(attached, Call("interface/attach", nic, "attach eth1", owner="eth1"), answer)
    assert plugged.macs == (*vm.macs, MAC_B) and plugged.volumes == attached.volumes


def test_a_nic_detached_and_a_qos_set_are_shown_and_leave_nothing_to_plan() -> None:
    limits = {"average": 1, "peak": 2, "burst": 3}
    kept = {"name": "eth1", "network": "ycb123", "portGroup": PORT_GROUP, "mac": MAC_B, "qos": {"inbound": limits}}
    vm = observed(vm_shape=shape(nics=(nic(MAC_A), nic(MAC_B))), macs=(MAC_A.upper(), MAC_B))
    owned = memory(nics={"eth0": MAC_A, "eth1": MAC_B})
    again, status = status_after(spec(interfaces=[kept]), owned, vm)
    assert again.calls == [] and again.verdict.ready
    assert status.macs == [MAC_B]
