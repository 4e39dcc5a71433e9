"""Faults vmop must survive, injected for real: the operator SIGKILLed mid-rollout, a flaky and then
an absent platform, platform refusals (scode), the apiserver restarted, two replicas with peering,
a group deleted behind vmop's back, and deletes while the operator is down.

Every test runs against the session's control plane, a `vmop sim` process and `vmop run` processes
(tests/support/processes.py), and waits on conditions with deadlines. docs/reliability.md maps each
fault to its test; `pytest -m heavy` runs the long variants.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.test_virtualmachine_lifecycle import CLUSTER, GIB, TENANT, manifest, unique
from tests.integration.test_vmgroup import group, platform_groups, wait_group_ready
from tests.integration.test_vmmigration import CROSS, OTHER_CLUSTER, migration_manifest, migrations_taking
from tests.support.processes import RESYNC_SECONDS, Kube, OperatorProcess, SimProcess, condition, wait_for

from vmop.dev.controlplane import ControlPlane

pytestmark = pytest.mark.integration

SEED = 20240611


# --- helpers ------------------------------------------------------------------------------------------


def apply_all(kube: Kube, manifests: list[dict[str, Any]]) -> None:
    """One kubectl call for many objects (a rollout as GitOps does it)."""
    kube.plane.kubectl(
        "apply",
        "-n",
        kube.namespace,
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}),
    )


def objects(kube: Kube, kind: str = "virtualmachines") -> dict[str, dict[str, Any]]:
    done = kube.plane.kubectl("get", kind, "-n", kube.namespace, "-o", "json")
    return {item["metadata"]["name"]: item for item in json.loads(done.stdout)["items"]}


def is_ready(obj: dict[str, Any] | None) -> bool:
    ready = condition(obj, "Ready")
    return bool(
        obj
        and ready
        and ready["status"] == "True"
        and obj["status"].get("observedGeneration") == obj["metadata"]["generation"]
    )


def wait_all_ready(kube: Kube, names: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    def all_ready() -> dict[str, dict[str, Any]] | None:
        found = objects(kube)
        return found if all(is_ready(found.get(name)) for name in names) else None

    try:
        return wait_for(all_ready, timeout=timeout, interval=1.0, what=f"{len(names)} VirtualMachines Ready")
    except AssertionError:
        found = objects(kube)
        laggards = {n: (found.get(n) or {}).get("status") for n in names if not is_ready(found.get(n))}
        raise AssertionError(f"not Ready in {timeout}s: {json.dumps(laggards, indent=1)[:4000]}") from None


def platform_vms(sim: SimProcess) -> list[dict[str, Any]]:
    """Every VM of the tenant, the recycle bin included."""
    return sim.vms(CLUSTER, TENANT, include_trash_vm="true", page_size=0)


def by_name(sim: SimProcess, names: list[str]) -> dict[str, list[str]]:
    """Platform uuids per name, for the given names."""
    found: dict[str, list[str]] = {name: [] for name in names}
    for vm in platform_vms(sim):
        if vm["name"] in found:
            found[vm["name"]].append(vm["uuid"])
    return found


def assert_exactly_one_each(sim: SimProcess, found: dict[str, dict[str, Any]], names: list[str]) -> None:
    """Each name once on the platform, with the uuid its object shows (status and annotation)."""
    on_platform = by_name(sim, names)
    duplicates = {n: u for n, u in on_platform.items() if len(u) != 1}
    assert not duplicates, f"names not exactly once on the platform: {duplicates}"
    for name in names:
        obj = found[name]
        (platform_uuid,) = on_platform[name]
        assert obj["status"]["uuid"] == platform_uuid, name
        annotations = obj["metadata"].get("annotations") or {}
        assert annotations.get("vmop.io/create-pending"), name  # the mark written before the create
        assert obj["status"].get("createPendingSince") is None, name


def assert_no_orphaned_volumes(sim: SimProcess) -> None:
    """Every volume belongs to a VM, in either cluster (migrations move VMs with their volumes)."""
    elsewhere = sim.vms(OTHER_CLUSTER, TENANT, include_trash_vm="true", page_size=0)
    existing = {vm["uuid"] for vm in [*platform_vms(sim), *elsewhere]}
    orphans = [v for v in sim.volumes() if v["vm_uuid"] not in existing]
    assert not orphans, f"volumes of no VM: {orphans}"


def calls(sim: SimProcess, endpoint: str | None = None) -> int:
    stats = sim.stats()
    return int(stats["total"] if endpoint is None else stats["calls"].get(endpoint, 0))


@pytest.fixture
def fresh_namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def no_faults(sim: SimProcess) -> Iterator[None]:
    """Whatever a test injects is cleared afterwards, even when it fails."""
    yield
    sim.faults()


# --- the operator killed at random points -------------------------------------------------------------


def rollout_with_kills(
    control_plane: ControlPlane, sim: SimProcess, logs: Path, namespace: str, count: int, kills: int, timeout: float
) -> None:
    """Its own operator, four workers, and a platform slow to answer creates and starts: the rollout
    takes long enough that the kills land inside it (creates sent but unanswered, starts, writes)."""
    kube = Kube(control_plane, namespace)
    operator = OperatorProcess(control_plane, sim.url, logs, [namespace], extra=["--max-concurrency", "4"]).start()
    sim.faults(seed=SEED, latency_ms=20, response_delay_ms={"unified_create": 800, "start": 300})
    rng = random.Random(SEED + count)
    prefix = unique("roll")
    names = [f"{prefix}-{i:03d}" for i in range(count)]
    apply_all(kube, [manifest(name) for name in names])
    moments: list[tuple[int, int]] = []  # at each kill: (VMs on the platform, objects knowing their uuid)
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(0.5, 4.0))
            operator.kill()
            known = sum(1 for o in objects(kube).values() if (o.get("status") or {}).get("uuid"))
            moments.append((sum(1 for u in by_name(sim, names).values() if u), known))
            time.sleep(rng.uniform(0.0, 1.0))
            operator.start()
        assert any(known < count for _, known in moments), f"every kill came after the rollout: {moments}"
        found = wait_all_ready(kube, names, timeout)
    finally:
        sim.faults()
        operator.stop()
    print(f"kills at (on platform, uuid known): {moments}; platform calls: {sim.stats()['calls']}")
    assert_exactly_one_each(sim, found, names)
    assert_no_orphaned_volumes(sim)
    assert_shape_as_declared(sim, found, names)


def assert_shape_as_declared(sim: SimProcess, found: dict[str, dict[str, Any]], names: list[str]) -> None:
    """Running, in the manifest's shape, and nothing twice: one disk, one NIC, each the one vmop
    records in status (a lost record must not make vmop attach a second NIC, say)."""
    for name in names:
        status = found[name]["status"]
        vm = sim.inspect(CLUSTER, TENANT, status["uuid"])["data"]
        assert (vm["state"], vm["mem_size"]) == ("running", 2 * GIB), name
        volumes = [
            source["volume_uuid"]
            for d in vm["disks"]
            for key in ("disk_vsd_source", "disk_volume_source", "disk_block_source")
            if (source := d.get(key)) and source.get("volume_uuid")
        ]
        macs = [i["mac_address"] for i in vm["interfaces"]]
        assert len(vm["disks"]) == 1 and len(macs) == 1, f"{name}: disks {vm['disks']}, NICs {macs}"
        assert [d["volume"] for d in status.get("disks") or []] == volumes, name
        assert [i["mac"] for i in status.get("interfaces") or []] == macs, name


def test_operator_killed_at_random_points_during_a_rollout(
    control_plane: ControlPlane, sim: SimProcess, logs: Path, fresh_namespace: str
) -> None:
    rollout_with_kills(control_plane, sim, logs, fresh_namespace, count=20, kills=4, timeout=120)


@pytest.mark.heavy
def test_operator_killed_at_random_points_during_a_rollout_of_100(
    control_plane: ControlPlane, sim: SimProcess, logs: Path, fresh_namespace: str
) -> None:
    rollout_with_kills(control_plane, sim, logs, fresh_namespace, count=100, kills=8, timeout=600)


def test_operator_killed_at_random_points_during_ten_cross_cluster_migrations(
    control_plane: ControlPlane, sim: SimProcess, logs: Path, fresh_namespace: str
) -> None:
    """No duplicate, and every object ends where its VM is: kills land while migrations are claimed,
    started, running, and while their outcome is handed over to the VirtualMachines."""
    kube = Kube(control_plane, fresh_namespace)
    operator = OperatorProcess(control_plane, sim.url, logs, [fresh_namespace], ["--resync-seconds", "3"]).start()
    rng = random.Random(SEED + 10)
    names = [f"{unique('away')}-{i}" for i in range(10)]
    apply_all(kube, [manifest(name) for name in names])
    try:
        before = wait_all_ready(kube, names, timeout=120)
        creates = sim.stats()["calls"].get("unified_create", 0)
        with migrations_taking(sim, 8):
            apply_all(kube, [migration_manifest(f"{name}-m", name, crossCluster=CROSS) for name in names])
            for _ in range(3):
                time.sleep(rng.uniform(0.5, 4.0))
                operator.kill()
                time.sleep(rng.uniform(0.0, 1.0))
                operator.start()

            def finished() -> bool:
                phases = [
                    (objects(kube, "vmmigrations").get(f"{n}-m") or {}).get("status", {}).get("phase") for n in names
                ]
                return all(phase == "Succeeded" for phase in phases)

            wait_for(finished, timeout=120, interval=1, what="10 migrations Succeeded")
        after = wait_all_ready(kube, names, timeout=60)
        lists = sim.stats()["calls"].get("list", 0)
        wait_for(lambda: sim.stats()["calls"].get("list", 0) >= lists + 6, timeout=60, what="resyncs")
    finally:
        operator.stop()
    assert sim.stats()["calls"].get("unified_create", 0) == creates  # no create once the migrations began
    for name in names:
        in_other = [vm["uuid"] for vm in sim.vms(OTHER_CLUSTER, TENANT, filter_name=name)]
        assert sim.vms(CLUSTER, TENANT, filter_name=name) == [] and in_other == [before[name]["status"]["uuid"]], name
        assert (after[name]["status"]["cluster"], after[name]["status"]["uuid"]) == (OTHER_CLUSTER, in_other[0])


# --- a flaky platform ---------------------------------------------------------------------------------

# Compute API calls per VM (as the platform counts them, failed attempts included) from apply to all
# Ready on a platform failing 20% of calls: a fault-free rollout makes about 3 per VM (create,
# start, a share of the lists); retries back off, so the flaky one stays within a small multiple.
MAX_CALLS_PER_VM = 8


def flaky_rollout(kube: Kube, sim: SimProcess, count: int, timeout: float) -> None:
    prefix = unique("flaky")
    names = [f"{prefix}-{i:03d}" for i in range(count)]
    sim.faults(
        seed=SEED,
        http_error_rate={"*": 0.2},  # 503 on one call in five, on every endpoint
        timeout_rate={"*": 0.05},  # and one in twenty hangs (a latency spike) before it is answered
        hang_seconds=1.5,
        latency_ms=20,
    )
    before = calls(sim)
    apply_all(kube, [manifest(name) for name in names])
    found = wait_all_ready(kube, names, timeout=timeout)
    made = calls(sim) - before
    stats = sim.stats()["calls"]
    sim.faults()
    print(f"flaky rollout of {count}: {made} compute calls ({made / count:.1f} per VM): {stats}")
    assert made <= MAX_CALLS_PER_VM * count, f"{made} calls for {count} VMs: retries do not back off"
    assert_exactly_one_each(sim, found, names)
    assert_shape_as_declared(sim, found, names)


@pytest.mark.usefixtures("operator", "no_faults")
def test_flaky_platform_converges_with_bounded_retries(kube: Kube, sim: SimProcess) -> None:
    flaky_rollout(kube, sim, count=10, timeout=90)


@pytest.mark.heavy
@pytest.mark.usefixtures("operator", "no_faults")
def test_flaky_platform_converges_with_bounded_retries_for_60(kube: Kube, sim: SimProcess) -> None:
    flaky_rollout(kube, sim, count=60, timeout=300)


# --- the platform down for a while --------------------------------------------------------------------


# While the platform answers nothing but 503, the operator's calls at it (retries included), all
# objects together: 4 VMs resyncing every 2 s make about 2 per second.
MAX_OUTAGE_CALLS_PER_SECOND = 6.0


def synced(obj: dict[str, Any] | None) -> tuple[str, str]:
    found = condition(obj, "Synced") or {}
    return found.get("status", ""), found.get("reason", "")


@pytest.mark.usefixtures("operator", "no_faults")
def test_platform_outage_is_shown_and_nothing_is_recreated(kube: Kube, sim: SimProcess) -> None:
    prefix = unique("outage")
    names = [f"{prefix}-{i}" for i in range(4)]
    apply_all(kube, [manifest(name) for name in names])
    uuids = {
        name: obj["status"]["uuid"] for name, obj in wait_all_ready(kube, names, timeout=60).items() if name in names
    }
    creates, deletes = calls(sim, "unified_create"), calls(sim, "delete")
    sim.faults(http_error_rate={"*": 1.0})  # every compute call: 503
    started = time.monotonic()

    def all_show_the_outage() -> dict[str, dict[str, Any]] | None:
        found = objects(kube)
        return found if all(synced(found[n]) == ("False", "PlatformUnavailable") for n in names) else None

    during = wait_for(all_show_the_outage, timeout=30, interval=1.0, what="Synced=False PlatformUnavailable")
    for name in names:
        status = during[name]["status"]
        assert status["uuid"] == uuids[name] and status["phase"] == "Running", status
        assert "platform unreachable" in (condition(during[name], "Synced") or {})["message"]
        assert status["lastError"]["operation"].startswith("/v1/compute/"), status["lastError"]
    calls_before_wait, waited_from = calls(sim), time.monotonic()
    time.sleep(max(5.0, 10 - (time.monotonic() - started)))  # down for a while
    outage_rate = (calls(sim) - calls_before_wait) / (time.monotonic() - waited_from)
    # Reads of the platform are shared by all objects and retried with backoff: no hot loop.
    assert outage_rate <= MAX_OUTAGE_CALLS_PER_SECOND, f"{outage_rate:.1f} calls/s at a platform that is down"
    assert (calls(sim, "unified_create"), calls(sim, "delete")) == (creates, deletes), "acted on an unseen platform"
    sim.faults()

    def all_synced_again() -> dict[str, dict[str, Any]] | None:
        found = objects(kube)
        return found if all(is_ready(found[n]) and synced(found[n])[0] == "True" for n in names) else None

    found = wait_for(all_synced_again, timeout=60, interval=1.0, what="Ready and Synced again")
    for name in names:
        assert found[name]["status"]["uuid"] == uuids[name], "the same VM, not a new one"
        assert found[name]["status"].get("lastError") is None, found[name]["status"]
    assert_exactly_one_each(sim, found, names)
    assert (calls(sim, "unified_create"), calls(sim, "delete")) == (creates, deletes)
    print(f"compute calls per second during the outage: {outage_rate:.1f}")


# --- platform refusals (scode) ------------------------------------------------------------------------


@pytest.fixture
def slow_resync_operator(
    control_plane: ControlPlane, sim: SimProcess, logs: Path, fresh_namespace: str
) -> Iterator[OperatorProcess]:
    """An operator whose resync timer is far off: what retries a failure is then only the retry
    policy (transient scodes back off and retry; permanent ones wait for a change)."""
    process = OperatorProcess(
        control_plane, sim.url, logs, [fresh_namespace], extra=["--resync-seconds", "120"]
    ).start()
    yield process
    process.stop()


def last_error(kube: Kube, name: str, scode: int) -> dict[str, Any] | None:
    found = kube.get("virtualmachine", name)
    error = ((found or {}).get("status") or {}).get("lastError")
    return error if error and error["scode"] == scode else None


@pytest.mark.usefixtures("no_faults")
def test_scode_failures_are_shown_and_retried_with_backoff(
    control_plane: ControlPlane, sim: SimProcess, fresh_namespace: str, slow_resync_operator: OperatorProcess
) -> None:
    """A refusal of a call planned from an observation is looked at again and retried with capped
    backoff, whatever its code: the doc names too few codes to tell a lasting refusal apart (a
    parameter refused now, 10001, a simulator number) from a passing one (20926, the doc's own
    example), and either shows in status meanwhile."""
    kube = Kube(control_plane, fresh_namespace)
    refused, busy = unique("refused"), unique("busy")
    sim.faults(forced_scode={"unified_create": 10001, "start": 20926})
    kube.apply(manifest(refused))
    error = wait_for(lambda: last_error(kube, refused, 10001), timeout=30, what="lastError 10001")
    assert (error["operation"], error["message"], error["messageCn"]) == (
        "/v1/compute/unified_create",
        "invalid parameter",
        "参数错误",
    )
    assert error["desc"] == "injected fault on unified_create"
    message = (condition(kube.get("virtualmachine", refused), "Synced") or {})["message"]
    assert "10001" in message and "invalid parameter" in message and "参数错误" in message
    warnings = wait_for(lambda: [e for e in kube.events(refused) if e["type"] == "Warning"], what="a Warning event")
    assert any("10001" in e["message"] and "参数错误" in e["message"] for e in warnings), warnings

    # The start refusal needs a VM: let creates through for it, keep refusing starts.
    sim.faults(forced_scode={"start": 20926})
    kube.apply(manifest(busy))
    error = wait_for(lambda: last_error(kube, busy, 20926), timeout=30, what="lastError 20926")
    assert (error["operation"], error["messageCn"]) == ("/v1/compute/start", "主机不满足CPU超分配限制")
    starts = calls(sim, "start")
    time.sleep(15)  # retries come after 2, 4, 8 s...: at least two land in any 15 s from here
    retried_starts = calls(sim, "start") - starts
    assert 2 <= retried_starts <= 6, f"a refusal: retried with backoff, not {retried_starts} times"
    # Both recover by themselves once the platform takes the calls, each VM made once.
    sim.faults()
    found = wait_all_ready(kube, [busy, refused], timeout=120)
    assert found[refused]["status"].get("lastError") is None
    assert_exactly_one_each(sim, found, [refused, busy])


@pytest.mark.usefixtures("operator", "no_faults")
def test_group_delete_refusal_is_shown_then_retried(kube: Kube, sim: SimProcess) -> None:
    name = unique("gdel")
    kube.apply(group(name))
    group_uuid = wait_group_ready(kube, name)["uuid"]
    sim.faults(forced_scode={"group/delete": 10500})
    kube.delete("vmgroup", name)

    def refusal() -> str | None:
        message = (condition(kube.get("vmgroup", name), "Synced") or {}).get("message", "")
        return message if "10500" in message else None

    message = wait_for(refusal, timeout=30, what="the group delete refusal in status")
    assert "internal error" in message and "内部错误" in message and "group/delete" in message
    events = wait_for(lambda: [e for e in kube.events(name) if e["type"] == "Warning"], what="a Warning event")
    assert any("10500" in e["message"] for e in events), events
    assert group_uuid in platform_groups(sim)
    sim.faults()
    wait_for(lambda: kube.get("vmgroup", name) is None, timeout=60, what="the VmGroup deleted once allowed")
    assert group_uuid not in platform_groups(sim)


# --- the apiserver restarted mid-rollout --------------------------------------------------------------


@pytest.mark.usefixtures("operator", "no_faults")
def test_apiserver_restart_mid_rollout(control_plane: ControlPlane, kube: Kube, sim: SimProcess) -> None:
    prefix = unique("apirestart")
    first = [f"{prefix}-a{i}" for i in range(8)]
    later = [f"{prefix}-b{i}" for i in range(4)]
    sim.faults(response_delay_ms={"unified_create": 500, "start": 300})  # keep the rollout going meanwhile
    apply_all(kube, [manifest(name) for name in first])
    time.sleep(1.0)
    started = time.monotonic()
    control_plane.restart("kube-apiserver", grace=3)  # SIGTERM; SIGKILL if still draining after 3 s
    print(f"kube-apiserver restarted in {time.monotonic() - started:.1f}s")
    # Changes after the restart reach the operator: its watches resumed.
    apply_all(kube, [manifest(name) for name in later])
    kube.patch_spec("virtualmachine", first[0], {"memory": "3Gi"})
    found = wait_all_ready(kube, first + later, timeout=90)
    sim.faults()
    assert_exactly_one_each(sim, found, first + later)
    vm = sim.inspect(CLUSTER, TENANT, found[first[0]]["status"]["uuid"])["data"]
    assert vm["mem_size"] == 3 * GIB
    assert calls(sim, "unified_create") >= len(first + later)


# --- two replicas with peering ------------------------------------------------------------------------


def peering_replica(
    control_plane: ControlPlane, sim: SimProcess, logs: Path, namespace: str, peering: str, priority: int
) -> OperatorProcess:
    flags = ["--peering", peering, "--peering-priority", str(priority), "--peering-lifetime", "8"]
    return OperatorProcess(control_plane, sim.url, logs, [namespace], extra=flags)


def compute_requests(operator: OperatorProcess) -> float:
    text = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("vmop_compute_requests_total{")
    )


@pytest.mark.usefixtures("no_faults")
def test_peering_one_replica_acts_and_the_standby_takes_over(
    control_plane: ControlPlane, sim: SimProcess, logs: Path, fresh_namespace: str
) -> None:
    kube = Kube(control_plane, fresh_namespace)
    peering = "vmop-ha"
    kube.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": peering}})

    def peers() -> dict[str, Any]:
        found = kube.get("kopfpeering", peering) or {}
        return {k: v for k, v in (found.get("status") or {}).items() if v and v.get("lifetime")}

    replica = partial(peering_replica, control_plane, sim, logs, fresh_namespace, peering)
    active, standby = replica(200).start(), replica(100)
    try:
        wait_for(lambda: len(peers()) == 1, timeout=20, what="the active replica in the peering")
        standby.start()
        # A replica starts paused and resumes only when no peer of higher (or equal) priority lives.
        wait_for(lambda: sorted(p["priority"] for p in peers().values()) == [100, 200], what="both replicas peering")
        assert "Resuming operations" in active.output()
        names = [unique("ha") for _ in range(3)]
        apply_all(kube, [manifest(name) for name in names])
        wait_all_ready(kube, names, timeout=60)
        assert compute_requests(active) > 0
        assert compute_requests(standby) == 0, "the standby made compute calls while the active one lived"
        assert "Resuming operations" not in standby.output()

        active.kill()
        takeover = unique("ha-takeover")
        kube.apply(manifest(takeover))
        kube.patch_spec("virtualmachine", names[0], {"memory": "3Gi"})
        found = wait_all_ready(kube, [*names, takeover], timeout=60)
        assert "Resuming operations after the pause" in standby.output()
        assert compute_requests(standby) > 0
        assert_exactly_one_each(sim, found, [*names, takeover])
        assert sim.inspect(CLUSTER, TENANT, found[names[0]]["status"]["uuid"])["data"]["mem_size"] == 3 * GIB
    finally:
        active.kill()
        standby.stop()


@pytest.mark.usefixtures("no_faults")
def test_an_active_replica_paused_by_a_higher_priority_peer_stops_acting(
    control_plane: ControlPlane, sim: SimProcess, logs: Path, fresh_namespace: str
) -> None:
    """kopf pauses only its watch streams; vmop's engine must stop its passes and resyncs too, or
    the paused replica goes on acting beside the one that took over."""
    kube = Kube(control_plane, fresh_namespace)
    peering = "vmop-ha-late"
    kube.apply({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": peering}})

    replica = partial(peering_replica, control_plane, sim, logs, fresh_namespace, peering)
    low, high = replica(100).start(), replica(200)
    try:
        names = [unique("late") for _ in range(2)]
        apply_all(kube, [manifest(name) for name in names])
        wait_for(lambda: "Resuming operations" in low.output(), timeout=30, what="the first replica acting")
        wait_all_ready(kube, names, timeout=60)
        high.start()
        wait_for(lambda: "Pausing operations in favour of" in low.output(), timeout=30, what="the first one paused")
        time.sleep(1.0)  # a pass under way when kopf paused ends
        before = compute_requests(low)
        kube.patch_spec("virtualmachine", names[0], {"memory": "3Gi"})
        found = wait_all_ready(kube, names, timeout=60)
        time.sleep(3 * RESYNC_SECONDS)
        assert compute_requests(low) == before, "the paused replica made compute calls (passes or resyncs)"
        assert compute_requests(high) > 0
        assert sim.inspect(CLUSTER, TENANT, found[names[0]]["status"]["uuid"])["data"]["mem_size"] == 3 * GIB
    finally:
        high.stop()
        low.stop()


# --- a group deleted behind vmop's back ---------------------------------------------------------------


@pytest.mark.usefixtures("operator")
def test_group_deleted_on_the_platform_is_recreated(kube: Kube, sim: SimProcess) -> None:
    name = unique("gone-group")
    kube.apply(group(name))
    first = wait_group_ready(kube, name)["uuid"]
    deleted = sim.call("group/delete", {"cluster_uuid": CLUSTER, "tenant": TENANT, "group_uuid": first})
    assert deleted["scode"] == 0, deleted

    def recreated() -> dict[str, Any] | None:
        found = kube.get("vmgroup", name)
        status = (found or {}).get("status") or {}
        ready = condition(found, "Ready") or {}
        return status if status.get("uuid") not in (None, first) and ready.get("status") == "True" else None

    status = wait_for(recreated, timeout=30, what="the group recreated")
    same_name = {u: g for u, g in platform_groups(sim).items() if g["name"] == name}
    assert list(same_name) == [status["uuid"]], same_name
    assert first not in platform_groups(sim)


# --- deletes while the operator is down ---------------------------------------------------------------


def finalizers(kube: Kube, name: str) -> list[str] | None:
    found = kube.get("virtualmachine", name)
    return None if found is None else list(found["metadata"].get("finalizers") or [])


def test_deletes_while_the_operator_is_down(kube: Kube, sim: SimProcess, operator: OperatorProcess) -> None:
    deleted, released, stripped = unique("down-del"), unique("down-release"), unique("down-strip")
    apply_all(kube, [manifest(name, shutdownTimeoutSeconds=5) for name in (deleted, released, stripped)])
    uuids = {n: o["status"]["uuid"] for n, o in wait_all_ready(kube, [deleted, released, stripped], 60).items()}
    operator.kill()
    try:
        for name in (deleted, released, stripped):
            kube.delete("virtualmachine", name)
        kube.annotate("virtualmachine", released, **{"vmop.io/force-release": "true"})
        # The last resort, for when no operator will come back: strip the finalizer by hand.
        kube.plane.kubectl(
            "patch", "virtualmachine", stripped, "-n", kube.namespace, "--type=merge",
            "-p", '{"metadata":{"finalizers":null}}',
        )  # fmt: skip
        wait_for(lambda: finalizers(kube, stripped) is None, timeout=15, what="the stripped object gone")
        time.sleep(3)
        # Nobody released the others: they wait, with their VMs, for the operator.
        assert finalizers(kube, deleted) == ["vmop.io/finalizer"]
        assert finalizers(kube, released) == ["vmop.io/finalizer"]
        assert all(sim.inspect(CLUSTER, TENANT, u)["scode"] == 0 for u in uuids.values())
    finally:
        operator.start()
    wait_for(lambda: finalizers(kube, deleted) is None, timeout=60, what="the delete finished by the operator")
    wait_for(lambda: finalizers(kube, released) is None, timeout=30, what="the forced release")
    assert sim.inspect(CLUSTER, TENANT, uuids[deleted])["scode"] != 0, "deleted on the platform"
    assert not [v for v in sim.volumes() if v["vm_uuid"] == uuids[deleted]], "with its volumes"
    # Released and stripped: their VMs stay on the platform (documented); clean them up by hand.
    for name in (released, stripped):
        assert sim.inspect(CLUSTER, TENANT, uuids[name])["scode"] == 0, name
        gone = sim.call(
            "delete",
            {
                "cluster_uuid": CLUSTER,
                "tenant": TENANT,
                "compute_uuid": uuids[name],
                "real_delete": True,
                "is_delete_volumes": True,
            },
        )
        assert gone["scode"] == 0, gone
    assert_no_orphaned_volumes(sim)
