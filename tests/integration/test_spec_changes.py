"""The fields the create sends (zone, type, cpu.baseline, meta.*), changed on a running VM against
the real apiserver, `vmop run` and `vmop sim`: each is applied at the next power cycle, refused by
the apiserver naming the field, or reported; never a silent "in sync" (api/treatment.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.integration.test_virtualmachine_lifecycle import (
    CLUSTER,
    TENANT,
    manifest,
    platform_vm,
    status,
    unique,
    wait_ready,
)
from tests.support.processes import Kube, SimProcess, condition, wait_for
from tests.support.simulation import ZONE

from vmop.dev.controlplane import ControlPlane

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("operator")]

OTHER_CLUSTER_ZONE = "a6f8ad4a-3fdf-4cf6-8fda-90a8093f5316"  # the seed's zone of another cluster
OPTIONS = {"meta": {"vnc": True, "nestedVirtualization": True, "panicModel": "none", "memorySecurity": True}}
OPTION_FIELDS = {"cpu.baseline", "meta.vnc", "meta.nestedVirtualization", "meta.panicModel", "meta.memorySecurity"}


def pending(kube: Kube, name: str, fields: set[str]) -> dict[str, Any]:
    """The object once RestartRequired=True lists at least ``fields`` as pending."""

    def listed() -> dict[str, Any] | None:
        found = kube.get("virtualmachine", name)
        required = condition(found, "RestartRequired") or {}
        waiting = set((found or {}).get("status", {}).get("pendingChanges") or [])
        return found if required.get("status") == "True" and fields <= waiting else None

    return wait_for(listed, timeout=40, what=f"{sorted(fields)} pending on {name}")


def options_on_platform(vm: dict[str, Any]) -> tuple[Any, ...]:
    return (vm["baseline"], vm["vnc_enable"], vm["virt_nested_enable"], vm["panic"], vm["mem_sec_enabled"])


def test_options_changed_on_a_running_vm_wait_for_the_next_power_cycle(kube: Kube, sim: SimProcess) -> None:
    name = unique("options")
    kube.apply(manifest(name))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    before = options_on_platform(platform_vm(sim, uuid_))
    assert before == ("", False, False, "on", False)
    kube.patch_spec("virtualmachine", name, {"cpu": {"baseline": "Skylake"}, **OPTIONS})
    found = pending(kube, name, OPTION_FIELDS)
    synced = condition(found, "Synced") or {}
    assert synced.get("reason") == "PendingPowerCycle" and "in sync" not in synced.get("message", ""), synced
    for field in OPTION_FIELDS:
        assert field in synced["message"], synced
    assert options_on_platform(platform_vm(sim, uuid_)) == before  # nothing sent to a running VM
    kube.patch_spec("virtualmachine", name, {"powerState": "Stopped", "shutdownTimeoutSeconds": 30})
    wanted = ("Skylake", True, True, "off", True)
    wait_for(lambda: options_on_platform(platform_vm(sim, uuid_)) == wanted, timeout=40, what="options set when off")
    kube.patch_spec("virtualmachine", name, {"powerState": "Running"})
    found = wait_ready(kube, name)
    assert (condition(found, "RestartRequired") or {}).get("status") == "False"
    assert not found["status"].get("pendingChanges")


def _refused(control_plane: ControlPlane, kube: Kube, name: str, spec: dict[str, Any]) -> str:
    done = control_plane.kubectl(
        "patch",
        "virtualmachine",
        name,
        "-n",
        kube.namespace,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": spec}),
        check=False,
    )
    assert done.returncode != 0, done.stdout
    return done.stderr


def test_zone_and_type_changes_are_refused_by_the_apiserver_naming_the_field(
    kube: Kube, sim: SimProcess, control_plane: ControlPlane
) -> None:
    name = unique("immutable")
    kube.apply(manifest(name, zone=ZONE))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    zone = _refused(control_plane, kube, name, {"zone": OTHER_CLUSTER_ZONE})
    assert "spec.zone" in zone and "zone is immutable" in zone, zone
    kind = _refused(control_plane, kube, name, {"type": "VDI"})
    assert "spec.type" in kind and "type is immutable" in kind, kind
    vm = platform_vm(sim, uuid_)
    assert (vm["zone"], vm["type"]) == (ZONE, "GUS")
    assert kube.get("virtualmachine", name)["spec"]["zone"] == ZONE


def test_a_zone_set_later_that_the_vm_is_not_in_is_reported(kube: Kube, sim: SimProcess) -> None:
    name = unique("zone")
    kube.apply(manifest(name))  # no zone: the platform puts it in its cluster's
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    assert platform_vm(sim, uuid_)["zone"] == ZONE
    kube.patch_spec("virtualmachine", name, {"zone": OTHER_CLUSTER_ZONE})  # adding is no change: CEL lets it in

    def reported() -> dict[str, Any] | None:
        synced = condition(kube.get("virtualmachine", name), "Synced") or {}
        return synced if synced.get("reason") == "UnsupportedChange" else None

    synced = wait_for(reported, timeout=40, what="UnsupportedChange for zone")
    assert synced["status"] == "False" and synced["message"].startswith("zone: "), synced
    assert ZONE in synced["message"] and OTHER_CLUSTER_ZONE in synced["message"]


def test_options_changed_behind_vmops_back_are_drift(kube: Kube, sim: SimProcess) -> None:
    """virt_nested_enable shows in the list: found at the next resync. vnc_enable only in the
    details: found when they are read (here, a reconcile request)."""
    name = unique("optdrift")
    kube.apply(manifest(name, meta={"vnc": True, "nestedVirtualization": True}))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    vm = platform_vm(sim, uuid_)
    assert (vm["vnc_enable"], vm["virt_nested_enable"]) == (True, True)
    ident = {"cluster_uuid": CLUSTER, "tenant": TENANT, "compute_uuid": uuid_}
    assert sim.call("meta/set", {**ident, "virt_nested_enable": False})["scode"] == 0
    pending(kube, name, {"meta.nestedVirtualization"})
    assert sim.call("meta/set", {**ident, "meta": {"vnc_enable": False}})["scode"] == 0
    kube.annotate("virtualmachine", name, **{"vmop.io/reconcile-request": "vnc-drift"})
    found = pending(kube, name, {"meta.nestedVirtualization", "meta.vnc"})
    assert "in sync" not in (condition(found, "Synced") or {}).get("message", "")
    assert status(kube, name)["phase"] == "Running"
