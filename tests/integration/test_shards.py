"""Objects split over processes by `--shards N --shard-index I`, each shard's Lease held by one
process at a time (runtime/lease.py), against the real apiserver: N goes from 1 to 3 and back,
the new processes starting while the old still run (as a rollout does), and no object is handled
by two processes at once or by none."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.test_sharding import CLUSTER, REQUEST, TENANT, manifest
from tests.support.processes import Kube, OperatorProcess, SimProcess, condition, wait_for

from vmop.dev.controlplane import ControlPlane
from vmop.engine.shard import shard_of

pytestmark = pytest.mark.integration

LEASE_SECONDS = 4
VMS = 9
PASS = re.compile(r"virtualmachines: pass of \('([^']+)', '([^']+)'\)")


@pytest.fixture
def names(kube: Kube) -> Iterator[list[str]]:
    made = [f"vm-{i}-{uuid.uuid4().hex[:4]}" for i in range(VMS)]
    yield made
    for name in made:
        kube.delete("virtualmachine", name)


def answered(kube: Kube, names: list[str], request: str) -> set[str]:
    found = (kube.get("virtualmachine", name) or {} for name in names)
    return {vm["metadata"]["name"] for vm in found if (vm.get("status") or {}).get("reconcileRequested") == request}


def passes(process: OperatorProcess, namespace: str, after: int = 0) -> set[str]:
    """The VirtualMachines of ``namespace`` the process ran passes of (from its log's line ``after``)."""
    lines = process.output().splitlines()[after:]
    return {m[2] for line in lines if (m := PASS.search(line)) and m[1] == namespace}


def lines(process: OperatorProcess) -> int:
    return len(process.output().splitlines())


def test_shards_go_from_one_to_three_and_back_with_each_object_handled_by_one_process(
    control_plane: ControlPlane, sim: SimProcess, logs: Path, kube: Kube, names: list[str]
) -> None:
    ns = kube.namespace

    def operator(shards: int, index: int) -> OperatorProcess:
        flags = ["--shards", str(shards), "--shard-index", str(index), "--lease", "shards-test"]
        flags += ["--lease-namespace", ns, "--lease-duration", str(LEASE_SECONDS), "--log-level", "DEBUG"]
        return OperatorProcess(control_plane, sim.url, logs, [ns], flags)

    single = operator(1, 0).start()
    three = [operator(3, i) for i in range(3)]
    back = operator(1, 0)
    try:
        for name in names:
            kube.apply(manifest(name))
        for name in names:
            wait_for(lambda name=name: condition(kube.get("virtualmachine", name), "Ready"), timeout=90, what=name)
        assert len({vm["name"] for vm in sim.vms(CLUSTER, TENANT)} & set(names)) == VMS

        # 1 -> 3, started while the single process runs: once it sees their Leases it pauses, and
        # they wait for its Lease to go.
        for process in three:
            process.start()
        wait_for(lambda: "stops handling shard 0 of 1" in single.output(), timeout=30, what="the single pauses")
        marks = [lines(p) for p in three]
        for name in names:
            kube.annotate("virtualmachine", name, **{REQUEST: "during"})
        time.sleep(2 * LEASE_SECONDS)
        assert not answered(kube, names, "during"), "nobody acts while two shard counts overlap"
        assert not any(passes(p, ns, mark) for p, mark in zip(three, marks, strict=True))
        single.stop()
        wait_for(lambda: answered(kube, names, "during") == set(names), timeout=60, what="every request answered")
        for index, process in enumerate(three):
            mine = {name for name in names if shard_of((ns, name), 3) == index}
            assert passes(process, ns) == mine, f"shard {index} handles its own objects and no other"

        # 3 -> 1: the single new process waits for all three Leases.
        back.start()
        wait_for(lambda: "waits to handle shard 0 of 1" in back.output(), timeout=30, what="the new one waits")
        three[0].stop()
        time.sleep(LEASE_SECONDS)
        assert not passes(back, ns), "shards 1 and 2 still hold their Leases"
        three[1].kill()  # no release: its Lease must expire first
        three[2].stop()
        for name in names:
            kube.annotate("virtualmachine", name, **{REQUEST: "after"})
        wait_for(lambda: answered(kube, names, "after") == set(names), timeout=60, what="every request answered")
        assert passes(back, ns) == set(names)
        platform = [vm["name"] for vm in sim.vms(CLUSTER, TENANT) if vm["name"] in names]
        assert sorted(platform) == sorted(names), "one platform VM each: nothing made twice"

        leases = control_plane.kubectl("get", "leases", "-n", ns, "-o", "name").stdout.split()
        assert sorted(leases) == [f"lease.coordination.k8s.io/shards-test-{i}" for i in range(3)]
    finally:
        for process in (single, *three, back):
            process.stop()
