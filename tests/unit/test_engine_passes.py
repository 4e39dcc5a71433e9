"""The VirtualMachine pass the engine runs for a key (controller/passes.py), against the
in-process simulator and an in-memory apiserver: the finalizer before anything is made, what a
create costs in writes, the store reading vmop's own writes, deletion releasing the finalizer."""

from __future__ import annotations

from typing import Any, cast

import pytest

from tests.support.fakekube import FakeKube
from tests.support.simulation import FakeClock
from tests.unit.test_controller_virtualmachine import vm_object
from vmop.api.annotations import FINALIZER
from vmop.compute import ComputeClient
from vmop.compute.inventory import Inventory
from vmop.controller.kube import KubeAccess, NamespacePolicies
from vmop.controller.objects import ObjectView, view_of
from vmop.controller.passes import Stores, VirtualMachinePasses
from vmop.controller.virtualmachine import VirtualMachineController
from vmop.controller.writes import ObjectWrites
from vmop.engine import Done, RequeueAfter
from vmop.engine.freshness import PassHistory
from vmop.engine.store import Key

PLURAL = "virtualmachines"


def vm_body(name: str) -> dict[str, Any]:
    metadata = {"namespace": "ns", "name": name, "uid": f"uid-{name}", "generation": 1}
    return {"metadata": metadata, "spec": vm_object(name).spec}


class Harness:
    def __init__(self, client: ComputeClient, clock: FakeClock, called: list[str]) -> None:
        self.kube = FakeKube()
        self.called = called
        self.stores = Stores()
        self.kube_access = cast(KubeAccess, self.kube)
        self.writes = ObjectWrites(self.kube_access, "VirtualMachine", PLURAL, self.observe)
        self.finalizer_seen_before: list[str] | None = None  # the platform calls made before it

        async def persist(obj: ObjectView, status: dict[str, Any]) -> None:
            await self.writes.status(obj, status)

        tick = FakeClock(100.0)
        inventory = Inventory(client, max_age=30.0, clock=tick)

        async def mark(obj: ObjectView, since: float) -> None:
            current = self.stores.vms.get(obj.key) or obj
            await self.writes.finalize(current, {"vmop.io/create-pending": f"{since:.3f}"})

        controller = VirtualMachineController(client, inventory, persist, mark, clock=clock)
        history: PassHistory[Key] = PassHistory(tick, settle_seconds=15.0)
        self.passes = VirtualMachinePasses(
            controller, self.stores, self.writes, history, NamespacePolicies(self.kube_access, tick)
        )

    def observe(self, view: ObjectView) -> None:
        if FINALIZER in view.finalizers and self.finalizer_seen_before is None:
            self.finalizer_seen_before = list(self.called)
        self.stores.vms.put(view)

    def apply(self, body: dict[str, Any]) -> Key:
        view = view_of(self.kube.add(PLURAL, body))
        self.stores.vms.put(view)
        return view.key


@pytest.fixture
def harness(calls: tuple[ComputeClient, list[str]], clock: FakeClock) -> Harness:
    client, called = calls
    return Harness(client, clock, called)


async def test_a_create_adds_the_finalizer_before_any_call_and_the_store_reads_its_own_writes(
    harness: Harness,
) -> None:
    key = harness.apply(vm_body("web-1"))
    result = await harness.passes(key)
    assert isinstance(result, RequeueAfter)  # the host and guest agent: looked at again soon
    assert harness.finalizer_seen_before == ["list"]  # nothing made on the platform before the finalizer
    assert harness.called[-2:] == ["unified_create", "start"]
    # Two writes: the finalizer with the create mark, then the status with the uuid.
    (finalized, stored) = harness.kube.writes
    assert finalized[0] == "metadata" and finalized[2]["finalizers"] == [FINALIZER]
    assert set(finalized[2]["annotations"]) == {"vmop.io/create-pending"}
    assert stored[0] == "status" and stored[2]["uuid"]
    held = harness.stores.vms.get(key)
    assert held is not None and held.status["uuid"] and FINALIZER in held.finalizers
    # The next pass reads the store (the watch has echoed nothing): it knows its VM and makes no other.
    writes_before = len(harness.kube.writes)
    await harness.passes(key)
    assert harness.called.count("unified_create") == 1
    assert len(harness.kube.writes) - writes_before <= 1  # at most the status the new look shows


async def test_an_object_deleted_before_its_first_pass_makes_nothing_on_the_platform(harness: Harness) -> None:
    key = harness.apply(vm_body("gone-1"))
    del harness.kube.objects[(PLURAL, "ns", "gone-1")]
    assert await harness.passes(key) == Done()
    assert "unified_create" not in harness.called


async def test_deleting_a_vm_never_made_releases_the_finalizer_in_one_write(harness: Harness) -> None:
    body = vm_body("never-1")
    body["metadata"]["finalizers"] = [FINALIZER]
    key = harness.apply(body)
    harness.stores.vms.put(view_of(harness.kube.delete(PLURAL, "ns", "never-1")))
    assert await harness.passes(key) == Done()
    assert [(what, b["finalizers"]) for what, _, b in harness.kube.writes] == [("metadata", [])]
    assert (PLURAL, "ns", "never-1") not in harness.kube.objects


async def test_deleting_a_running_vm_waits_for_its_guest_without_writing_then_releases(harness: Harness) -> None:
    key = harness.apply(vm_body("run-1"))
    await harness.passes(key)
    stored = harness.kube.objects[(PLURAL, "ns", "run-1")]
    uuid = stored["status"]["uuid"]
    harness.stores.vms.put(view_of(harness.kube.delete(PLURAL, "ns", "run-1")))
    harness.kube.writes.clear()
    harness.kube.events.clear()
    for _ in range(20):
        result = await harness.passes(key)
        if result == Done():
            break
        assert isinstance(result, RequeueAfter)
    assert result == Done(), harness.called
    assert "shutdown" in harness.called or "shutoff" in harness.called
    assert harness.called.count("delete") + harness.called.count("batch/delete") >= 1, harness.called
    assert [what for what, _, _ in harness.kube.writes] == ["metadata"], harness.kube.writes  # the release only
    assert uuid and harness.kube.events == []  # a deletion was asked for: no Event, one write in all
