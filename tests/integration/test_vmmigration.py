"""VmMigration against the real apiserver, `vmop run` and `vmop sim`: in-cluster and cross-cluster
success, failures with the platform's scode, abort by deletion and by spec.cancel, timeout, one
migration per VM at a time, preconditions, a crash right after the migrate call, and CEL rules."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from tests.support.argocd import assert_live_health
from tests.support.deploy import REPO
from tests.support.processes import Kube, OperatorProcess, SimProcess, condition, metric, wait_for

from vmop.dev.controlplane import ControlPlane

pytestmark = pytest.mark.integration

CLUSTER = "c27a25bc-5da2-430f-bfaf-6c8d33f21128"
OTHER_CLUSTER = "650ea11b-b7fb-4269-8232-aa53865aab3b"
TENANT = "a5badacf-a25c-4171-9aff-b619fc2d300a"
POOL = "42b3e3b6-b1d1-44c0-bf5c-b9cf73d594df"
HOSTS = ("200e3364-e720-47e4-8b12-734422d6eae3", "6ae9e142-f476-465f-868b-6026cddcd714")  # both in CLUSTER
CROSS = {
    "cluster": OTHER_CLUSTER,
    "hostUuid": "963b6fd4-487e-4436-95c4-21a67aca5eaf",
    "hostIp": "10.30.32.22",
    "tenant": TENANT,
    "pool": "7c2d9e4f-1a6b-4c3d-8e5f-9a0b1c2d3e04",
    "zone": "a6f8ad4a-3fdf-4cf6-8fda-90a8093f5316",
    "group": "0a5d3331-d9fe-4f6a-9c90-879dde781794",  # the default group of TENANT in OTHER_CLUSTER
}
MIGRATION = "vmmigration"
VM = "virtualmachine"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def vm_manifest(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cluster": CLUSTER,
        "tenant": TENANT,
        "memory": "1Gi",
        "disks": [{"name": "root", "size": "10Gi", "pool": POOL}],
        "shutdownTimeoutSeconds": 5,
    }
    return {"apiVersion": "vmop.io/v1alpha1", "kind": "VirtualMachine", "metadata": {"name": name}, "spec": base | spec}


def migration_manifest(name: str, vm: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "vmop.io/v1alpha1",
        "kind": "VmMigration",
        "metadata": {"name": name},
        "spec": {"vmRef": {"name": vm}} | spec,
    }


def status(kube: Kube, kind: str, name: str) -> dict[str, Any]:
    return ((kube.get(kind, name) or {}).get("status")) or {}


def annotations_of(kube: Kube, kind: str, name: str) -> dict[str, str]:
    found: dict[str, str] = ((kube.get(kind, name) or {}).get("metadata") or {}).get("annotations") or {}
    return found


def ready_vm(kube: Kube, **spec: Any) -> tuple[str, dict[str, Any]]:
    """A new VirtualMachine, Ready (in its declared power state): (its name, its status)."""
    name = unique("mig")
    kube.apply(vm_manifest(name, **spec))

    def ready() -> dict[str, Any] | None:
        found = kube.get(VM, name)
        ok = condition(found, "Ready")
        return found["status"] if found and ok and ok["status"] == "True" else None

    return name, wait_for(ready, timeout=60, what=f"{name} Ready")


def running_vm(kube: Kube) -> tuple[str, dict[str, Any]]:
    """A new VirtualMachine, Ready, once its status shows the host it runs on."""
    name, _ = ready_vm(kube)

    def on_a_host() -> dict[str, Any] | None:
        found = status(kube, VM, name)
        return found if found.get("host") in HOSTS else None

    return name, wait_for(on_a_host, what=f"{name} on a host")


def pending_with(kube: Kube, name: str, text: str) -> dict[str, Any]:
    """The migration's status once it is Pending with ``text`` in its message."""

    def found() -> dict[str, Any] | None:
        now = status(kube, MIGRATION, name)
        return now if now.get("phase") == "Pending" and text in (now.get("message") or "") else None

    return wait_for(found, what=f"{name} pending: {text}")


def reason(kube: Kube, name: str) -> str | None:
    """The Complete condition's reason."""
    complete = condition(kube.get(MIGRATION, name), "Complete")
    return complete["reason"] if complete else None


def kubectl_wait(
    control_plane: ControlPlane, kube: Kube, name: str, condition_type: str, *, timeout: int
) -> subprocess.CompletedProcess[str]:
    return control_plane.kubectl(
        "wait",
        f"--for=condition={condition_type}",
        f"vmmigration/{name}",
        "-n",
        kube.namespace,
        f"--timeout={timeout}s",
        check=False,
        timeout=timeout + 30,
    )


def other_host(host: str) -> str:
    return next(h for h in HOSTS if h != host)


def wait_phase(kube: Kube, name: str, *phases: str, timeout: float = 60) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = status(kube, MIGRATION, name)
        return found if found.get("phase") in phases else None

    return wait_for(reached, timeout=timeout, interval=0.2, what=f"{name} in {phases}")


def platform_vm(sim: SimProcess, cluster: str, vm_uuid: str) -> dict[str, Any]:
    answer = sim.inspect(cluster, TENANT, vm_uuid)
    assert answer["scode"] == 0, answer
    data: dict[str, Any] = answer["data"]
    return data


def calls(sim: SimProcess, endpoint: str) -> int:
    count: int = sim.stats()["calls"].get(endpoint, 0)
    return count


def events(kube: Kube, name: str) -> list[tuple[str, str, str]]:
    return [(e["type"], e["reason"], e["message"]) for e in kube.events(name)]


@contextmanager
def migrations_taking(sim: SimProcess, seconds: float) -> Iterator[None]:
    """The simulator's migrations last this long for the duration of the block."""
    before = httpx.get(f"{sim.url}/sim/timings", timeout=5).json()
    httpx.put(f"{sim.url}/sim/timings", json=before | {"migration": seconds}, timeout=5).raise_for_status()
    try:
        yield
    finally:
        httpx.put(f"{sim.url}/sim/timings", json=before, timeout=5).raise_for_status()


@contextmanager
def faults(sim: SimProcess, **injected: Any) -> Iterator[None]:
    sim.faults(**injected)
    try:
        yield
    finally:
        sim.faults()


def sample_until_finished(kube: Kube, name: str, timeout: float = 60) -> list[tuple[str, int]]:
    """(phase, progress) as kubectl sees it, until the migration has finished."""
    samples: list[tuple[str, int]] = []

    def finished() -> bool:
        found = status(kube, MIGRATION, name)
        if found.get("phase"):
            samples.append((found["phase"], found.get("progress", 0)))
        return found.get("phase") in ("Succeeded", "Failed", "Aborted")

    wait_for(finished, timeout=timeout, interval=0.1, what=f"{name} finished")
    return samples


# --- success ---------------------------------------------------------------------------------------


def dashboard_panel(title: str) -> tuple[str, dict[str, str]]:
    """The metric and labels a `sum(metric{labels})` panel of the Grafana dashboard adds up."""
    dashboard = json.loads((REPO / "deploy" / "grafana" / "vmop-dashboard.json").read_text())
    (panel,) = [p for p in dashboard["panels"] if p["title"] == title]
    (target,) = panel["targets"]
    query = re.fullmatch(r"sum\((\w+)\{(.*)\}\)", target["expr"])
    assert query, f"{title}: the query is no longer sum(metric{{labels}}); update this test: {target['expr']}"
    return query[1], dict(re.findall(r'(\w+)="([^"]*)"', query[2]))


def test_in_cluster_migration_succeeds_and_the_vm_follows(
    kube: Kube, sim: SimProcess, control_plane: ControlPlane, operator: OperatorProcess
) -> None:
    vm, vm_status = running_vm(kube)
    source = vm_status["host"]
    destination = other_host(source)
    name = unique("move")
    with migrations_taking(sim, 6):
        kube.apply(migration_manifest(name, vm, host=destination))
        running = wait_phase(kube, name, "Running")
        # The dashboard's "Migrations in flight" has data, and the pass is in the reconcile metrics.
        scraped = httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).text
        in_flight, labels = dashboard_panel("Migrations in flight")
        assert metric(scraped, in_flight, **labels) >= 1, scraped
        assert metric(scraped, "vmop_reconciles_total", kind="VmMigration", result="success") >= 1
        assert metric(scraped, "vmop_reconcile_duration_seconds_count", kind="VmMigration") >= 1
        assert annotations_of(kube, VM, vm)["vmop.io/migration"] == name  # the VM holds still meanwhile
        assert_live_health(kube, MIGRATION, name, "Progressing", phase="Running")
        assert_live_health(kube, VM, vm, "Progressing", phase="Migrating")  # docs/operations.md: Argo CD
        assert platform_vm(sim, CLUSTER, vm_status["uuid"])["action"] == "migrating"
        samples = sample_until_finished(kube, name)
    progress = [p for _, p in samples]
    assert progress == sorted(progress), samples
    assert (samples[-1], progress[0]) == (("Succeeded", 100), 0), samples  # 0 while migrating
    done = status(kube, MIGRATION, name)
    assert (done["source"]["host"], done["destination"]["host"], done["vmUuid"]) == (
        source,
        destination,
        vm_status["uuid"],
    )
    assert done["startTime"] == running["startTime"] <= done["completionTime"]
    assert (condition(kube.get(MIGRATION, name), "Complete") or {}).get("status") == "True"
    assert kubectl_wait(control_plane, kube, name, "Complete", timeout=5).returncode == 0
    assert condition(kube.get(MIGRATION, name), "Failed") is None
    assert reason(kube, name) == "Succeeded"
    assert_live_health(kube, MIGRATION, name, "Healthy", phase="Succeeded")
    assert platform_vm(sim, CLUSTER, vm_status["uuid"])["machine_uuid"] == destination
    # The VM's status follows at once (details are read when the hold ends), not at the next resync.
    wait_for(
        lambda: (s := status(kube, VM, vm)).get("host") == destination and s.get("phase") == "Running",
        timeout=8,
        what="VM status on the new host, Running",
    )
    assert "vmop.io/migration" not in annotations_of(kube, VM, vm)
    reasons = [reason for _, reason, _ in events(kube, name)]
    assert "Migrating" in reasons and "Succeeded" in reasons
    printed = control_plane.kubectl("get", "vmmig", name, "-n", kube.namespace).stdout
    assert "Succeeded" in printed and destination in printed and vm in printed


@pytest.mark.usefixtures("operator")
def test_cross_cluster_migration_moves_the_virtualmachine(kube: Kube, sim: SimProcess) -> None:
    vm, vm_status = running_vm(kube)
    name = unique("cross")
    with migrations_taking(sim, 12):
        kube.apply(migration_manifest(name, vm, crossCluster=CROSS))
        samples = sample_until_finished(kube, name)
    progress = [p for _, p in samples]
    assert progress == sorted(progress), samples
    assert len({p for p in progress if 0 < p < 100}) >= 2, samples  # observed rising, not just 0 and 100
    assert samples[-1] == ("Succeeded", 100)
    found = wait_for(
        lambda: (s := status(kube, VM, vm)).get("cluster") == OTHER_CLUSTER and s.get("phase") == "Running" and s,
        timeout=30,
        what="VirtualMachine status in the new cluster",
    )
    assert found["uuid"] == vm_status["uuid"]
    assert found["host"] == CROSS["hostUuid"]
    assert status(kube, MIGRATION, name)["destination"]["cluster"] == OTHER_CLUSTER
    # Several resyncs later: followed, not recreated in the old cluster.
    resyncs = calls(sim, "list") + calls(sim, "inspect")
    wait_for(lambda: calls(sim, "list") + calls(sim, "inspect") > resyncs + 4, timeout=30, what="VM resyncs")
    assert sim.vms(CLUSTER, TENANT, filter_name=vm) == []
    assert [v["uuid"] for v in sim.vms(OTHER_CLUSTER, TENANT, filter_name=vm)] == [vm_status["uuid"]]


# --- failure ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("operator")
def test_a_refused_migrate_fails_with_the_scode_in_status_and_events(
    kube: Kube, sim: SimProcess, control_plane: ControlPlane
) -> None:
    vm, vm_status = running_vm(kube)
    name = unique("refused")
    with faults(sim, forced_scode={"migrate": 21042}):
        kube.apply(migration_manifest(name, vm, host=other_host(vm_status["host"])))
        failed = wait_phase(kube, name, "Failed", "Succeeded")
    assert failed["phase"] == "Failed"
    # What a pipeline runs (docs/operations.md): Failed is met, Complete never is.
    assert kubectl_wait(control_plane, kube, name, "Failed", timeout=20).returncode == 0
    refused = kubectl_wait(control_plane, kube, name, "Complete", timeout=3)
    assert refused.returncode != 0 and "timed out" in refused.stderr, refused
    assert (failed["lastError"]["scode"], failed["lastError"]["operation"]) == (21042, "/v1/compute/migrate")
    assert reason(kube, name) == "MigrationFailed"
    assert "21042" in assert_live_health(kube, MIGRATION, name, "Degraded", phase="Failed")["message"]
    warnings = wait_for(
        lambda: [m for kind, _, m in events(kube, name) if kind == "Warning" and "21042" in m], what="Warning event"
    )
    assert warnings
    assert "vmop.io/migration" not in annotations_of(kube, VM, vm)
    vm_now = platform_vm(sim, CLUSTER, vm_status["uuid"])
    assert (vm_now["machine_uuid"], vm_now["action"]) == (vm_status["host"], "noaction")


@pytest.mark.usefixtures("operator")
def test_a_cross_cluster_failure_shows_the_scode_its_progress_reported(kube: Kube, sim: SimProcess) -> None:
    vm, vm_status = running_vm(kube)
    name = unique("xfail")
    with faults(sim, migration_fails=True), migrations_taking(sim, 10):
        kube.apply(migration_manifest(name, vm, crossCluster=CROSS))
        failed = wait_phase(kube, name, "Failed", "Succeeded")
    assert failed["phase"] == "Failed"
    assert (failed["lastError"]["scode"], failed["lastError"]["operation"]) == (
        21042,
        "/v1/compute/cross_cluster_pregress",
    )
    assert [kind for kind, reason, _ in events(kube, name) if reason == "MigrationFailed"] == ["Warning"]
    assert platform_vm(sim, CLUSTER, vm_status["uuid"])["action"] == "noaction"  # still in its own cluster
    assert status(kube, VM, vm)["cluster"] == CLUSTER  # a failed migration moves nothing


@pytest.mark.usefixtures("operator")
def test_an_in_cluster_migration_the_platform_fails_is_reported(kube: Kube, sim: SimProcess) -> None:
    vm, vm_status = running_vm(kube)
    name = unique("ifail")
    with faults(sim, migration_fails=True):
        kube.apply(migration_manifest(name, vm, host=other_host(vm_status["host"])))
        failed = wait_phase(kube, name, "Failed", "Succeeded")
    assert failed["phase"] == "Failed"
    assert vm_status["host"] in failed["message"] and "no longer migrating" in failed["message"]
    assert platform_vm(sim, CLUSTER, vm_status["uuid"])["machine_uuid"] == vm_status["host"]


# --- abort, cancel, timeout -------------------------------------------------------------------------


def wait_migrating(sim: SimProcess, vm_uuid: str) -> None:
    wait_for(lambda: platform_vm(sim, CLUSTER, vm_uuid)["action"] == "migrating", what="VM migrating")


@pytest.mark.usefixtures("operator")
def test_deleting_a_running_migration_aborts_it(kube: Kube, sim: SimProcess) -> None:
    vm, vm_status = running_vm(kube)
    name = unique("delete")
    aborts = calls(sim, "migrate/abort")
    with migrations_taking(sim, 60):
        kube.apply(migration_manifest(name, vm, host=other_host(vm_status["host"])))
        wait_phase(kube, name, "Running")
        wait_migrating(sim, vm_status["uuid"])
        kube.delete(MIGRATION, name)
        wait_for(lambda: kube.get(MIGRATION, name) is None, timeout=30, what="VmMigration gone")
    vm_now = platform_vm(sim, CLUSTER, vm_status["uuid"])
    assert (vm_now["action"], vm_now["machine_uuid"]) == ("noaction", vm_status["host"])
    assert calls(sim, "migrate/abort") == aborts + 1
    assert "vmop.io/migration" not in annotations_of(kube, VM, vm)
    assert "Aborted" in [reason for _, reason, _ in events(kube, name)]


@pytest.mark.usefixtures("operator")
def test_cancel_aborts_for_good(kube: Kube, sim: SimProcess, control_plane: ControlPlane) -> None:
    vm, vm_status = running_vm(kube)
    name = unique("cancel")
    with migrations_taking(sim, 60):
        kube.apply(migration_manifest(name, vm, host=other_host(vm_status["host"])))
        wait_phase(kube, name, "Running")
        wait_migrating(sim, vm_status["uuid"])
        kube.patch_spec(MIGRATION, name, {"cancel": True})
        aborted = wait_phase(kube, name, "Aborted", "Failed", "Succeeded")
    assert aborted["phase"] == "Aborted"
    assert aborted["completionTime"]
    assert_live_health(kube, MIGRATION, name, "Healthy", phase="Aborted")  # as spec.cancel asked
    failed = condition(kube.get(MIGRATION, name), "Failed") or {}
    assert (failed.get("status"), failed.get("reason")) == ("True", "Aborted")
    vm_now = platform_vm(sim, CLUSTER, vm_status["uuid"])
    assert (vm_now["action"], vm_now["machine_uuid"]) == ("noaction", vm_status["host"])
    undo = patch(control_plane, kube, name, {"cancel": False})
    assert undo.returncode != 0 and "cancel cannot be set back to false" in undo.stderr
    aborts = calls(sim, "migrate/abort")
    kube.delete(MIGRATION, name)  # history: let go at once, nothing called
    wait_for(lambda: kube.get(MIGRATION, name) is None, timeout=15, what="VmMigration gone")
    assert calls(sim, "migrate/abort") == aborts


@pytest.mark.usefixtures("operator")
def test_timeout_aborts_and_fails(kube: Kube, sim: SimProcess) -> None:
    vm, vm_status = running_vm(kube)
    name = unique("timeout")
    with migrations_taking(sim, 60):
        kube.apply(migration_manifest(name, vm, host=other_host(vm_status["host"]), timeoutSeconds=4))
        failed = wait_phase(kube, name, "Failed", "Succeeded", "Aborted", timeout=30)
    assert failed["phase"] == "Failed"
    assert "timed out after 4s" in failed["message"]
    assert reason(kube, name) == "TimedOut"
    assert_live_health(kube, MIGRATION, name, "Degraded", phase="Failed")
    vm_now = platform_vm(sim, CLUSTER, vm_status["uuid"])
    assert (vm_now["action"], vm_now["machine_uuid"]) == ("noaction", vm_status["host"])
    assert [kind for kind, reason, _ in events(kube, name) if reason == "TimedOut"] == ["Warning"]


# --- one at a time, preconditions ---------------------------------------------------------------------


@pytest.mark.usefixtures("operator")
def test_a_second_migration_of_the_same_vm_waits_for_the_first(kube: Kube, sim: SimProcess) -> None:
    vm, vm_status = running_vm(kube)
    source = vm_status["host"]
    first, second = unique("first"), unique("second")
    with migrations_taking(sim, 8):
        kube.apply(migration_manifest(first, vm, host=other_host(source)))
        wait_phase(kube, first, "Running")
        kube.apply(migration_manifest(second, vm, host=source))  # and back again
        waiting = pending_with(kube, second, "another migration")
        assert first in waiting["message"]
        assert reason(kube, second) == "AnotherMigrationActive"
        assert status(kube, MIGRATION, first)["phase"] == "Running"
        assert wait_phase(kube, first, "Succeeded", "Failed")["phase"] == "Succeeded"
        assert wait_phase(kube, second, "Succeeded", "Failed", timeout=60)["phase"] == "Succeeded"
    assert status(kube, MIGRATION, second)["startTime"] >= status(kube, MIGRATION, first)["completionTime"]
    assert platform_vm(sim, CLUSTER, vm_status["uuid"])["machine_uuid"] == source


@pytest.mark.usefixtures("operator")
def test_pending_until_the_vm_runs(kube: Kube, sim: SimProcess) -> None:
    vm, vm_status = running_vm(kube)
    kube.patch_spec(VM, vm, {"powerState": "Stopped"})
    wait_for(lambda: platform_vm(sim, CLUSTER, vm_status["uuid"])["state"] == "shutoff", what="VM off")
    name = unique("waits")
    kube.apply(migration_manifest(name, vm, host=other_host(vm_status["host"])))
    pending_with(kube, name, "shutoff")
    assert reason(kube, name) == "VirtualMachineNotReady"
    assert "shutoff" in assert_live_health(kube, MIGRATION, name, "Progressing", phase="Pending")["message"]
    assert [r for _, r, _ in events(kube, name)].count("VirtualMachineNotReady") == 1  # not one per re-check
    kube.patch_spec(VM, vm, {"powerState": "Running"})
    assert wait_phase(kube, name, "Succeeded", "Failed", timeout=60)["phase"] == "Succeeded"


@pytest.mark.usefixtures("operator")
def test_a_missing_virtualmachine_waits_and_a_deleted_one_fails_the_migration(kube: Kube, sim: SimProcess) -> None:
    early = unique("early")
    kube.apply(migration_manifest(early, "not-there-yet", host=HOSTS[1]))
    pending = wait_phase(kube, early, "Pending")
    assert "VirtualMachine not-there-yet not found" in pending["message"]
    vm, vm_status = ready_vm(kube, powerState="Stopped")
    name = unique("orphaned")
    kube.apply(migration_manifest(name, vm, host=HOSTS[1]))
    wait_for(lambda: status(kube, MIGRATION, name).get("vmUuid") == vm_status["uuid"], what="VM seen")
    kube.delete(VM, vm)
    failed = wait_phase(kube, name, "Failed", timeout=60)
    assert f"VirtualMachine {vm} was deleted" in failed["message"]


# --- crash safety ---------------------------------------------------------------------------------------


def test_killed_right_after_the_migrate_call_migrates_once(
    kube: Kube, sim: SimProcess, operator: OperatorProcess
) -> None:
    vm, vm_status = running_vm(kube)
    destination = other_host(vm_status["host"])
    name = unique("crash")
    before = calls(sim, "migrate")
    with faults(sim, response_delay_ms={"migrate": 8000}):  # migrating; the answer is not back yet
        kube.apply(migration_manifest(name, vm, host=destination))
        wait_for(lambda: calls(sim, "migrate") == before + 1, what="the migrate call")
        assert "vmop.io/migration-started" in annotations_of(kube, MIGRATION, name)
        operator.kill()
    operator.start()
    assert wait_phase(kube, name, "Succeeded", "Failed")["phase"] == "Succeeded"
    assert platform_vm(sim, CLUSTER, vm_status["uuid"])["machine_uuid"] == destination
    # A finished migration is history: another restart and several polls call nothing.
    operator.stop()
    operator.start()
    wait_for(lambda: status(kube, VM, vm).get("host") == destination, timeout=30, what="VM resynced")
    assert calls(sim, "migrate") == before + 1
    assert status(kube, MIGRATION, name)["phase"] == "Succeeded"


# --- CEL -----------------------------------------------------------------------------------------------


def patch(plane: ControlPlane, kube: Kube, name: str, spec: dict[str, Any]) -> Any:
    return plane.kubectl(
        "patch", MIGRATION, name, "-n", kube.namespace, "--type", "merge", "-p", json.dumps({"spec": spec}), check=False
    )


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"host": HOSTS[0], "crossCluster": CROSS}, "set exactly one of host or crossCluster"),
    ({}, "set exactly one of host or crossCluster"),
    ({"host": HOSTS[0], "timeoutSeconds": 0}, "timeoutSeconds"),
    ({"crossCluster": {k: v for k, v in CROSS.items() if k != "hostIp"}}, "hostIp"),
    ({"crossCluster": CROSS | {"hostIp": "10.30.32.256"}}, "spec.crossCluster.hostIp: Invalid value"),
    ({"crossCluster": CROSS | {"hostIp": "::ffff::1"}}, "hostIp must be an IPv4 or IPv6 address"),
]


@pytest.mark.parametrize(
    ("spec", "message"),
    INVALID,
    ids=["both", "neither", "zero-timeout", "cross-incomplete", "hostIp-v4-out-of-range", "hostIp-v6-malformed"],
)
def test_invalid_migrations_are_refused(kube: Kube, spec: dict[str, Any], message: str) -> None:
    refused = kube.apply(migration_manifest(unique("bad"), "web", **spec), check=False)
    assert refused.returncode != 0
    assert message in refused.stderr


def test_a_migration_is_immutable_once_created(kube: Kube, control_plane: ControlPlane) -> None:
    name = unique("fixed")
    kube.apply(migration_manifest(name, "some-vm", host=HOSTS[0]))
    changes: list[tuple[dict[str, Any], str]] = [
        ({"vmRef": {"name": "another-vm"}}, "is immutable"),
        ({"host": HOSTS[1]}, "is immutable"),
        ({"timeoutSeconds": 60}, "is immutable"),
        ({"host": None, "crossCluster": CROSS}, "host is immutable"),
    ]
    for change, message in changes:
        refused = patch(control_plane, kube, name, change)
        assert refused.returncode != 0, change
        assert message in refused.stderr, (change, refused.stderr)
    assert patch(control_plane, kube, name, {"cancel": True}).returncode == 0
