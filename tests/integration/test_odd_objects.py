"""Objects the apiserver accepts though they are odd: the valid-variant corpus of
test_virtualmachine_validation.py and a 1.2 MB object (16,000 labels), through `vmop run` and
`vmop sim`. Each ends Ready or says why not in Synced; status writes stay small whatever the
object's size; big objects delete, with and without vmop.io/force-release. This module has its
own operator: its log holds only what these tests did, and has no traceback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.integration.test_virtualmachine_lifecycle import (
    CLUSTER,
    TENANT,
    manifest,
    platform_vm,
    unique,
    wait_gone,
    wait_ready,
)
from tests.integration.test_virtualmachine_validation import ACCEPTED
from tests.integration.test_virtualmachine_validation import manifest as variant
from tests.support.processes import RESYNC_SECONDS, Kube, OperatorProcess, SimProcess, condition, wait_for

from vmop.api.conditions import Reason

pytestmark = pytest.mark.integration

LABELS = 16_000
LABEL_VALUE_CHARS = 50  # with the key and its managedFields entry: ~76 bytes a label, 1.2 MB in all
BIG_OBJECT_BYTES = 1_200_000
# What vmop writes to status (its fields, conditions, kopf's progress and diff-base) whatever the
# object's size; kopf's default diff-base copied every label: 1.2 MB more at every status patch.
STATUS_MAX_BYTES = 16_384
REASONS = frozenset(value for key, value in vars(Reason).items() if key.isupper())
# What a failed handler leaves in the log: Python's, and kopf's own words for it.
CRASH_MARKS = ("Traceback", "failed with an exception")


def assert_no_crash_in(operator: OperatorProcess) -> None:
    crashes = [line for line in operator.output().splitlines() if any(mark in line for mark in CRASH_MARKS)]
    assert not crashes, "\n".join(crashes[:20])


# --- the valid-variant corpus ----------------------------------------------------------------------


def settled(obj: dict[str, Any] | None) -> bool:
    """Ready, or not in sync and saying why, for the object's current generation."""
    if not obj:
        return False
    generation = obj["metadata"]["generation"]
    ready, synced = condition(obj, "Ready") or {}, condition(obj, "Synced") or {}
    if ready.get("status") == "True":
        return bool(ready["observedGeneration"] == generation == obj["status"].get("observedGeneration"))
    return synced.get("status") == "False" and synced["observedGeneration"] == generation


def test_every_odd_but_valid_manifest_ends_ready_or_says_why(
    kube: Kube, sim: SimProcess, operator: OperatorProcess
) -> None:
    names: dict[str, str] = {}  # object name -> case id
    documents = []
    for case in ACCEPTED:
        document = variant(case.mutation, name=f"odd-{case.id.lower()}")
        document["metadata"]["namespace"] = kube.namespace
        names[document["metadata"]["name"]] = case.id
        documents.append(document)
    kube.plane.kubectl(
        "create",
        "-n",
        kube.namespace,
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}),
    )

    def everything_settled() -> dict[str, dict[str, Any]] | None:
        listed = json.loads(kube.plane.kubectl("get", "virtualmachines", "-n", kube.namespace, "-o", "json").stdout)
        found = {item["metadata"]["name"]: item for item in listed["items"] if item["metadata"]["name"] in names}
        return found if len(found) == len(names) and all(settled(obj) for obj in found.values()) else None

    started = time.monotonic()
    try:
        found = wait_for(everything_settled, timeout=90, interval=1.0, what="every odd-but-valid VM settled")
    except AssertionError:
        listed = json.loads(kube.plane.kubectl("get", "virtualmachines", "-n", kube.namespace, "-o", "json").stdout)
        unsettled = {i["metadata"]["name"]: i.get("status") for i in listed["items"] if not settled(i)}
        raise AssertionError(json.dumps(unsettled, indent=1)[:6000]) from None
    took = time.monotonic() - started
    outcomes: dict[str, str] = {}  # case id -> Synced reason
    for name, obj in found.items():
        synced = condition(obj, "Synced")
        assert synced is not None, name
        if synced["status"] == "False":
            assert synced["reason"] in REASONS and synced["message"], (names[name], synced)
        outcomes[names[name]] = synced["reason"]
    print(f"settled in {took:.0f}s:", json.dumps(outcomes, indent=1))
    # Where they end, not a step on the way: the same after three more resync periods.
    time.sleep(3 * RESYNC_SECONDS)
    again = everything_settled()
    assert again is not None
    assert {names[n]: (condition(o, "Synced") or {}).get("reason") for n, o in again.items()} == outcomes
    kube.plane.kubectl("delete", "virtualmachines", "-n", kube.namespace, "--wait=false", *names)
    for name in names:
        wait_gone(kube, name, timeout=60)
    assert_no_crash_in(operator)


# --- a 1.2 MB object --------------------------------------------------------------------------------


def big(name: str, **spec: Any) -> dict[str, Any]:
    document = manifest(name, **spec)
    document["metadata"]["labels"] = {f"k{i:05d}": f"{i:05d}".ljust(LABEL_VALUE_CHARS, "x") for i in range(LABELS)}
    return document


@pytest.fixture
def leftovers(kube: Kube) -> Iterator[list[str]]:
    """Big objects a failed test leaves: let go of (finalizer dropped) and deleted, rather than
    left to the namespace's deletion to work through, 1.2 MB at a time, while later modules run."""
    names: list[str] = []
    yield names
    for name in names:
        if kube.get("virtualmachine", name) is not None:
            release = json.dumps({"metadata": {"finalizers": None}})
            kube.plane.kubectl("patch", "virtualmachine", name, "-n", kube.namespace, "--type", "merge", "-p", release)
            kube.plane.kubectl("delete", "virtualmachine", name, "-n", kube.namespace, "--wait=false", check=False)


def create_big(kube: Kube, document: dict[str, Any], leftovers: list[str]) -> None:
    """kubectl create, not apply: apply's last-applied annotation (a copy of the object) would
    pass the 256 KiB limit of all annotations."""
    name = document["metadata"]["name"]
    leftovers.append(name)
    kube.plane.kubectl("create", "-n", kube.namespace, "-f", "-", stdin=json.dumps(document))
    shown = kube.plane.kubectl(
        "get", "virtualmachine", name, "-n", kube.namespace, "-o", "json", "--show-managed-fields"
    )
    size = len(json.dumps(json.loads(shown.stdout), separators=(",", ":")))  # as stored, managedFields included
    assert size > BIG_OBJECT_BYTES, size


def assert_status_small(obj: dict[str, Any]) -> None:
    status = obj["status"]
    assert "kopf" not in status, "kopf keeps no copy of the object in it"
    assert len(json.dumps(status)) < STATUS_MAX_BYTES, json.dumps(status, indent=1)


def assert_every_write_accepted(operator: OperatorProcess, name: str) -> None:
    """No request about the object was refused and retried (etcd's "request is too large")."""
    refused = [line for line in operator.output().splitlines() if f"/{name}" in line and "will retry" in line]
    assert not refused, "\n".join(refused[:5])


def test_a_big_object_reconciles_and_deletes(
    kube: Kube, sim: SimProcess, operator: OperatorProcess, leftovers: list[str]
) -> None:
    name = unique("big")
    create_big(kube, big(name, shutdownTimeoutSeconds=10), leftovers)
    found = wait_ready(kube, name, timeout=60)
    assert_status_small(found)
    assert platform_vm(sim, found["status"]["uuid"])["state"] == "running"
    kube.delete("virtualmachine", name)
    wait_gone(kube, name, timeout=60)
    assert sim.inspect(CLUSTER, TENANT, found["status"]["uuid"])["scode"] != 0
    assert_every_write_accepted(operator, name)
    assert_no_crash_in(operator)


def test_a_big_object_stuck_in_deletion_is_force_released(
    kube: Kube, sim: SimProcess, operator: OperatorProcess, leftovers: list[str]
) -> None:
    name = unique("big-stuck")
    create_big(kube, big(name, powerState="Stopped"), leftovers)
    found = wait_ready(kube, name, timeout=60)
    uuid_ = found["status"]["uuid"]
    assert_status_small(found)
    sim.faults(forced_scode={"delete": 10001})
    try:
        kube.delete("virtualmachine", name)

        def refusal_shown() -> dict[str, Any] | None:
            found = kube.get("virtualmachine", name)
            synced = condition(found, "Synced") or {}
            return found if synced.get("reason") == Reason.COMPUTE_ERROR else None

        assert_status_small(wait_for(refusal_shown, timeout=60, what="the delete's refusal shown"))
        kube.annotate("virtualmachine", name, **{"vmop.io/force-release": "true"})
        wait_gone(kube, name, timeout=60)
    finally:
        sim.faults()
    assert platform_vm(sim, uuid_)["state"] == "shutoff"  # released, not deleted
    assert_every_write_accepted(operator, name)
    assert_no_crash_in(operator)
