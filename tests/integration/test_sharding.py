"""Several vmop deployments side by side, each owning a disjoint set of namespaces (docs/scaling.md):
each reconciles its own objects and never touches the other's."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.support.processes import Kube, OperatorProcess, SimProcess, condition, wait_for

from vmop.dev.controlplane import ControlPlane

pytestmark = pytest.mark.integration

CLUSTER = "c27a25bc-5da2-430f-bfaf-6c8d33f21128"
TENANT = "a5badacf-a25c-4171-9aff-b619fc2d300a"
POOL = "42b3e3b6-b1d1-44c0-bf5c-b9cf73d594df"
PORT_GROUP = "239223b4-d21b-4b23-954f-796f17c75c49"
REQUEST = "vmop.io/reconcile-request"
QUIET_SECONDS = 8.0  # four resync periods of the test operators (2 s)


def manifest(name: str) -> dict[str, Any]:
    spec = {
        "cluster": CLUSTER,
        "tenant": TENANT,
        "cpu": {"sockets": 1, "cores": 1},
        "memory": "1Gi",
        "disks": [{"name": "root", "bus": "scsi", "size": "10Gi", "pool": POOL}],
        "interfaces": [{"name": "eth0", "network": "ycb123", "portGroup": PORT_GROUP}],
    }
    return {"apiVersion": "vmop.io/v1alpha1", "kind": "VirtualMachine", "metadata": {"name": name}, "spec": spec}


def ready(kube: Kube, name: str) -> dict[str, Any] | None:
    found = kube.get("virtualmachine", name)
    ready_condition = condition(found, "Ready")
    return found if ready_condition and ready_condition["status"] == "True" else None


def untouched(kube: Kube, name: str) -> bool:
    """No operator has looked at it: no finalizer, no status."""
    found = kube.get("virtualmachine", name) or {}
    return not found.get("metadata", {}).get("finalizers") and not found.get("status")


def gone(kube: Kube, name: str) -> bool:
    return kube.get("virtualmachine", name) is None


def holds(probe: Callable[[], bool], seconds: float, what: str) -> None:
    """``probe`` stays true for ``seconds`` (several resync periods)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert probe(), f"not so: {what}"
        time.sleep(0.5)


def handled_request(kube: Kube, name: str) -> str | None:
    found = kube.get("virtualmachine", name) or {}
    value: str | None = (found.get("status") or {}).get("reconcileRequested")
    return value


@pytest.fixture
def namespaces(control_plane: ControlPlane) -> Iterator[dict[str, Kube]]:
    made = {key: f"shard-{key}-{uuid.uuid4().hex[:6]}" for key in ("a", "b", "c")}
    for name in made.values():
        control_plane.kubectl("create", "namespace", name)
    yield {key: Kube(control_plane, name) for key, name in made.items()}
    for name in made.values():
        control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_two_deployments_with_disjoint_namespaces_each_reconcile_only_their_own(
    control_plane: ControlPlane, sim: SimProcess, logs: Path, namespaces: dict[str, Kube]
) -> None:
    a, b, c = namespaces["a"], namespaces["b"], namespaces["c"]
    first = OperatorProcess(control_plane, sim.url, logs, [a.namespace, b.namespace])
    second = OperatorProcess(control_plane, sim.url, logs, [c.namespace])
    names = {key: f"vm-{key}-{uuid.uuid4().hex[:6]}" for key in namespaces}
    try:
        # Only the first deployment runs: a and b are reconciled, c is left alone.
        first.start()
        for key, kube in namespaces.items():
            kube.apply(manifest(names[key]))
        wait_for(lambda: ready(a, names["a"]), timeout=60, what="a's VM Ready")
        wait_for(lambda: ready(b, names["b"]), timeout=60, what="b's VM Ready")
        holds(lambda: untouched(c, names["c"]), QUIET_SECONDS, "the first deployment left c alone")

        # The second deployment takes c.
        second.start()
        wait_for(lambda: ready(c, names["c"]), timeout=60, what="c's VM Ready")
        platform = {vm["name"]: vm for vm in sim.vms(CLUSTER, TENANT)}
        assert {names["a"], names["b"], names["c"]} <= set(platform), "each VM exists on the platform once"

        # With the first stopped, a reconcile request in a goes unanswered; one in c is answered.
        first.stop()
        a.annotate("virtualmachine", names["a"], **{REQUEST: "while-first-stopped"})
        c.annotate("virtualmachine", names["c"], **{REQUEST: "while-first-stopped"})
        wait_for(
            lambda: handled_request(c, names["c"]) == "while-first-stopped", timeout=30, what="c's request handled"
        )
        holds(
            lambda: handled_request(a, names["a"]) != "while-first-stopped",
            QUIET_SECONDS,
            "the second deployment left a alone",
        )

        # Back up, the first deployment answers its own.
        first.start()
        wait_for(
            lambda: handled_request(a, names["a"]) == "while-first-stopped", timeout=30, what="a's request handled"
        )

        # Each deletes its own (the finalizers are released by the owner only).
        for key, kube in namespaces.items():
            kube.delete("virtualmachine", names[key])
        for key, kube in namespaces.items():
            wait_for(partial(gone, kube, names[key]), timeout=60, what=f"{names[key]} deleted")
        left = {vm["name"] for vm in sim.vms(CLUSTER, TENANT)}
        assert not left & set(names.values()), "the VMs are gone from the platform"
    finally:
        first.stop()
        second.stop()
