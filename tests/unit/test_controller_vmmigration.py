"""VmMigrationController against the in-process simulator: the claim and the start written before
the call, no second start from a stale body or after a restart, one migration per VM before the
index catches up, the VirtualMachine moved after a cross-cluster success, aborts on deletion."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from tests.support.simulation import CLUSTER, OTHER_CLUSTER, POOL, TENANT, FakeClock
from vmop.api.annotations import ANNOTATION_MIGRATION_STARTED
from vmop.compute import ComputeClient
from vmop.compute.models import ComputeIdentifier, ComputeMeta
from vmop.compute.requests import UnifiedCreateRequest, UnifiedDisk, UnifiedVsd
from vmop.compute.rules import GIB
from vmop.controller.objects import ObjectView, Outcome
from vmop.controller.vmmigration import VmMigrationController
from vmop.reconcile.vmmigration import Target
from vmop.sim.platform import Platform

DESTINATION_HOSTS = {
    "200e3364-e720-47e4-8b12-734422d6eae3": "6ae9e142-f476-465f-868b-6026cddcd714",
    "6ae9e142-f476-465f-868b-6026cddcd714": "200e3364-e720-47e4-8b12-734422d6eae3",
}
CROSS = {
    "cluster": OTHER_CLUSTER,
    "hostUuid": "963b6fd4-487e-4436-95c4-21a67aca5eaf",
    "hostIp": "10.30.32.22",
    "tenant": TENANT,
    "pool": "7c2d9e4f-1a6b-4c3d-8e5f-9a0b1c2d3e04",
    "zone": "a6f8ad4a-3fdf-4cf6-8fda-90a8093f5316",
    "group": "0a5d3331-d9fe-4f6a-9c90-879dde781794",
}
NAMESPACE = "ns"


@dataclass
class Recorder:
    """Kubernetes annotation writes, with the platform VM's action at the moment of each."""

    platform: Platform
    vm_uuid: str = ""
    writes: list[tuple[str, str, dict[str, str | None], str]] = field(default_factory=list)

    async def __call__(self, plural: str, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
        vm = self.platform.world.vms.get(self.vm_uuid)
        self.writes.append((plural, name, annotations, vm.action if vm else ""))

    async def hand_over(self, namespace: str, name: str, uid: str, status: dict[str, Any]) -> None:
        vm = self.platform.world.vms.get(self.vm_uuid)
        self.writes.append(("virtualmachines/status", name, status, vm.action if vm else ""))


async def running_vm(client: ComputeClient, clock: FakeClock, name: str = "web-1") -> Target:
    request = UnifiedCreateRequest(
        cluster_uuid=CLUSTER,
        tenant=TENANT,
        meta=ComputeMeta(compute_name=name),
        cpu_sockets=1,
        cpu_socket_cores=1,
        mem_size=GIB,
        disks=[UnifiedDisk(disk_target_bus="scsi", disk_unified_vsd=UnifiedVsd(pool_uuid=POOL, disk_capacity=GIB))],
    )
    created = (await client.unified_create(request)).items[0]
    assert created.data is not None
    vm = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=created.data.vm_uuid)
    await client.start(vm)
    clock.advance(5)
    return Target(name=name, uuid=vm.compute_uuid, cluster=CLUSTER, tenant=TENANT, platform_name=name)


def migration(name: str, platform: Platform, target: Target, **spec: Any) -> ObjectView:
    host = platform.world.vms[target.uuid or ""].host
    base: dict[str, Any] = {"vmRef": {"name": target.name}, "timeoutSeconds": 1800, "cancel": False}
    if "crossCluster" not in spec:
        base["host"] = DESTINATION_HOSTS[host]
    return ObjectView(NAMESPACE, name, f"uid-{name}", 1, base | spec, {}, {})


def after(obj: ObjectView, outcome: Outcome) -> ObjectView:
    """The object as the next event shows it, once kopf applied the outcome."""
    annotations = {k: v for k, v in (obj.annotations | outcome.annotations).items() if v is not None}
    return replace(obj, status=outcome.status or obj.status, annotations=annotations)


def controller(platform: Platform, client: ComputeClient, clock: FakeClock, target: Target) -> VmMigrationController:
    recorder = Recorder(platform, target.uuid or "")
    return VmMigrationController(client, recorder, recorder.hand_over, clock=clock)


def writes(ctrl: VmMigrationController) -> list[tuple[str, str, dict[str, str | None], str]]:
    assert isinstance(ctrl.annotate, Recorder)
    return ctrl.annotate.writes


async def test_the_claim_and_the_start_are_written_before_the_call(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, made = calls
    target = await running_vm(client, clock)
    ctrl = controller(platform, client, clock, target)
    obj = migration("m1", platform, target)
    outcome = await ctrl.sync(obj, target, frozenset())
    assert outcome.status is not None and outcome.status["phase"] == "Running"
    assert [(plural, name, list(a), action) for plural, name, a, action in writes(ctrl)] == [
        ("virtualmachines", "web-1", ["vmop.io/migration"], "noaction"),
        ("vmmigrations", "m1", [ANNOTATION_MIGRATION_STARTED], "noaction"),
    ]
    assert platform.world.vms[target.uuid or ""].action == "migrating"
    assert made.count("migrate") == 1


async def test_a_restart_right_after_the_call_watches_instead_of_calling(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, made = calls
    target = await running_vm(client, clock)
    obj = migration("m1", platform, target)
    first = controller(platform, client, clock, target)
    await first.sync(obj, target, frozenset())
    # The process died before kopf wrote the status; the start annotation had been written.
    restarted = controller(platform, client, clock, target)
    crashed = replace(
        obj, annotations={ANNOTATION_MIGRATION_STARTED: writes(first)[1][2][ANNOTATION_MIGRATION_STARTED] or ""}
    )
    claimed = replace(target, migration="m1")
    outcome = await restarted.sync(crashed, claimed, frozenset())
    assert outcome.status is not None and outcome.status["phase"] == "Running"
    clock.advance(5)
    done = await restarted.sync(after(crashed, outcome), claimed, frozenset())
    assert done.status is not None and (done.status["phase"], done.status["progress"]) == ("Succeeded", 100)
    assert made.count("migrate") == 1
    assert writes(restarted) == [("virtualmachines", "web-1", {"vmop.io/migration": None}, "noaction")]


async def test_a_second_migration_waits_even_before_the_index_shows_the_claim(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, made = calls
    target = await running_vm(client, clock)
    ctrl = controller(platform, client, clock, target)
    source = platform.world.vms[target.uuid or ""].host
    first = migration("first", platform, target)
    second = migration("second", platform, target, host=source)  # and back again
    started = await ctrl.sync(first, target, frozenset({"second"}))
    waiting = await ctrl.sync(second, target, frozenset({"first"}))  # target.migration not updated yet
    assert waiting.status is not None and waiting.status["phase"] == "Pending"
    assert "another migration first" in waiting.status["message"]
    clock.advance(5)
    finished = await ctrl.sync(after(first, started), target, frozenset({"second"}))
    assert finished.status is not None and finished.status["phase"] == "Succeeded"
    back = await ctrl.sync(after(second, waiting), target, frozenset())
    assert back.status is not None and back.status["phase"] == "Running"
    assert made.count("migrate") == 2


async def test_a_claim_left_by_a_finished_or_deleted_migration_holds_nothing(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, made = calls
    target = replace(await running_vm(client, clock), migration="long-gone")
    ctrl = controller(platform, client, clock, target)
    outcome = await ctrl.sync(migration("m1", platform, target), target, frozenset())
    assert outcome.status is not None and outcome.status["phase"] == "Running"
    assert made.count("migrate") == 1


async def test_cross_cluster_success_points_the_virtualmachine_at_its_new_cluster(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, made = calls
    target = await running_vm(client, clock)
    ctrl = controller(platform, client, clock, target)
    obj = migration("m1", platform, target, crossCluster=CROSS)
    started = await ctrl.sync(obj, target, frozenset())
    clock.advance(1.5)
    halfway = await ctrl.sync(after(obj, started), target, frozenset())
    assert halfway.status is not None and 0 < halfway.status["progress"] < 100
    clock.advance(5)
    done = await ctrl.sync(after(after(obj, started), halfway), replace(target, migration="m1"), frozenset())
    assert done.status is not None and done.status["phase"] == "Succeeded"
    assert done.status["destination"]["cluster"] == OTHER_CLUSTER
    # Where the VM is now goes to the VirtualMachine's status first, while the claim still holds it.
    assert writes(ctrl)[-2:] == [
        (
            "virtualmachines/status",
            "web-1",
            {"cluster": OTHER_CLUSTER, "tenant": TENANT, "uuid": target.uuid},
            "noaction",
        ),
        ("virtualmachines", "web-1", {"vmop.io/migration": None}, "noaction"),
    ]
    assert made.count("cross_cluster_migrate") == 1


async def test_a_failure_the_progress_reports_fails_with_its_scode(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, _ = calls
    target = await running_vm(client, clock)
    platform.faults.migration_fails = True
    ctrl = controller(platform, client, clock, target)
    obj = migration("m1", platform, target, crossCluster=CROSS)
    started = await ctrl.sync(obj, target, frozenset())
    clock.advance(2)  # past half-way: the simulator's progress reports the failure
    failed = await ctrl.sync(after(obj, started), target, frozenset())
    assert failed.status is not None and failed.status["phase"] == "Failed"
    assert failed.status["lastError"]["scode"] == 21042
    assert ("Warning", "MigrationFailed") in [(kind, reason) for kind, reason, _ in failed.events]


async def test_deleting_a_running_migration_aborts_it_first(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, made = calls
    target = await running_vm(client, clock)
    source = platform.world.vms[target.uuid or ""].host
    ctrl = controller(platform, client, clock, target)
    obj = migration("m1", platform, target)
    started = await ctrl.sync(obj, target, frozenset())
    outcome = await ctrl.sync(after(obj, started), target, frozenset(), deleting=True)
    assert outcome.done
    assert made.count("migrate/abort") == 1
    vm = platform.world.vms[target.uuid or ""]
    assert (vm.action, vm.host) == ("noaction", source)


async def test_a_finished_migration_is_deleted_without_any_call(
    platform: Platform, clock: FakeClock, calls: tuple[ComputeClient, list[str]]
) -> None:
    client, made = calls
    target = await running_vm(client, clock)
    ctrl = controller(platform, client, clock, target)
    obj = migration("m1", platform, target)
    obj = replace(
        obj, status={"phase": "Succeeded"}, annotations={ANNOTATION_MIGRATION_STARTED: "2023-11-14T22:13:20Z"}
    )
    before = len(made)
    for deleting in (False, True):
        outcome = await ctrl.sync(obj, target, frozenset(), deleting=deleting)
        assert (outcome.status, outcome.done, outcome.events) == (None, True, [])
    assert len(made) == before
