"""VirtualMachine against the real apiserver, `vmop run` and `vmop sim`: create, resize, power,
delete, adopt, drift, platform errors, and a crash right after the create call."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.argocd import assert_live_health
from tests.support.processes import Kube, OperatorProcess, SimProcess, condition, metric, wait_for

from vmop.dev.controlplane import ControlPlane

pytestmark = pytest.mark.integration

CLUSTER = "c27a25bc-5da2-430f-bfaf-6c8d33f21128"
TENANT = "a5badacf-a25c-4171-9aff-b619fc2d300a"
POOL = "42b3e3b6-b1d1-44c0-bf5c-b9cf73d594df"
PORT_GROUP = "239223b4-d21b-4b23-954f-796f17c75c49"
GIB = 1024**3


def manifest(name: str, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "cluster": CLUSTER,
        "tenant": TENANT,
        "cpu": {"sockets": 1, "cores": 2},
        "memory": "2Gi",
        "disks": [{"name": "root", "bus": "scsi", "size": "10Gi", "pool": POOL}],
        "interfaces": [{"name": "eth0", "network": "ycb123", "portGroup": PORT_GROUP}],
    }
    return {"apiVersion": "vmop.io/v1alpha1", "kind": "VirtualMachine", "metadata": {"name": name}, "spec": base | spec}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def status(kube: Kube, name: str) -> dict[str, Any]:
    found = kube.get("virtualmachine", name)
    return (found or {}).get("status") or {}


def wait_ready(kube: Kube, name: str, timeout: float = 40) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        found = kube.get("virtualmachine", name)
        ready_condition = condition(found, "Ready")
        if (
            found
            and ready_condition
            and ready_condition["status"] == "True"
            and found["status"].get("observedGeneration") == found["metadata"]["generation"]
        ):
            return found
        return None

    return wait_for(ready, timeout=timeout, what=f"{name} Ready")


def warning_from_vmop(kube: Kube, name: str, reason: str) -> dict[str, Any]:
    """The Warning Event of ``reason`` about ``name``, once posted, signed by vmop (not kopf)."""

    def posted() -> dict[str, Any] | None:
        found = [e for e in kube.events(name) if (e["type"], e["reason"]) == ("Warning", reason)]
        return found[0] if found else None

    event = wait_for(posted, what=f"Warning {reason} on {name}")
    assert (event["source"]["component"], event["reportingComponent"]) == ("vmop", "vmop"), event
    return event


def stop_calls(sim: SimProcess) -> dict[str, int]:
    """How many shutdown and shutoff calls (single and batch) the platform has had."""
    made = sim.stats()["calls"]
    return {e: int(made.get(e, 0)) for e in ("shutdown", "batch_shutdown", "shutoff", "batch_shutoff")}


def platform_vm(sim: SimProcess, uuid_: str) -> dict[str, Any]:
    answer = sim.inspect(CLUSTER, TENANT, uuid_)
    assert answer["scode"] == 0, answer
    data: dict[str, Any] = answer["data"]
    return data


def wait_gone(kube: Kube, name: str, timeout: float = 40) -> None:
    wait_for(lambda: kube.get("virtualmachine", name) is None, timeout=timeout, what=f"{name} deleted")


@pytest.mark.profiles
@pytest.mark.usefixtures("operator")
def test_apply_makes_a_running_vm_in_the_declared_shape(
    kube: Kube, sim: SimProcess, control_plane: ControlPlane
) -> None:
    name = unique("shape")
    kube.apply(manifest(name, cpu={"sockets": 2, "cores": 2, "current": 3}, memory="4Gi"))
    control_plane.kubectl(
        "wait", "--for=condition=Ready", f"virtualmachine/{name}", "-n", kube.namespace, "--timeout=60s"
    )
    found = status(kube, name)
    vm = platform_vm(sim, found["uuid"])
    assert (vm["state"], vm["cpu_sockets"], vm["cpu_socket_cores"], vm["cpu_current"]) == ("running", 2, 2, 3)
    assert vm["mem_size"] == 4 * GIB
    assert [d["disk_target_bus"] for d in vm["disks"]] == ["scsi"]
    assert vm["interfaces"][0]["port_group"] == PORT_GROUP
    assert found["phase"] == "Running"
    assert_live_health(kube, "virtualmachine", name, "Healthy", phase="Running")
    assert found["macs"] == [vm["interfaces"][0]["mac_address"]]
    metadata = kube.get("virtualmachine", name)["metadata"]
    assert metadata["finalizers"] == ["vmop.io/finalizer"] and "vmop.io/create-pending" in metadata["annotations"]
    printed = control_plane.kubectl("get", "vm", name, "-n", kube.namespace).stdout
    assert "Running" in printed
    assert "4Gi" in printed


@pytest.mark.usefixtures("operator")
def test_hot_resize_applies_while_running(kube: Kube, sim: SimProcess) -> None:
    name = unique("hot")
    kube.apply(manifest(name, cpu={"sockets": 1, "cores": 4, "current": 1}))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    kube.patch_spec("virtualmachine", name, {"cpu": {"sockets": 1, "cores": 4, "current": 3}, "memory": "3Gi"})
    wait_for(
        lambda: platform_vm(sim, uuid_)["cpu_current"] == 3 and platform_vm(sim, uuid_)["mem_size"] == 3 * GIB,
        what="hot-added cpu and memory",
    )
    found = wait_ready(kube, name)
    assert condition(found, "RestartRequired")["status"] == "False"
    assert platform_vm(sim, uuid_)["state"] == "running"


@pytest.mark.usefixtures("operator")
def test_cold_changes_wait_for_the_next_power_cycle(kube: Kube, sim: SimProcess) -> None:
    name = unique("cold")
    kube.apply(manifest(name))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    kube.patch_spec("virtualmachine", name, {"cpu": {"sockets": 2, "cores": 1}, "memory": "1Gi"})

    def restart_required() -> dict[str, Any] | None:
        found = kube.get("virtualmachine", name)
        required = condition(found, "RestartRequired")
        return found if required and required["status"] == "True" else None

    found = wait_for(restart_required, what="RestartRequired")
    assert found["status"]["pendingChanges"] == ["cpu.topology", "memory"]  # every deferred field
    assert platform_vm(sim, uuid_)["cpu_sockets"] == 1
    kube.patch_spec("virtualmachine", name, {"powerState": "Stopped", "shutdownTimeoutSeconds": 30})
    wait_for(lambda: platform_vm(sim, uuid_)["cpu_sockets"] == 2, timeout=40, what="cold change applied when off")
    assert platform_vm(sim, uuid_)["mem_size"] == GIB
    kube.patch_spec("virtualmachine", name, {"powerState": "Running"})
    found = wait_ready(kube, name)
    assert condition(found, "RestartRequired")["status"] == "False"
    assert not found["status"].get("pendingChanges")


@pytest.mark.usefixtures("operator")
def test_update_policy_restart_restarts_to_apply(kube: Kube, sim: SimProcess) -> None:
    name = unique("restart")
    kube.apply(manifest(name, updatePolicy="Restart", shutdownTimeoutSeconds=30))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    kube.patch_spec("virtualmachine", name, {"cpu": {"sockets": 1, "cores": 3}})
    wait_for(lambda: platform_vm(sim, uuid_)["cpu_socket_cores"] == 3, timeout=40, what="restart applied cores")
    wait_for(lambda: platform_vm(sim, uuid_)["state"] == "running", timeout=30, what="running again")
    wait_ready(kube, name)


@pytest.mark.profiles
@pytest.mark.usefixtures("operator")
def test_power_states_round_trip(kube: Kube, sim: SimProcess) -> None:
    name = unique("power")
    kube.apply(manifest(name, shutdownTimeoutSeconds=30))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    expected = {
        "Suspended": ("paused", "noaction"),
        "Running": ("running", "noaction"),
        "Hibernated": sim.dialect.hibernated,  # either reading of 休眠: restored, never started
        "Stopped": ("shutoff", "noaction"),
    }
    for power in ("Suspended", "Running", "Hibernated", "Running", "Stopped", "Running"):
        kube.patch_spec("virtualmachine", name, {"powerState": power})
        found = wait_ready(kube, name)
        vm = platform_vm(sim, uuid_)
        assert (vm["state"], vm["action"]) == expected[power], power
        assert found["status"]["phase"] == power
        assert_live_health(kube, "virtualmachine", name, "Healthy", phase=power)


@pytest.mark.profiles
@pytest.mark.usefixtures("operator")
@pytest.mark.parametrize(
    ("policy", "mode", "remains"),
    [("Delete", "Permanent", False), ("Retain", "Permanent", True), ("Delete", "Trash", False)],
)
def test_delete_by_policy(kube: Kube, sim: SimProcess, policy: str, mode: str, remains: bool) -> None:
    name = unique(f"del-{policy.lower()}-{mode.lower()}")
    kube.apply(manifest(name, deletionPolicy=policy, deleteMode=mode, shutdownTimeoutSeconds=5))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    kube.delete("virtualmachine", name)
    wait_gone(kube, name)
    assert (sim.inspect(CLUSTER, TENANT, uuid_)["scode"] == 0) is remains
    trashed = sim.call("inspect", cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=uuid_, include_trash_vm="true")
    assert (trashed["scode"] == 0) is (remains or mode == "Trash")
    if policy == "Delete" and mode == "Permanent":
        assert not [v for v in sim.volumes() if v["vm_uuid"] == uuid_]


@pytest.mark.usefixtures("operator")
def test_deleting_a_running_vm_waits_for_its_stop_without_writing_to_the_object(
    kube: Kube, sim: SimProcess, tmp_path: Path
) -> None:
    """The guest's stop is waited for within one handler call, without writes: the object changes
    once (the deletion asked) and goes, rather than once more per retry."""
    name = unique("del-writes")
    kube.apply(manifest(name))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    kubectl = str(kube.plane.binaries.path("kubectl"))
    command = [kubectl, "get", "virtualmachine", name, "-n", kube.namespace, "--watch", "--output-watch-events"]
    printed = tmp_path / "watch.json"
    with printed.open("w") as out:
        watch = subprocess.Popen([*command, "-o", "json"], stdout=out, text=True, env=kube.plane.env())
    try:

        def types() -> list[str]:
            return [event["type"] for event in _json_documents(printed.read_text())]

        wait_for(lambda: bool(types()), what="the watch's first event: the object as it is")
        kube.delete("virtualmachine", name)
        wait_gone(kube, name)
        wait_for(lambda: "DELETED" in types(), what="the watch saw the object go")
    finally:
        watch.terminate()
        watch.wait(timeout=10)
    events = _json_documents(printed.read_text())
    assert [e["type"] for e in events][-1] == "DELETED", [e["type"] for e in events]
    # After the deletion was asked: the request itself, and no other change (the finalizer's
    # release deletes the object: no MODIFIED for it).
    deleting = [
        e["object"] for e in events if e["type"] == "MODIFIED" and e["object"]["metadata"].get("deletionTimestamp")
    ]
    assert len(deleting) == 1, [m["status"].get("phase") for m in deleting]
    assert sim.inspect(CLUSTER, TENANT, uuid_)["scode"] != 0


@pytest.mark.usefixtures("operator")
def test_a_guest_ignoring_the_shutdown_is_shut_off_after_its_timeout_then_deleted(kube: Kube, sim: SimProcess) -> None:
    """Within the handler's wait, the shutdown is asked once and remembered: after
    shutdownTimeoutSeconds the VM is shut off hard, then deleted."""
    name = unique("del-stubborn")
    kube.apply(manifest(name, shutdownTimeoutSeconds=4))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    # Booted: a graceful shutdown needs the guest agent (without it vmop shuts off at once).
    wait_for(lambda: status(kube, name).get("agent") == "connected", what="guest agent connected")

    before = stop_calls(sim)
    sim.faults(guest_ignores_shutdown=True)
    try:
        started = time.monotonic()
        kube.delete("virtualmachine", name)
        wait_gone(kube, name)
        took = time.monotonic() - started
    finally:
        sim.faults()
    made = {e: n - before[e] for e, n in stop_calls(sim).items()}
    assert took >= 4, (took, made)
    assert made["shutdown"] + made["batch_shutdown"] == 1, made
    assert made["shutoff"] + made["batch_shutoff"] == 1, made
    assert sim.inspect(CLUSTER, TENANT, uuid_)["scode"] != 0


@pytest.mark.usefixtures("operator")
def test_a_refused_graceful_shutdown_at_deletion_is_asked_again(kube: Kube, sim: SimProcess) -> None:
    """The platform refuses the first shutdown (its guest agent seemed away): vmop asks again
    rather than waiting out shutdownTimeoutSeconds for a shutdown never sent and then powering
    off hard. The deletion takes about one shutdown, not the timeout."""
    name = unique("del-refused")
    kube.apply(manifest(name, deletionPolicy="Delete", shutdownTimeoutSeconds=60))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    wait_for(lambda: status(kube, name).get("agent") == "connected", what="guest agent connected")

    before = stop_calls(sim)
    sim.faults(forced_scode={"shutdown": sim.dialect.agent_scode}, forced_scode_calls={"shutdown": 1})
    try:
        started = time.monotonic()
        kube.delete("virtualmachine", name)
        wait_gone(kube, name, timeout=60)
        took = time.monotonic() - started
    finally:
        sim.faults()
    made = {e: n - before[e] for e, n in stop_calls(sim).items()}
    assert took < 30, (took, made)
    assert (made["shutdown"], made["batch_shutdown"]) == (2, 0), made  # refused, then accepted
    assert made["shutoff"] + made["batch_shutoff"] == 0, made
    assert sim.inspect(CLUSTER, TENANT, uuid_)["scode"] != 0


def _json_documents(text: str) -> list[dict[str, Any]]:
    """kubectl --watch -o json prints one pretty-printed object after another (the last one may
    still be half written)."""
    decoder, documents, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return documents
        try:
            document, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            return documents
        documents.append(document)


def create_on_platform(sim: SimProcess, name: str, **config: Any) -> str:
    """A VM made behind vmop's back (one vCPU, 1 GiB, no disk unless ``config`` says)."""
    answer = sim.call(
        "unified_create",
        {
            "cluster_uuid": CLUSTER,
            "tenant": TENANT,
            "meta": {"compute_name": name},
            "cpu_sockets": 1,
            "cpu_socket_cores": 1,
            "mem_size": GIB,
            "disks": [],
        }
        | config,
    )
    item = answer["data"]["results"][0]
    assert item["scode"] == 0, answer
    vm_uuid: str = item["data"]["vm_uuid"]
    return vm_uuid


@pytest.mark.usefixtures("operator")
def test_adopt_existing_vm_and_observe_only(kube: Kube, sim: SimProcess) -> None:
    adopted = create_on_platform(sim, unique("legacy"))
    name = unique("adopt")
    kube.apply(
        manifest(name, adopt={"uuid": adopted}, disks=[], interfaces=[], cpu={"sockets": 1, "cores": 1}, memory="1Gi")
    )
    found = wait_ready(kube, name)
    assert found["status"]["uuid"] == adopted
    assert platform_vm(sim, adopted)["state"] == "running"  # adopted and brought to spec (started)
    watched = create_on_platform(sim, unique("watched"))
    observer = unique("observe")
    kube.apply(manifest(observer, adopt={"uuid": watched, "observeOnly": True}, disks=[], interfaces=[]))
    wait_for(lambda: status(kube, observer).get("uuid") == watched, what="observed uuid")
    assert status(kube, observer)["state"] == "shutoff"
    assert platform_vm(sim, watched)["state"] == "shutoff"  # never started: observe-only
    kube.delete("virtualmachine", observer)
    wait_gone(kube, observer)
    assert sim.inspect(CLUSTER, TENANT, watched)["scode"] == 0  # never deleted either


@pytest.mark.usefixtures("operator")
def test_a_name_taken_on_the_platform_is_a_conflict(kube: Kube, sim: SimProcess) -> None:
    name = unique("taken")
    existing = create_on_platform(sim, name)
    kube.apply(manifest(name))
    wait_for(lambda: status(kube, name).get("phase") == "Conflict", what="Conflict phase")
    assert existing in condition(kube.get("virtualmachine", name), "Synced")["message"]
    assert existing in assert_live_health(kube, "virtualmachine", name, "Degraded", phase="Conflict")["message"]
    assert existing in warning_from_vmop(kube, name, "NameConflict")["message"]
    assert len(sim.vms(CLUSTER, TENANT, filter_name=name)) == 1
    printed = kube.plane.kubectl("get", "vm", name, "-n", kube.namespace).stdout.splitlines()
    assert printed[0].split()[-2:] == ["SYNCED", "AGE"] and printed[1].split()[-2] == "False", printed


@pytest.mark.usefixtures("operator")
def test_an_unsupported_change_is_reported_not_dropped(kube: Kube, sim: SimProcess) -> None:
    name = unique("bus")
    kube.apply(manifest(name))
    wait_ready(kube, name)
    kube.patch_spec(
        "virtualmachine", name, {"disks": [{"name": "root", "bus": "virtio", "size": "10Gi", "pool": POOL}]}
    )

    def reported() -> dict[str, Any] | None:
        synced = condition(kube.get("virtualmachine", name), "Synced") or {}
        return synced if synced.get("reason") == "UnsupportedChange" else None

    synced = wait_for(reported, what="UnsupportedChange")
    assert (synced["status"], "bus scsi -> virtio" in synced["message"]) == ("False", True), synced
    assert "bus scsi -> virtio" in warning_from_vmop(kube, name, "UnsupportedChange")["message"]


@pytest.mark.profiles
@pytest.mark.usefixtures("operator")
def test_out_of_band_power_off_and_deletion_are_corrected(kube: Kube, sim: SimProcess) -> None:
    name = unique("drift")
    kube.apply(manifest(name))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    assert sim.call("shutoff", {"cluster_uuid": CLUSTER, "tenant": TENANT, "compute_uuid": uuid_})["scode"] == 0
    wait_for(lambda: platform_vm(sim, uuid_)["state"] == "running", timeout=30, what="power drift corrected")
    sim.call(
        "delete",
        {
            "cluster_uuid": CLUSTER,
            "tenant": TENANT,
            "compute_uuid": uuid_,
            "real_delete": True,
            "is_delete_volumes": True,
        },
    )
    # vmop created this VM minutes ago: a second create waits for a person (the duplicate guard).
    guarded = wait_for(
        lambda: (c := condition(kube.get("virtualmachine", name), "Synced")) and c["reason"] == "DuplicateGuard" and c,
        timeout=30,
        what="the duplicate guard",
    )
    assert f"vmop.io/confirm-recreate={uuid_}" in guarded["message"]
    warning_from_vmop(kube, name, "Lost")  # seen missing: said once, in an Event as well
    assert f"vmop.io/confirm-recreate={uuid_}" in warning_from_vmop(kube, name, "DuplicateGuard")["message"]
    creates = sim.stats()["calls"].get("unified_create", 0)
    time.sleep(3)  # more than a resync: still no create without the person's word
    assert sim.stats()["calls"].get("unified_create", 0) == creates
    kube.annotate("virtualmachine", name, **{"vmop.io/confirm-recreate": uuid_})
    recreated = wait_for(
        lambda: (s := status(kube, name)).get("uuid") not in (None, uuid_) and s, timeout=30, what="recreated VM"
    )
    assert platform_vm(sim, recreated["uuid"])["name"] == name
    assert sim.stats()["calls"].get("unified_create", 0) == creates + 1
    lost = unique("lost")
    kube.apply(manifest(lost, recreateOnLoss=False))
    lost_uuid = wait_ready(kube, lost)["status"]["uuid"]
    sim.call("delete", {"cluster_uuid": CLUSTER, "tenant": TENANT, "compute_uuid": lost_uuid, "real_delete": True})
    missing = wait_for(lambda: (s := status(kube, lost)).get("phase") == "Lost" and s, timeout=30, what="Lost phase")
    # Nothing runs to report: no state, host or IP from the last observation (docs/operations.md).
    assert [missing.get(k) for k in ("state", "host", "ips")] == [None, None, None], missing
    assert missing["uuid"] == lost_uuid
    warning_from_vmop(kube, lost, "Lost")
    assert_live_health(kube, "virtualmachine", lost, "Degraded", phase="Lost")


@pytest.mark.profiles
@pytest.mark.usefixtures("operator")
def test_platform_error_shows_in_status_and_events_then_recovers(kube: Kube, sim: SimProcess) -> None:
    sim.faults(forced_scode={"start": 20926})
    name = unique("scode")
    try:
        kube.apply(manifest(name))

        def failed() -> dict[str, Any] | None:
            error = status(kube, name).get("lastError")
            return error if error and error["scode"] == 20926 else None

        error = wait_for(failed, what="lastError 20926")
        assert (error["operation"], error["messageCn"]) == ("/v1/compute/start", "主机不满足CPU超分配限制")
        synced = condition(kube.get("virtualmachine", name), "Synced")
        assert synced["status"] == "False"
        assert synced["reason"] == "ComputeError"
        assert "20926" in synced["message"]
        assert "20926" in assert_live_health(kube, "virtualmachine", name, "Degraded")["message"]
        warnings = wait_for(lambda: [e for e in kube.events(name) if e["type"] == "Warning"], what="Warning event")
        assert "20926" in warnings[0]["message"]
    finally:
        sim.faults()
    found = wait_ready(kube, name, timeout=60)
    assert "lastError" not in found["status"] or found["status"]["lastError"] is None
    assert len(sim.vms(CLUSTER, TENANT, filter_name=name)) == 1


@pytest.mark.usefixtures("operator")
def test_pause_and_reconcile_request(kube: Kube, sim: SimProcess) -> None:
    name = unique("pause")
    kube.apply(manifest(name))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    kube.annotate("virtualmachine", name, **{"vmop.io/paused": "true"})
    wait_for(
        lambda: (condition(kube.get("virtualmachine", name), "Synced") or {}).get("reason") == "ReconcilePaused",
        what="paused condition",
    )
    kube.patch_spec("virtualmachine", name, {"powerState": "Stopped"})
    assert_live_health(kube, "virtualmachine", name, "Suspended")
    assert platform_vm(sim, uuid_)["state"] == "running"
    kube.annotate("virtualmachine", name, **{"vmop.io/paused": "false", "vmop.io/reconcile-request": "now-1"})
    wait_for(lambda: platform_vm(sim, uuid_)["state"] == "shutoff", timeout=40, what="reconciled after unpause")
    wait_for(lambda: status(kube, name).get("reconcileRequested") == "now-1", what="echoed reconcile request")


@pytest.mark.usefixtures("operator")
def test_deleting_a_paused_vm_releases_it_and_leaves_the_vm(kube: Kube, sim: SimProcess) -> None:
    """Paused means no platform calls, deletion included: even under deletionPolicy Delete the
    VM stays, and a Warning Event says so (docs/operations.md)."""
    name = unique("paused-delete")
    kube.apply(manifest(name, deletionPolicy="Delete"))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    kube.annotate("virtualmachine", name, **{"vmop.io/paused": "true"})
    wait_for(
        lambda: (condition(kube.get("virtualmachine", name), "Synced") or {}).get("reason") == "ReconcilePaused",
        what="paused condition",
    )
    kube.delete("virtualmachine", name)
    wait_gone(kube, name)
    assert platform_vm(sim, uuid_)["state"] == "running"  # untouched
    released = warning_from_vmop(kube, name, "Released")["message"]
    assert "deleted while paused" in released and uuid_ in released and "deletionPolicy Delete" in released


@pytest.mark.usefixtures("operator")
def test_force_release_annotation_frees_a_stuck_finalizer(kube: Kube, sim: SimProcess) -> None:
    name = unique("stuck")
    kube.apply(manifest(name, powerState="Stopped"))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    sim.faults(forced_scode={"delete": 10001})
    try:
        kube.delete("virtualmachine", name)
        wait_for(
            lambda: (condition(kube.get("virtualmachine", name), "Synced") or {}).get("reason") == "ComputeError",
            what="delete failure shown",
        )
        assert kube.get("virtualmachine", name) is not None
        kube.annotate("virtualmachine", name, **{"vmop.io/force-release": "true"})
        wait_gone(kube, name)
    finally:
        sim.faults()
    assert sim.inspect(CLUSTER, TENANT, uuid_)["scode"] == 0  # released without touching the platform


def test_killed_right_after_the_create_call_makes_exactly_one_vm(
    control_plane: ControlPlane,
    sim: SimProcess,
    namespace: str,
    kube: Kube,
    logs: Any,
    operator: OperatorProcess,
) -> None:
    name = unique("crash")
    sim.faults(response_delay_ms={"unified_create": 8000})  # the VM exists; its uuid is not back yet
    kube.apply(manifest(name))
    wait_for(lambda: sim.vms(CLUSTER, TENANT, filter_name=name), timeout=30, what="the VM on the platform")
    # A create not answered within a second shows as under way.
    pending = wait_for(
        lambda: (o := kube.get("virtualmachine", name)) and (o.get("status") or {}).get("phase") == "Creating" and o,
        timeout=10,
        what="phase Creating",
    )
    assert pending["status"]["createPendingSince"] and not pending["status"].get("uuid")
    assert pending["metadata"]["annotations"]["vmop.io/create-pending"]
    operator.kill()
    sim.faults()
    operator.start()
    found = wait_ready(kube, name, timeout=60)
    made = sim.vms(CLUSTER, TENANT, filter_name=name)
    assert [vm["uuid"] for vm in made] == [found["status"]["uuid"]]
    assert found["status"].get("createPendingSince") is None


def test_objects_without_a_platform_vm_delete_without_the_platform(
    control_plane: ControlPlane,
    namespace: str,
    kube: Kube,
    logs: Any,
    operator: OperatorProcess,
) -> None:
    name = unique("orphan")
    operator.kill()
    try:
        # an operator whose platform is unreachable: the create never happens
        broken = OperatorProcess(control_plane, "http://127.0.0.1:9", logs, [namespace]).start()
        kube.apply(manifest(name))
        wait_for(
            lambda: (condition(kube.get("virtualmachine", name), "Synced") or {}).get("status") == "False",
            timeout=40,
            what="unreachable platform reported",
        )
        error = status(kube, name).get("lastError", {})
        # No scode the platform never sent: the transport's own words instead.
        assert error.get("scode") is None and error["message"] == "platform unreachable: ConnectError", error
        kube.delete("virtualmachine", name)
        wait_gone(kube, name)
        broken.stop()
    finally:
        operator.start()
    assert json.dumps(kube.get("virtualmachine", name)) == "null"


def test_metrics_count_reconciles_calls_and_phases(kube: Kube, operator: OperatorProcess) -> None:
    name = unique("metered")
    kube.apply(manifest(name))
    wait_ready(kube, name)

    def scrape() -> str:
        return httpx.get(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5).text

    def running_counted() -> str | None:
        text = scrape()
        return text if metric(text, "vmop_objects", kind="VirtualMachine", phase="Running") else None

    text = wait_for(running_counted, what="phase gauge")
    assert metric(text, "vmop_reconciles_total", kind="VirtualMachine", result="success") >= 1
    assert metric(text, "vmop_compute_requests_total", endpoint="unified_create", scode="0") >= 1
    assert metric(text, "vmop_compute_request_duration_seconds_count", endpoint="start") >= 1


@pytest.mark.usefixtures("operator")
def test_nics_and_disks_added_later_are_attached_once_and_detached_when_removed(kube: Kube, sim: SimProcess) -> None:
    name = unique("devices")
    kube.apply(manifest(name))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    volume = httpx.post(
        f"{sim.url}/sim/volumes",
        json={"uuid": str(uuid.uuid4()), "name": "data", "pool_uuid": POOL, "capacity": GIB, "cluster_uuid": CLUSTER},
    ).json()["uuid"]
    nics = [
        {"name": "eth0", "network": "ycb123", "portGroup": PORT_GROUP},
        {"name": "eth1", "network": "ycb123", "portGroup": PORT_GROUP},
    ]
    disks = [
        {"name": "root", "bus": "scsi", "size": "10Gi", "pool": POOL},
        {"name": "data", "bus": "scsi", "volume": volume},
    ]
    kube.patch_spec("virtualmachine", name, {"interfaces": nics, "disks": disks})
    wait_for(
        lambda: len(platform_vm(sim, uuid_)["interfaces"]) == 2 and len(platform_vm(sim, uuid_)["disks"]) == 2,
        what="NIC and disk attached",
    )
    kube.annotate("virtualmachine", name, **{"vmop.io/reconcile-request": "again"})
    wait_for(lambda: status(kube, name).get("reconcileRequested") == "again", what="another full pass")
    assert len(platform_vm(sim, uuid_)["interfaces"]) == 2  # attached once, not on every pass
    kube.patch_spec("virtualmachine", name, {"interfaces": nics[:1], "disks": disks[:1]})
    wait_for(
        lambda: len(platform_vm(sim, uuid_)["interfaces"]) == 1 and len(platform_vm(sim, uuid_)["disks"]) == 1,
        what="NIC and scsi disk detached while running",
    )
    assert [v["vm_uuid"] for v in sim.volumes() if v["uuid"] == volume] == [""]


@pytest.mark.usefixtures("operator")
def test_template_clone_reports_progress_then_runs(kube: Kube, sim: SimProcess) -> None:
    timings = httpx.get(f"{sim.url}/sim/timings", timeout=5).json()
    httpx.put(f"{sim.url}/sim/timings", json=timings | {"clone": 8.0}, timeout=5).raise_for_status()
    try:
        name = unique("cloned")
        kube.apply(manifest(name, template={"uuid": "d2c90a85-21c7-43c6-a9db-ad50eab6362c"}, disks=[]))
        progress = wait_for(
            lambda: (status(kube, name).get("progress") or {}).get("percent"),
            timeout=30,
            what="clone progress in status",
        )
        assert 0 < progress < 100
        assert status(kube, name)["phase"] == "Provisioning"
        found = wait_ready(kube, name, timeout=60)
        assert found["status"].get("progress") is None
        assert found["status"]["phase"] == "Running"
    finally:
        httpx.put(f"{sim.url}/sim/timings", json=timings, timeout=5)


@pytest.mark.usefixtures("operator")
def test_image_import_reports_progress_then_runs(kube: Kube, sim: SimProcess) -> None:
    timings = httpx.get(f"{sim.url}/sim/timings", timeout=5).json()
    httpx.put(f"{sim.url}/sim/timings", json=timings | {"clone": 8.0}, timeout=5).raise_for_status()
    try:
        name = unique("imported")
        image = {"uuid": "caf1c032-8812-430f-98c3-f2117e3affe0", "repository": "15dd8b65-d4be-434f-92f9-88d13264e4f6"}
        kube.apply(
            manifest(name, disks=[{"name": "root", "bus": "virtio", "size": "10Gi", "pool": POOL, "image": image}])
        )
        progress = wait_for(lambda: status(kube, name).get("progress"), timeout=30, what="import progress")
        assert progress["operation"] == "import"
        found = wait_ready(kube, name, timeout=60)
        assert found["status"].get("progress") is None
        assert sim.stats()["calls"].get("unified_import", 0) >= 1
    finally:
        httpx.put(f"{sim.url}/sim/timings", json=timings, timeout=5)
