"""A VM's identity is never in doubt when vmop creates (the duplicate-VM issue), against the real
apiserver, `vmop run` and `vmop sim`: slow migrations of every kind, creates whose answer is lost
(a client timeout, a crash), and two objects naming one VM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_virtualmachine_lifecycle import GIB, POOL, PORT_GROUP, create_on_platform
from tests.integration.test_vmmigration import (
    CLUSTER,
    CROSS,
    HOSTS,
    MIGRATION,
    OTHER_CLUSTER,
    TENANT,
    VM,
    calls,
    faults,
    migration_manifest,
    migrations_taking,
    status,
    unique,
    vm_manifest,
    wait_phase,
)
from tests.support.processes import Kube, OperatorProcess, SimProcess, condition, wait_for

from vmop.dev.controlplane import ControlPlane

pytestmark = pytest.mark.integration

RESYNC = 5.0
CREATES = ("unified_create", "unified_import", "create/from_template")


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane, sim: SimProcess, namespace: str, logs: Path, least_privilege: Path
) -> Iterator[OperatorProcess]:
    extra = ["--resync-seconds", str(RESYNC), "--compute-timeout", "2", "--create-grace-seconds", "10"]
    process = OperatorProcess(control_plane, sim.url, logs, [namespace], extra, kubeconfig=least_privilege).start()
    yield process
    process.stop()
    print(f"operator log ({process.log}):\n{process.output()[-4000:]}")


def creates(sim: SimProcess) -> int:
    return sum(calls(sim, endpoint) for endpoint in CREATES)


def named(sim: SimProcess, name: str) -> list[tuple[str, str]]:
    """(cluster, uuid) of every platform VM with this name, in both clusters."""
    return [(c, vm["uuid"]) for c in (CLUSTER, OTHER_CLUSTER) for vm in sim.vms(c, TENANT, filter_name=name)]


def ready_all(kube: Kube, names: list[str], timeout: float = 120) -> dict[str, dict[str, Any]]:
    def ready() -> dict[str, dict[str, Any]] | None:
        found = {}
        for name in names:
            obj = kube.get(VM, name)
            ok = condition(obj, "Ready")
            if not (obj and ok and ok["status"] == "True" and obj["status"].get("host") in (*HOSTS, CROSS["hostUuid"])):
                return None
            found[name] = obj["status"]
        return found

    return wait_for(ready, timeout=timeout, interval=1, what=f"{len(names)} VMs Ready")


def resyncs_pass(sim: SimProcess, periods: int) -> None:
    """Wait for ``periods`` resync periods, seen as the lists vmop makes (one per scope per period)."""
    lists = calls(sim, "list")
    wait_for(lambda: calls(sim, "list") >= lists + periods, timeout=periods * RESYNC * 3, what="resyncs")


@pytest.mark.usefixtures("operator")
def test_ten_slow_cross_cluster_migrations_leave_exactly_ten_vms(kube: Kube, sim: SimProcess) -> None:
    names = [unique("fleet") for _ in range(10)]
    for name in names:
        kube.apply(vm_manifest(name))
    before = ready_all(kube, names)
    made = creates(sim)
    with migrations_taking(sim, 20):
        moves = {name: unique("move") for name in names}
        for vm, move in moves.items():
            kube.apply(migration_manifest(move, vm, crossCluster=CROSS))
        for move in moves.values():
            assert wait_phase(kube, move, "Succeeded", "Failed", "Aborted", timeout=120)["phase"] == "Succeeded"
        resyncs_pass(sim, 3)
    for name in names:
        assert named(sim, name) == [(OTHER_CLUSTER, before[name]["uuid"])], name
        now = status(kube, VM, name)
        assert (now["cluster"], now["uuid"], now["phase"]) == (OTHER_CLUSTER, before[name]["uuid"], "Running")
    assert creates(sim) == made  # not one create after the migrations began


@pytest.mark.usefixtures("operator")
def test_in_cluster_aborted_and_edited_migrations_make_no_vm(kube: Kube, sim: SimProcess) -> None:
    inside, aborted, edited = (unique(p) for p in ("inside", "aborted", "edited"))
    for name in (inside, aborted, edited):
        kube.apply(vm_manifest(name))
    before = ready_all(kube, [inside, aborted, edited])
    made = creates(sim)
    host = next(h for h in HOSTS if h != before[inside]["host"])
    with migrations_taking(sim, 20):
        kube.apply(migration_manifest(f"{inside}-m", inside, host=host))
        kube.apply(migration_manifest(f"{aborted}-m", aborted, crossCluster=CROSS))
        kube.apply(migration_manifest(f"{edited}-m", edited, crossCluster=CROSS))
        wait_for(lambda: status(kube, MIGRATION, f"{aborted}-m").get("phase") == "Running", what="running")
        wait_for(lambda: (status(kube, MIGRATION, f"{aborted}-m").get("progress") or 0) > 0, what="progress")
        kube.patch_spec(MIGRATION, f"{aborted}-m", {"cancel": True})
        kube.patch_spec(VM, edited, {"memory": "2Gi"})  # a spec change while it migrates
        assert wait_phase(kube, f"{inside}-m", "Succeeded", "Failed", timeout=90)["phase"] == "Succeeded"
        assert wait_phase(kube, f"{aborted}-m", "Aborted", "Succeeded", "Failed", timeout=90)["phase"] == "Aborted"
        assert wait_phase(kube, f"{edited}-m", "Succeeded", "Failed", timeout=90)["phase"] == "Succeeded"
        resyncs_pass(sim, 3)
    where = {inside: CLUSTER, aborted: CLUSTER, edited: OTHER_CLUSTER}
    for name, cluster in where.items():
        assert named(sim, name) == [(cluster, before[name]["uuid"])], name
        assert status(kube, VM, name)["cluster"] == cluster
    assert status(kube, VM, inside)["host"] == host
    wait_for(lambda: status(kube, VM, edited).get("memory") == "2Gi", what="the edit applied after the migration")
    assert creates(sim) == made


@pytest.mark.usefixtures("operator")
def test_a_create_that_times_out_and_runs_late_makes_exactly_one_vm(kube: Kube, sim: SimProcess) -> None:
    kept, dropped = unique("late"), unique("late-gone")
    made = creates(sim)
    with faults(sim, late_execution_ms={"unified_create": 5000}):  # past the client's 2 s timeout
        kube.apply(vm_manifest(kept))
        kube.apply(vm_manifest(dropped))
        for name in (kept, dropped):
            wait_for(lambda n=name: status(kube, VM, n).get("createPendingSince"), what="mark")
        kube.delete(VM, dropped)  # deleted while its create is in doubt
        in_doubt = wait_for(
            lambda: (c := condition(kube.get(VM, kept), "Synced")) and c["reason"] == "CreateInDoubt" and c,
            timeout=30,
            what="the create in doubt",
        )
        assert "may still finish" in in_doubt["message"]
    found = ready_all(kube, [kept])[kept]
    assert named(sim, kept) == [(CLUSTER, found["uuid"])]
    wait_for(lambda: kube.get(VM, dropped) is None, timeout=60, what="the deleted object gone")
    assert named(sim, dropped) == []  # the late VM was deleted, not orphaned
    assert not [v for v in sim.volumes() if dropped in (v.get("name") or "") and not v.get("trashed")]
    assert creates(sim) == made + 2  # one each: none sent again


def test_a_crash_with_the_create_still_in_flight_makes_exactly_one_vm(
    kube: Kube, sim: SimProcess, operator: OperatorProcess
) -> None:
    name = unique("inflight")
    with faults(sim, late_execution_ms={"unified_create": 6000}):
        kube.apply(vm_manifest(name))
        wait_for(lambda: status(kube, VM, name).get("createPendingSince"), what="the mark")
        operator.kill()  # the create is held by the platform, not executed yet
        assert named(sim, name) == []
        operator.start()
        found = ready_all(kube, [name], timeout=90)[name]
    assert named(sim, name) == [(CLUSTER, found["uuid"])]


@pytest.mark.usefixtures("operator")
def test_two_objects_never_drive_one_vm(kube: Kube, sim: SimProcess) -> None:
    owner = unique("owner")
    kube.apply(vm_manifest(owner))
    uuid_ = ready_all(kube, [owner])[owner]["uuid"]
    mutating = ("meta/set", "vmemory/set", "vcpu/set", "interface/attach", "disk/attach", "shutdown", "delete")
    before = {endpoint: calls(sim, endpoint) for endpoint in mutating}
    thief = unique("thief")
    kube.apply(vm_manifest(thief, memory="4Gi", adopt={"uuid": uuid_}))
    refused = wait_for(
        lambda: (c := condition(kube.get(VM, thief), "Synced")) and c["reason"] == "AlreadyManaged" and c,
        timeout=30,
        what="AlreadyManaged",
    )
    assert owner in refused["message"] and status(kube, VM, thief)["phase"] == "Conflict"
    resyncs_pass(sim, 2)
    kube.delete(VM, thief)
    wait_for(lambda: kube.get(VM, thief) is None, timeout=30, what="the refused object gone")
    assert {endpoint: calls(sim, endpoint) for endpoint in mutating} == before
    assert named(sim, owner) == [(CLUSTER, uuid_)]  # the owner's VM survives the refused object's deletion
    assert condition(kube.get(VM, owner), "Ready")["status"] == "True"


@pytest.mark.usefixtures("operator")
def test_adopting_a_running_vm_maps_its_nics_and_disks_instead_of_attaching_more(kube: Kube, sim: SimProcess) -> None:
    legacy = unique("legacy")
    nic = {"interface_model_type": "virtio", "interface_type": "ycb123", "port_group": PORT_GROUP}
    disk = {"disk_target_bus": "virtio", "disk_unified_vsd": {"pool_uuid": POOL, "disk_capacity": 10 * GIB}}
    data = {"disk_target_bus": "scsi", "disk_unified_vsd": {"pool_uuid": POOL, "disk_capacity": 2 * GIB}}
    uuid_ = create_on_platform(
        sim, legacy, cpu_socket_cores=2, mem_size=2 * GIB, interfaces=[nic, nic], disks=[disk, data]
    )
    assert sim.call("start", {"cluster_uuid": CLUSTER, "tenant": TENANT, "compute_uuid": uuid_})["scode"] == 0
    acting = ("interface/attach", "disk/attach", "shutdown", "shutoff", "start", "reboot")
    before = {endpoint: calls(sim, endpoint) for endpoint in acting}
    name = unique("adopt")
    interfaces = [{"name": n, "network": "ycb123", "portGroup": PORT_GROUP} for n in ("eth0", "eth1")]
    disks = [
        {"name": "root", "bus": "virtio", "size": "10Gi", "pool": POOL},
        {"name": "data", "bus": "scsi", "size": "2Gi", "pool": POOL},
    ]
    kube.apply(
        vm_manifest(
            name,
            adopt={"uuid": uuid_},
            cpu={"sockets": 1, "cores": 2},
            memory="2Gi",
            interfaces=interfaces,
            disks=disks,
        )
    )
    synced = wait_for(
        lambda: (c := condition(kube.get(VM, name), "Synced")) and c["observedGeneration"] == 1 and c,
        timeout=30,
        what="the adopted VM reconciled",
    )
    assert synced["status"] == "True", synced
    resyncs_pass(sim, 2)
    assert {endpoint: calls(sim, endpoint) for endpoint in acting} == before  # no attach, no restart
    shown = status(kube, VM, name)
    shape = sim.inspect(CLUSTER, TENANT, uuid_)["data"]
    macs = [i["mac_address"] for i in shape["interfaces"]]
    assert [(i["name"], i["mac"]) for i in shown["interfaces"]] == [("eth0", macs[0]), ("eth1", macs[1])]
    assert {d["name"] for d in shown["disks"]} == {"root", "data"}
    assert condition(kube.get(VM, name), "Ready")["status"] == "True"
