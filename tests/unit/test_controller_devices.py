"""VirtualMachineController against the in-process simulator, for what the planner leaves to it:
a new VM's details read before its first start (settings the create cannot send), and what it
records once a call succeeds (passed-through devices, the balloon, an answered restart request),
and cloud-init data changed on the platform found by its digest."""

from __future__ import annotations

from typing import Any

from tests.support.simulation import CLUSTER, POOL, TENANT, FakeClock
from tests.unit.test_controller_virtualmachine import controller
from vmop.compute import ComputeClient
from vmop.compute.errors import ComputeError
from vmop.compute.models import CloudInitData
from vmop.compute.scodes import Scode
from vmop.controller.objects import ObjectView, Outcome
from vmop.sim.platform import Platform

GPU = "0000:3b:00.0"


def _object(
    name: str, annotations: dict[str, str] | None = None, status: dict[str, Any] | None = None, **fields: Any
) -> ObjectView:
    spec: dict[str, Any] = {
        "cluster": CLUSTER,
        "tenant": TENANT,
        "disks": [{"name": "system", "bus": "scsi", "size": "1Gi", "pool": POOL}],
        **fields,
    }
    return ObjectView("ns", name, f"uid-{name}", 1, spec, {}, {})


def _again(outcome: Outcome, before: ObjectView, **annotations: str) -> ObjectView:
    """The object as the next pass sees it: the status the pass wrote, the same generation."""
    assert outcome.status is not None, outcome
    return ObjectView(
        before.namespace, before.name, before.uid, 1, before.spec, outcome.status, before.annotations | annotations
    )


async def test_a_new_vm_gets_what_the_create_cannot_send_before_its_first_start(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock, platform: Platform
) -> None:
    client, called = calls
    vms, _ = controller(client, clock, FakeClock(100.0))
    wanted = _object("reserved", memoryReserve=True, console={"compression": "lz4"})
    outcome = await vms.sync(wanted)
    assert outcome.error is None, outcome.error
    assert called == ["list", "unified_create", "inspect", "memory/reserve", "vgpu/set", "start"], called
    vm = platform.world.vms[outcome.status["uuid"]] if outcome.status else None
    assert vm is not None and (vm.memory_reserve, vm.compression_mode, vm.state) == (True, "lz4", "running")


async def test_a_plain_new_vm_costs_no_extra_inspect(calls: tuple[ComputeClient, list[str]], clock: FakeClock) -> None:
    client, called = calls
    vms, _ = controller(client, clock, FakeClock(100.0))
    await vms.sync(_object("plain"))
    assert called == ["list", "unified_create", "start"], called


async def test_devices_and_the_balloon_are_recorded_once_set_and_not_sent_again(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock, platform: Platform
) -> None:
    client, called = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    first = _object("gpu", haMode="off", pci=[{"name": "gpu", "address": GPU}], memoryBalloon="256Mi")
    made = await vms.sync(first)
    assert made.error is None, made.error
    # A PCI device the create cannot send and the list does not show: the details are read before
    # the pass says anything (never "in sync" unseen), and it is attached once the VM runs; the
    # balloon follows the start (running only).
    assert called == ["list", "unified_create", "inspect", "start", "pci/attach", "balloon/set"], called
    assert made.status is not None and made.status["memoryBalloon"] == "256Mi"
    assert made.status["pci"] == [{"name": "gpu", "address": GPU}]
    vm = platform.world.vms[made.status["uuid"]]
    assert vm.balloon == 256 * 1024**2 and [(d.bus, d.slot) for d in vm.pci_devices] == [(0x3B, 0)]
    tick.advance(1)
    # Recorded: the list alone suffices from now on, nothing is sent again.
    again = await vms.sync(_again(made, first), fresh_after=tick())
    assert again.error is None and called[6:] == ["list"], called


async def test_an_mdev_the_host_lacks_is_refused_at_the_first_pass_never_ready_first(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock
) -> None:
    """The create's answer shows no devices: the first pass reads the details and attaches, so the
    platform's refusal is what it reports, not a Ready that a later resync takes back."""
    client, called = calls
    vms, _ = controller(client, clock, FakeClock(100.0))
    missing = {"name": "vgpu", "uuid": "ffffffff-0000-4000-8000-000000000000", "model": "vfio-ap", "display": True}
    outcome = await vms.sync(_object("vgpu", haMode="off", mdev=[missing]))
    assert isinstance(outcome.error, ComputeError) and outcome.error.scode == Scode.DEVICE_NOT_FOUND, outcome.error
    assert called[-1] == "mdev/attach" and outcome.status is not None
    conditions = {c["type"]: c for c in outcome.status["conditions"]}
    assert conditions["Ready"]["status"] != "True", conditions
    assert (conditions["Synced"]["status"], conditions["Synced"]["reason"]) == ("False", "ComputeError")


async def test_a_restart_request_is_answered_once_by_one_reboot_through_the_agent(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock, platform: Platform
) -> None:
    client, called = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    first = _object("reboot")
    made = await vms.sync(first)
    requested = _again(made, first, **{"vmop.io/restart": "now-1"})
    tick.advance(1)
    waiting = await vms.sync(requested, fresh_after=tick())  # the guest agent is not connected yet
    assert "reboot_ga" not in called and waiting.status is not None
    synced = next(c for c in waiting.status["conditions"] if c["type"] == "Synced")
    assert synced["reason"] == "RestartPending" and "waits for the guest agent" in synced["message"]
    assert waiting.status["restartRequested"] is None
    clock.advance(5)  # past the simulated boot: the agent connects
    tick.advance(1)
    answered = await vms.sync(_again(waiting, requested), fresh_after=tick())
    assert answered.error is None and called.count("reboot_ga") == 1, called
    assert answered.status is not None and answered.status["restartRequested"] == "now-1"
    tick.advance(1)
    await vms.sync(_again(answered, requested), fresh_after=tick())
    assert called.count("reboot_ga") == 1, called


async def test_cloud_init_data_changed_behind_vmops_back_is_found_by_digest_and_set_again(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock, platform: Platform
) -> None:
    client, called = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    user_data = '{"set_passwd": {"chpasswd": {"list": ["root:Drift-Secret-5150"]}}}'

    async def read_secret(namespace: str, name: str) -> dict[str, str]:
        return {"userData": user_data}

    vms.read_secret = read_secret
    first = _object("init", cloudInit={"secretRef": {"name": "init"}})
    made = await vms.sync(first)
    assert made.error is None and called == ["list", "unified_create", "start"], called
    uuid = made.status["uuid"] if made.status else ""
    tick.advance(1)
    looked = await vms.sync(_again(made, first, **{"vmop.io/reconcile-request": "1"}), fresh_after=tick())
    assert called[3:] == ["list", "inspect", "cloud_init/get"], called  # the platform's form: learned
    assert looked.status is not None and looked.status["cloudInitShownDigest"].startswith("sha256:")

    platform.world.vms[uuid].cloud_init = CloudInitData(user_data={"runcmd": ["someone else's"]})
    tick.advance(1)
    again = _again(looked, first, **{"vmop.io/reconcile-request": "2"})
    fixed = await vms.sync(again, fresh_after=tick())
    assert called[6:] == ["list", "inspect", "cloud_init/get", "cloud_init/set"], called
    shown = platform.world.vms[uuid].cloud_init
    assert shown is not None and shown.user_data == {"set_passwd": {"chpasswd": {"list": ["root:Drift-Secret-5150"]}}}
    assert fixed.status is not None and fixed.status["cloudInitShownDigest"] is None  # learned again at the next read
    assert "Drift-Secret-5150" not in repr(fixed) and "someone else" not in repr(fixed)
