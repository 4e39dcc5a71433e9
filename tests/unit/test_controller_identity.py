"""VirtualMachineController against the in-process simulator: a VM's identity is never in doubt
when it creates. It follows a VM a migration moved, waits out a create with no known outcome, and
never takes a VM another object manages."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from tests.support.simulation import CLUSTER, OTHER_CLUSTER, TENANT, FakeClock
from tests.unit.test_controller_virtualmachine import after, controller, vm_object
from tests.unit.test_controller_vmmigration import CROSS
from vmop.compute import ComputeClient, ComputeSettings
from vmop.compute.models import ComputeIdentifier
from vmop.compute.requests import CrossClusterMigrateRequest
from vmop.compute.settings import RetryPolicy
from vmop.controller.objects import ObjectView
from vmop.controller.virtualmachine import Relations
from vmop.reconcile.identity import Claim, MigrationRecord
from vmop.reconcile.status import rfc3339
from vmop.reconcile.virtualmachine import Safety
from vmop.sim.app import create_app
from vmop.sim.platform import Platform


def named(platform: Platform, name: str) -> list[Any]:
    return [vm for vm in platform.world.vms.values() if vm.name == name]


async def created(client: ComputeClient, clock: FakeClock, name: str = "web-1") -> tuple[Any, ObjectView]:
    vms, _ = controller(client, clock, FakeClock(100.0))
    obj = vm_object(name)
    outcome = await vms.sync(obj)
    assert outcome.error is None and outcome.status is not None
    return vms, after(obj, outcome)


async def test_a_vm_a_migration_moved_is_followed_to_its_new_cluster_never_recreated(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, called = calls
    vms, obj = await created(client, clock)
    uuid = obj.status["uuid"]
    clock.advance(5)
    source = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=uuid)
    destination = {f"destination_{k}": CROSS[key] for k, key in (("cluster", "cluster"), ("tenant", "tenant"))}
    await client.cross_cluster_migrate(
        CrossClusterMigrateRequest(
            **source.model_dump(),
            **destination,
            destination_host_uuid=CROSS["hostUuid"],
            destination_host_ip=CROSS["hostIp"],
            pool_uuid=CROSS["pool"],
            zone_uuid=CROSS["zone"],
            object_group=CROSS["group"],
        )
    )
    clock.advance(60)  # the migration finished; the object still says the source cluster
    finished = MigrationRecord("move", "Succeeded", (OTHER_CLUSTER, TENANT), finished_at=clock() - 600)
    tick = vms.inventory.now
    outcome = await vms.sync(obj, Relations(migrations=(finished,)), fresh_after=tick())
    assert called.count("unified_create") == 1, called
    assert platform.world.vms[uuid].cluster_uuid == OTHER_CLUSTER
    assert outcome.status is not None and outcome.status["cluster"] == OTHER_CLUSTER, (called, outcome)
    assert outcome.status["uuid"] == uuid and outcome.status["phase"] == "Running"

    # Without any record of the migration (the index lost it), it is missing, not recreated: the
    # first observation only notes when it went missing.
    creates = called.count("unified_create")
    unknown = await vms.sync(obj, fresh_after=tick())
    assert called.count("unified_create") == creates
    assert unknown.status is not None and unknown.status["phase"] == "Lost" and unknown.status["lostSince"]


class AnswersLost(httpx.AsyncBaseTransport):
    """The platform executes every create, but while ``losing`` its answer never reaches vmop
    (the client's read timeout fired first)."""

    def __init__(self, platform: Platform) -> None:
        self.inner = httpx.ASGITransport(app=create_app(platform))
        self.losing = True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.losing and request.url.path.endswith("/unified_create"):
            await response.aread()
            raise httpx.ReadTimeout("no answer within the read timeout", request=request)
        return response


async def test_a_create_whose_answer_was_lost_is_adopted_after_the_grace_period_never_made_twice(
    platform: Platform, clock: FakeClock
) -> None:
    settings = ComputeSettings(base_url="http://sim.test", retry=RetryPolicy(max_attempts=3, base_delay=0.001))
    transport = AnswersLost(platform)
    async with ComputeClient(settings, transport=transport) as client:
        vms, _ = controller(client, clock, FakeClock(100.0))
        obj = vm_object("web-1")
        first = await vms.sync(obj)
        assert first.error is not None and first.status is not None
        assert first.status["createPendingSince"] and first.status["phase"] == "Creating"  # the mark stays
        assert len(named(platform, "web-1")) == 1  # the platform made it; vmop does not know
        transport.losing = False
        obj = after(obj, first)
        for _ in range(3):  # within the grace period: wait, never create again
            clock.advance(5)
            obj = after(obj, await vms.sync(obj))
        assert [vm.uuid for vm in named(platform, "web-1")] == [obj.status["uuid"]]
        assert obj.status.get("createPendingSince") is None


async def test_a_create_with_no_outcome_and_no_vm_waits_the_grace_period_then_creates_once(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, called = calls
    vms, _ = controller(client, clock, FakeClock(100.0))
    # A crash right after the mark was written, before the call.
    obj = replace(vm_object("web-1"), status={"phase": "Creating", "createPendingSince": rfc3339(clock())})
    waiting = await vms.sync(obj)
    assert waiting.status is not None and waiting.status["phase"] == "Creating"
    assert "unified_create" not in called and waiting.requeue_after is not None
    assert waiting.status["conditions"][1]["reason"] == "CreateInDoubt"
    clock.advance(Safety().create_grace)
    done = await vms.sync(after(obj, waiting))
    assert called.count("unified_create") == 1 and len(named(platform, "web-1")) == 1
    assert done.status is not None and done.status["uuid"]


async def test_a_refused_create_needs_no_grace_period(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, called = calls
    vms, _ = controller(client, clock, FakeClock(100.0))
    platform.faults.forced_scode = {"unified_create": 21011}
    refused = await vms.sync(vm_object("web-1"))
    assert refused.error is not None and refused.error.scode == 21011
    assert refused.status is not None
    assert refused.status["createPendingSince"] is None  # the platform said no: nothing in doubt
    platform.faults.forced_scode = {}
    retried = await vms.sync(after(vm_object("web-1"), refused))
    assert called.count("unified_create") == 2 and retried.error is None


async def test_a_second_object_naming_a_managed_vm_is_refused_and_nothing_is_called(
    clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, called = calls
    vms, owner = await created(client, clock)
    uuid = owner.status["uuid"]
    claims = [Claim("ns", "web-1", owner.uid, "2026-12-02T00:00:00Z", recorded=True)]
    adopter = ObjectView("ns", "thief", "uid-thief", 1, vm_object("thief").spec | {"adopt": {"uuid": uuid}}, {}, {})
    adopter = replace(adopter, created="2026-12-02T01:00:00Z")
    relations = Relations(claims=lambda wanted: claims if wanted == uuid else [])
    before = len(called)
    outcome = await vms.sync(adopter, relations)
    assert called[before:] == []
    assert outcome.status is not None and outcome.status["phase"] == "Conflict"
    synced = next(c for c in outcome.status["conditions"] if c["type"] == "Synced")
    assert (synced["status"], synced["reason"]) == ("False", "AlreadyManaged") and "ns/web-1" in synced["message"]
    deleted = await vms.delete(adopter, None, relations)
    assert deleted.done and called[before:] == []  # deleting the refused one leaves the other's VM alone


async def test_a_create_mark_with_no_status_adopts_the_vm_its_create_made(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    """The mark (vmop.io/create-pending) is written before the create, the uuid to status after it.
    Stopped in between (or restored from a backup without status), the VM that create made is
    adopted, not made again; the mark then stays, superseded by status.uuid (no write to clear it)."""
    client, called = calls
    _, made = await created(client, clock, "legacy-1")
    uuid = made.status["uuid"]
    vms, _ = controller(client, clock, FakeClock(200.0))
    mark = {"vmop.io/create-pending": f"{clock() - 5:.0f}"}
    upgraded = ObjectView("ns", "legacy-1b", "uid-legacy-1b", 1, made.spec | {"name": "legacy-1"}, {}, mark)
    outcome = await vms.sync(upgraded)
    assert called.count("unified_create") == 1, called
    assert outcome.status is not None and outcome.status["uuid"] == uuid, outcome
    assert "vmop.io/create-pending" not in outcome.annotations  # neither written again nor cleared
    assert len(named(platform, "legacy-1")) == 1


async def test_a_garbled_create_mark_looks_by_name_and_creates_once_without_waiting(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    """A person edited the mark into nonsense: no traceback, no grace waited (its moment is taken
    as long ago), the VM is looked for by name first, then made once."""
    client, called = calls
    vms, _ = controller(client, clock, FakeClock(100.0))
    garbled = ObjectView("ns", "odd-1", "uid-odd-1", 1, vm_object("odd-1").spec, {}, {"vmop.io/create-pending": "soon"})
    outcome = await vms.sync(garbled)
    assert outcome.error is None and outcome.status is not None and outcome.status["uuid"]
    assert called.count("unified_create") == 1 and len(named(platform, "odd-1")) == 1
