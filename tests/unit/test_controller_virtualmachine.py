"""VirtualMachineController against the in-process simulator: what one pass costs in calls and
writes when many objects arrive at once."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from tests.support.simulation import CLUSTER, POOL, PORT_GROUP, TENANT, FakeClock
from vmop.compute import ComputeClient
from vmop.compute.inventory import Inventory
from vmop.compute.scodes import Scode
from vmop.controller.objects import ObjectView, Outcome
from vmop.controller.virtualmachine import VirtualMachineController
from vmop.engine.freshness import PassHistory
from vmop.reconcile.conditions import attention_events
from vmop.sim.faults import Faults
from vmop.sim.platform import Platform


def vm_object(name: str) -> ObjectView:
    spec: dict[str, Any] = {
        "cluster": CLUSTER,
        "tenant": TENANT,
        "os": "CentOS x64",
        "cpu": {"sockets": 1, "cores": 1},
        "memory": "1Gi",
        "disks": [{"name": "system", "bus": "scsi", "size": "1Gi", "pool": POOL}],
        "interfaces": [{"name": "eth0", "network": "ycb123", "portGroup": PORT_GROUP}],
        "powerState": "Running",
    }
    return ObjectView("ns", name, f"uid-{name}", 1, spec, {}, {})


def controller(client: ComputeClient, clock: FakeClock, tick: FakeClock) -> tuple[VirtualMachineController, list[Any]]:
    writes: list[Any] = []

    async def persist(obj: ObjectView, status: dict[str, Any]) -> None:
        writes.append((obj.name, status))

    async def mark(obj: ObjectView, since: float) -> None:
        writes.append((obj.name, {"vmop.io/create-pending": since}))

    inventory = Inventory(client, max_age=30.0, clock=tick)
    return VirtualMachineController(client, inventory, persist, mark, clock=clock), writes


async def test_a_create_pass_writes_one_mark_and_posts_no_event(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock
) -> None:
    client, called = calls
    vms, writes = controller(client, clock, FakeClock(100.0))
    outcome = await vms.sync(vm_object("web-1"))
    assert outcome.error is None, outcome.error
    assert called == ["list", "unified_create", "start"]
    # The mark before the create call is the only write of the pass (a fast create shows nothing
    # in flight); the uuid rides on the pass's status write, which supersedes the mark.
    assert writes == [("web-1", {"vmop.io/create-pending": clock()})]
    assert outcome.status is not None and outcome.status["createPendingSince"] is None and outcome.status["uuid"]
    assert outcome.annotations == {}  # the mark stays, nothing else is written to metadata
    assert outcome.events == []  # what the object asked for: the status and the log say it


async def test_what_vmop_sets_back_on_its_own_is_told_in_one_event(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock, platform: Platform
) -> None:
    client, called = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    obj = vm_object("web-1")
    created = after(obj, await vms.sync(obj))
    vm = platform.world.vms[created.status["uuid"]]
    vm.mem_size //= 2  # behind vmop's back (growing it back is hot); the generation stays
    clock.advance(5)  # past the simulated boot
    tick.advance(1)
    outcome = await vms.sync(created, fresh_after=tick())
    assert outcome.error is None and called[-1] == "vmemory/set", (outcome.error, called)
    ((kind, reason, message),) = outcome.events
    assert (kind, reason) == ("Normal", "VmemorySet") and message.startswith("vmemory/set ("), message


async def test_passes_queued_behind_each_other_share_one_list_before_creating(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock
) -> None:
    """A burst: every object asked before the first list started; each pass runs after the
    one before finished. One list serves them all, yet an object asking after it gets a new one."""
    client, called = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    asked_at = tick()
    tick.advance(1)
    outcomes = [await vms.sync(vm_object(f"burst-{i}"), fresh_after=asked_at) for i in range(5)]
    assert all(o.error is None for o in outcomes)
    assert called.count("list") == 1 and called.count("unified_create") == 5, called

    late = tick()
    tick.advance(1)
    await vms.sync(vm_object("late"), fresh_after=late)
    assert called.count("list") == 2, called


async def test_a_vm_created_by_someone_else_before_the_object_asked_is_a_conflict_not_a_twin(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock
) -> None:
    client, called = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    await vms.sync(vm_object("twin"), fresh_after=tick())  # lists, then creates "twin" as ours
    tick.advance(1)
    asked_at = tick()
    tick.advance(1)
    other = vm_object("twin")
    outcome = await vms.sync(ObjectView("ns", "twin", "uid-other", 1, other.spec, {}, {}), fresh_after=asked_at)
    assert called.count("unified_create") == 1, called
    assert outcome.status is not None and outcome.status["phase"] == "Conflict", outcome.status


async def test_each_resync_sees_a_list_made_after_the_objects_previous_pass(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock
) -> None:
    """One list per resync period for every object: a list made since this object's last pass
    is reused, an older one is not (however young: no staleness by half-periods)."""
    client, called = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    created = await vms.sync(vm_object("web-1"), fresh_after=tick())
    assert created.status is not None
    annotations = {k: v for k, v in created.annotations.items() if v is not None}
    known = ObjectView("ns", "web-1", "uid-web-1", 1, vm_object("web-1").spec, created.status, annotations)
    tick.advance(1)
    passed = tick()  # the create pass ended after the list it used began
    tick.advance(1)
    lists = called.count("list")
    await vms.sync(known, fresh_after=passed)
    assert called.count("list") == lists + 1, called
    await vms.sync(known, fresh_after=passed)  # another object whose last pass ended as long ago
    assert called.count("list") == lists + 1, called


async def test_the_resync_after_a_create_reads_a_list_made_after_the_boot_not_one_made_during_it(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock
) -> None:
    """During a burst, other objects' pre-create lists are made moments after this VM started; the
    resync a period later must not take one of those (it would show the guest still booting, and
    the boot would be reported, as a write, a period later still)."""
    client, called = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    history = PassHistory(tick, settle_seconds=15.0)
    obj = vm_object("web-1")
    created = await vms.sync(obj, fresh_after=history.list_needed_after(obj.uid))
    assert created.acted and created.status is not None
    history.ended(obj.uid, acted=created.acted)
    tick.advance(0.5)
    clock.advance(0.5)
    await vms.sync(vm_object("web-2"), fresh_after=tick())  # a pre-create list, mid-boot
    assert created.status["agent"] != "connected"
    annotations = {k: v for k, v in created.annotations.items() if v is not None}
    known = ObjectView("ns", "web-1", obj.uid, 1, obj.spec, created.status, annotations)
    tick.advance(30)
    clock.advance(30)
    lists = called.count("list")
    resynced = await vms.sync(known, fresh_after=history.list_needed_after(obj.uid))
    assert called.count("list") == lists + 1, called
    assert not resynced.acted
    assert resynced.status is not None and resynced.status["agent"] == "connected", resynced.status


async def test_a_platform_that_stops_answering_turns_synced_unknown_within_the_patience(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock, platform: Platform
) -> None:
    client, _ = calls
    vms, _ = controller(client, clock, FakeClock(100.0))
    first = await vms.sync(vm_object("hung-1"))
    assert first.error is None and first.status is not None
    answered = ObjectView("ns", "hung-1", "uid-hung-1", 1, vm_object("hung-1").spec, first.status, first.annotations)
    platform.faults.timeout_rate, platform.faults.hang_seconds = {"*": 1.0}, 30.0  # it hangs, as if SIGSTOPped
    patient = replace(vms, patience=0.2, inventory=Inventory(client, max_age=0.0, clock=FakeClock(200.0)))
    started = time.monotonic()
    outcome = await patient.sync(answered)
    assert time.monotonic() - started < 5
    assert outcome.status is not None
    synced = next(c for c in outcome.status["conditions"] if c["type"] == "Synced")
    assert (synced["status"], synced["reason"]) == ("Unknown", "PlatformNotAnswering")
    assert [reason for _, reason, _ in outcome.events] == ["PlatformNotAnswering"]


async def test_a_stored_spec_the_model_refuses_is_reported_once_and_calls_nothing(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock
) -> None:
    """memory "0.5" stored before the CRD rule: Synced=False InvalidSpec naming spec.memory, the
    generation observed, one Warning; the next pass neither calls, nor writes, nor warns again."""
    client, called = calls
    vms, _ = controller(client, clock, FakeClock(100.0))
    stored = vm_object("half-a-byte")
    bad = ObjectView(stored.namespace, stored.name, stored.uid, 2, stored.spec | {"memory": "0.5"}, {}, {})
    outcome = await vms.sync(bad)
    assert called == [] and outcome.error is None
    assert outcome.status is not None
    assert outcome.status["observedGeneration"] == 2
    synced = next(c for c in outcome.status["conditions"] if c["type"] == "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "InvalidSpec")
    assert "spec.memory" in synced["message"], synced["message"]
    warned = attention_events({}, outcome.status, outcome.events)
    assert [(kind, reason) for kind, reason, _ in warned] == [("Warning", "InvalidSpec")]
    again = await vms.sync(ObjectView(bad.namespace, bad.name, bad.uid, 2, bad.spec, outcome.status, {}))
    assert (called, again.status, again.events) == ([], None, [])


async def test_a_refused_graceful_shutdown_is_asked_again_and_its_timeout_starts_when_accepted(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock, platform: Platform
) -> None:
    """The first shutdown is refused (agent not connected): nothing is recorded as sent, so the
    next pass asks again instead of waiting out shutdownTimeoutSeconds and powering off hard."""
    client, called = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    obj = vm_object("stop-me")
    created = await vms.sync(obj, fresh_after=tick())
    assert created.status is not None and created.error is None
    clock.advance(5)  # booted: the guest agent is connected
    platform.set_faults(
        Faults(forced_scode={"shutdown": Scode.AGENT_NOT_CONNECTED}, forced_scode_calls={"shutdown": 1})
    )
    annotations = {k: v for k, v in created.annotations.items() if v is not None}
    stopped_spec = obj.spec | {"powerState": "Stopped", "shutdownTimeoutSeconds": 60}
    status = created.status
    refused = await vms.sync(ObjectView("ns", obj.name, obj.uid, 2, stopped_spec, status, annotations))
    assert refused.error is not None and refused.error.scode == Scode.AGENT_NOT_CONNECTED
    assert refused.status is not None and refused.status["shutdownRequestedAt"] is None
    clock.advance(61)  # longer than the timeout: still no hard power-off, a graceful ask first
    tick.advance(61)
    status = refused.status
    accepted = await vms.sync(ObjectView("ns", obj.name, obj.uid, 2, stopped_spec, status, annotations))
    assert accepted.error is None, accepted.error
    assert called.count("shutdown") == 2 and "shutoff" not in called, called
    assert accepted.status is not None and accepted.status["shutdownRequestedAt"] is not None


def after(obj: ObjectView, outcome: Outcome) -> ObjectView:
    """The object as the next event shows it, once kopf applied the outcome."""
    annotations = {k: v for k, v in (obj.annotations | outcome.annotations).items() if v is not None}
    return replace(obj, status=outcome.status or obj.status, annotations=annotations)


async def test_host_and_agent_are_looked_for_soon_after_a_create_not_at_the_next_resync(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock
) -> None:
    client, _ = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    obj = vm_object("web-1")
    created = await vms.sync(obj, fresh_after=tick())
    assert created.status is not None and (created.status["host"], created.status["agent"]) == (None, "pending")
    soon = created.refresh_after
    assert created.requeue_after is None and soon is not None and soon < 5, created
    clock.advance(soon)  # the guest booted meanwhile
    tick.advance(soon)
    looked = await vms.sync(after(obj, created), fresh_after=tick() - soon)
    assert looked.status is not None and looked.status["host"] and looked.status["agent"] == "connected"
    ready = next(c for c in looked.status["conditions"] if c["type"] == "Ready")
    assert ready["message"] == f"running on host {looked.status['host']}; guest agent connected"
    assert looked.refresh_after is None  # both known: the next resync


async def test_a_vm_gone_from_the_platform_is_lost_and_shows_no_state_from_before(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock, platform: Platform
) -> None:
    client, _ = calls
    tick = FakeClock(100.0)
    vms, _ = controller(client, clock, tick)
    obj = vm_object("web-1")
    obj = replace(obj, spec=obj.spec | {"recreateOnLoss": False})
    created = await vms.sync(obj, fresh_after=tick())
    clock.advance(5)
    tick.advance(5)
    running = after(obj, await vms.sync(after(obj, created), fresh_after=tick()))
    assert running.status["state"] == "running" and running.status["host"]
    del platform.world.vms[running.status["uuid"]]  # deleted behind vmop's back
    tick.advance(5)
    lost = await vms.sync(running, fresh_after=tick())
    assert lost.status is not None and lost.status["phase"] == "Lost"
    shown = {k: lost.status[k] for k in ("state", "action", "agent", "host", "ips")}
    assert shown == dict.fromkeys(shown), shown
    assert lost.status["uuid"] == running.status["uuid"] and lost.status["cluster"] == CLUSTER


async def test_deleting_a_paused_object_calls_nothing_and_says_the_vm_stays(
    calls: tuple[ComputeClient, list[str]], clock: FakeClock
) -> None:
    client, called = calls
    vms, _ = controller(client, clock, FakeClock(100.0))
    obj = vm_object("web-1")
    created = after(obj, await vms.sync(obj))
    before = len(called)
    paused = replace(created, annotations=created.annotations | {"vmop.io/paused": "true"})
    outcome = await vms.delete(paused, None)
    assert (outcome.done, called[before:]) == (True, [])
    ((kind, reason, message),) = outcome.events
    assert (kind, reason) == ("Warning", "Released")
    assert created.status["uuid"] in message and "deletionPolicy Delete" in message
