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
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.integration.test_virtualmachine_lifecycle import CLUSTER, GIB, TENANT, manifest, unique
from tests.support.processes import Kube, OperatorProcess, SimProcess, condition, metric, wait_for

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
        assert annotations.get("vmop.io/uuid") == platform_uuid, name
        assert "vmop.io/create-pending" not in annotations, name


def assert_no_orphaned_volumes(sim: SimProcess) -> None:
    existing = {vm["uuid"] for vm in platform_vms(sim)}
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
