"""VmGroup against the real apiserver, `vmop run` and `vmop sim`: nesting in any apply order,
the depth limit, rename, move, groupRef from VMs, blocked deletes, default, conflicts, cycles."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.integration.test_virtualmachine_lifecycle import (
    CLUSTER,
    TENANT,
    manifest,
    unique,
    wait_gone,
    wait_ready,
    warning_from_vmop,
)
from tests.support.argocd import assert_live_health
from tests.support.processes import Kube, SimProcess, condition, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("operator")]


def group(object_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "vmop.io/v1alpha1",
        "kind": "VmGroup",
        "metadata": {"name": object_name},
        "spec": {"cluster": CLUSTER, "tenant": TENANT} | spec,
    }


def group_status(kube: Kube, name: str) -> dict[str, Any]:
    return ((kube.get("vmgroup", name) or {}).get("status")) or {}


def wait_group_ready(kube: Kube, name: str, timeout: float = 40) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        found = kube.get("vmgroup", name)
        ok = condition(found, "Ready")
        return found["status"] if found and ok and ok["status"] == "True" else None

    return wait_for(ready, timeout=timeout, what=f"VmGroup {name} Ready")


def platform_groups(sim: SimProcess) -> dict[str, dict[str, Any]]:
    """Every real group of the tenant, by uuid, with its parent."""
    tree = sim.call("group/tree", cluster_uuid=CLUSTER, tenant=TENANT)["data"]["list"]
    found: dict[str, dict[str, Any]] = {}

    def walk(node: dict[str, Any], parent: str) -> None:
        if not node.get("fake"):
            found[node["UUID"]] = {"name": node["Name"], "parent": parent, "refs": node["RefCount"]}
        for child in node.get("Children") or []:
            walk(child, "" if node.get("fake") else node["UUID"])

    for top in tree:
        walk(top, "")
    return found


def test_five_levels_in_any_order_and_no_sixth(kube: Kube, sim: SimProcess) -> None:
    names = [unique(f"level{i}") for i in range(1, 7)]
    for depth in reversed(range(6)):  # children first, as GitOps may apply them
        spec: dict[str, Any] = {"parentRef": {"name": names[depth - 1]}} if depth else {}
        kube.apply(group(names[depth], **spec))
    for depth, name in enumerate(names[:5], start=1):
        assert wait_group_ready(kube, name)["depth"] == depth
    refused = wait_for(
        lambda: group_status(kube, names[5]).get("phase") == "Failed" and group_status(kube, names[5]),
        what="the sixth level refused",
    )
    assert condition(kube.get("vmgroup", names[5]), "Ready")["reason"] == "DepthExceeded"
    assert "at most 5" in condition(kube.get("vmgroup", names[5]), "Ready")["message"]
    assert refused.get("uuid") is None
    assert "at most 5" in assert_live_health(kube, "vmgroup", names[5], "Degraded", phase="Failed")["message"]
    assert_live_health(kube, "vmgroup", names[0], "Healthy", phase="Ready")
    assert names[5] not in {g["name"] for g in platform_groups(sim).values()}


def test_rename_and_move(kube: Kube, sim: SimProcess) -> None:
    a, b, child = unique("a"), unique("b"), unique("child")
    kube.apply(group(a))
    kube.apply(group(b))
    kube.apply(group(child, parentRef={"name": a}))
    child_uuid = wait_group_ready(kube, child)["uuid"]
    a_uuid, b_uuid = wait_group_ready(kube, a)["uuid"], wait_group_ready(kube, b)["uuid"]
    assert platform_groups(sim)[child_uuid]["parent"] == a_uuid
    kube.patch_spec("vmgroup", child, {"parentRef": {"name": b}, "name": "renamed-" + child})
    wait_for(
        lambda: platform_groups(sim)[child_uuid] == {"name": "renamed-" + child, "parent": b_uuid, "refs": 0},
        what="moved and renamed on the platform",
    )
    assert wait_group_ready(kube, child)["name"] == "renamed-" + child


def test_vm_waits_for_its_group_then_lands_in_it(kube: Kube, sim: SimProcess) -> None:
    team, vm = unique("team"), unique("in-group")
    kube.apply(manifest(vm, groupRef={"name": team}))
    wait_for(
        lambda: (condition(kube.get("virtualmachine", vm), "Synced") or {}).get("reason") == "GroupNotReady",
        what="VM waiting for its group",
    )
    waiting = assert_live_health(kube, "virtualmachine", vm, "Progressing")
    assert f"waiting for VmGroup {team}" in waiting["message"], waiting  # the reason, not a bare "waiting"
    kube.apply(group(team))
    group_uuid = wait_group_ready(kube, team)["uuid"]
    vm_uuid = wait_ready(kube, vm)["status"]["uuid"]
    assert sim.inspect(CLUSTER, TENANT, vm_uuid)["data"]["object_group"] == group_uuid


def test_delete_waits_while_vms_are_inside_and_children_exist(kube: Kube, sim: SimProcess) -> None:
    parent, child, vm = unique("holder"), unique("sub"), unique("tenant-vm")
    kube.apply(group(parent))
    kube.apply(group(child, parentRef={"name": parent}))
    child_uuid = wait_group_ready(kube, child)["uuid"]
    kube.apply(manifest(vm, groupRef={"name": child}, shutdownTimeoutSeconds=2))
    wait_ready(kube, vm)
    kube.delete("vmgroup", child)
    blocked = wait_for(lambda: group_status(kube, child).get("blockingVms"), what="blocking VMs listed")
    assert blocked == [vm]
    kube.delete("vmgroup", parent)
    wait_for(
        lambda: "child VmGroups" in (condition(kube.get("vmgroup", parent), "Synced") or {}).get("message", ""),
        what="parent waits for its child object",
    )
    assert child_uuid in platform_groups(sim)
    kube.delete("virtualmachine", vm)
    wait_gone(kube, vm)
    wait_for(
        lambda: kube.get("vmgroup", child) is None and kube.get("vmgroup", parent) is None,
        timeout=60,
        what="both groups deleted",
    )
    assert child_uuid not in platform_groups(sim)


def default_group(sim: SimProcess) -> str:
    return next(u for u, g in platform_groups(sim).items() if g["name"] == "default" and not g["parent"])


def test_default_takes_no_children_and_sibling_names_conflict(kube: Kube, sim: SimProcess) -> None:
    under_default = unique("under-default")
    kube.apply(group(under_default, parent=default_group(sim)))
    wait_for(
        lambda: (condition(kube.get("vmgroup", under_default), "Ready") or {}).get("reason") == "DefaultHasNoChildren",
        what="refused under default",
    )
    taken = unique("taken")
    created = sim.call("group/create", {"cluster_uuid": CLUSTER, "tenant": TENANT, "group_name": taken})
    kube.apply(group(clash := unique("clash"), name=taken))
    wait_for(lambda: any(g["status"].get("phase") == "Conflict" for g in _groups(kube)), what="name conflict")
    assert_live_health(kube, "vmgroup", clash, "Degraded", phase="Conflict")
    adopter = unique("adopter")
    kube.apply(group(adopter, name=taken, adopt={"uuid": created["data"]["Metadata"]["UUID"]}))
    assert wait_group_ready(kube, adopter)["uuid"] == created["data"]["Metadata"]["UUID"]
    kube.delete("vmgroup", adopter)
    wait_for(lambda: kube.get("vmgroup", adopter) is None, what="adopted group object deleted")
    assert created["data"]["Metadata"]["UUID"] in platform_groups(sim)  # adopted groups are never deleted


def _groups(kube: Kube) -> list[dict[str, Any]]:
    listed = kube.plane.kubectl("get", "vmgroups", "-n", kube.namespace, "-o", "json").stdout
    return [{"status": {}} | item for item in json.loads(listed)["items"]]


def test_parent_ref_cycles_wait_without_platform_calls(kube: Kube, sim: SimProcess) -> None:
    x, y = unique("x"), unique("y")
    before = sim.stats()["calls"].get("group/create", 0)
    kube.apply(group(x, parentRef={"name": y}))
    kube.apply(group(y, parentRef={"name": x}))
    for name in (x, y):
        wait_for(
            lambda name=name: (condition(kube.get("vmgroup", name), "Ready") or {}).get("reason") == "ParentCycle",
            what=f"{name} reports the cycle",
        )
        assert_live_health(kube, "vmgroup", name, "Degraded")
        assert "parentRef cycle" in warning_from_vmop(kube, name, "ParentCycle")["message"]
    assert sim.stats()["calls"].get("group/create", 0) == before


@pytest.mark.parametrize(
    "name", ["team\na", "team\tb", "team\u202ec", "team\x00d"], ids=["newline", "tab", "rlo", "nul"]
)
def test_group_names_with_control_characters_are_refused(kube: Kube, name: str) -> None:
    refused = kube.apply(group(unique("ctl"), name=name), check=False)
    assert refused.returncode != 0
    assert "spec.name" in refused.stderr
    assert "must not contain control characters" in refused.stderr
