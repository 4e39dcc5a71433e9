"""Status that neither lags nor runs ahead, against the real apiserver, `vmop run` and `vmop sim`.
The operator here resyncs every 300 s, far longer than any test: what status shows comes from the
pass that made it (a create in flight, a hot change, a migration's hand-over), never from a resync."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_virtualmachine_lifecycle import manifest, platform_vm, status, unique, wait_ready
from tests.integration.test_vmmigration import HOSTS, migration_manifest, wait_phase
from tests.support.argocd import assert_live_health
from tests.support.processes import Kube, OperatorProcess, SimProcess, condition, wait_for

from vmop.dev.controlplane import ControlPlane

pytestmark = pytest.mark.integration

RESYNC_SECONDS = "300"


@pytest.fixture(scope="module")
def operator(
    control_plane: ControlPlane, sim: SimProcess, namespace: str, logs: Path, least_privilege: Path
) -> Iterator[OperatorProcess]:
    extra = ["--resync-seconds", RESYNC_SECONDS]
    process = OperatorProcess(control_plane, sim.url, logs, [namespace], extra, kubeconfig=least_privilege).start()
    yield process
    process.stop()
    print(f"operator log ({process.log}):\n{process.output()[-4000:]}")


def running_on_a_host(kube: Kube, name: str) -> dict[str, Any]:
    """The status once the VM runs on a host with its guest agent connected."""

    def known() -> dict[str, Any] | None:
        found = status(kube, name)
        return found if found.get("host") and found.get("agent") == "connected" else None

    return wait_for(known, timeout=20, what=f"{name}: host and guest agent")


@pytest.mark.usefixtures("operator")
def test_a_create_in_flight_shows_creating_then_ready_says_what_it_means(kube: Kube, sim: SimProcess) -> None:
    name = unique("flight")
    sim.faults(response_delay_ms={"unified_create": 5000})  # the platform made it; vmop awaits the answer
    try:
        kube.apply(manifest(name))
        creating = wait_for(
            lambda: (s := status(kube, name)).get("phase") == "Creating" and s, timeout=10, what="phase Creating"
        )
        assert_live_health(kube, "virtualmachine", name, "Progressing", phase="Creating")
    finally:
        sim.faults()
    # The create mark is an annotation, written with the finalizer before the call; a create not
    # answered within a second is shown in status as under way.
    assert creating["createPendingSince"] and not creating.get("uuid"), creating
    synced = condition({"status": creating}, "Synced")
    assert synced is not None and (synced["status"], synced["reason"]) == ("Unknown", "Creating"), synced
    assert "vmop.io/create-pending" in ((kube.get("virtualmachine", name) or {})["metadata"].get("annotations") or {})

    ready = wait_ready(kube, name)
    shown = ready["status"]
    message = (condition(ready, "Ready") or {})["message"]
    assert message.startswith(f"running on host {shown['host']}" if shown.get("host") else "running on the platform")
    agent = "guest agent connected" if shown.get("agent") == "connected" else "guest agent not connected yet"
    assert message.endswith(agent), (message, shown)
    assert shown.get("createPendingSince") is None

    # Host and agent as soon as the platform has them: a look soon after the create, no resync.
    known = running_on_a_host(kube, name)
    assert known["host"] == platform_vm(sim, known["uuid"])["machine_uuid"]
    message = (condition(kube.get("virtualmachine", name), "Ready") or {})["message"]
    assert message == f"running on host {known['host']}; guest agent connected", message


@pytest.mark.usefixtures("operator")
def test_a_hot_memory_change_is_shown_by_the_pass_that_made_it(kube: Kube, sim: SimProcess) -> None:
    name = unique("hot")
    kube.apply(manifest(name, memory="2Gi"))
    uuid_ = wait_ready(kube, name)["status"]["uuid"]
    running_on_a_host(kube, name)
    kube.patch_spec("virtualmachine", name, {"memory": "4Gi"})
    applied = wait_for(
        lambda: (s := status(kube, name)).get("observedGeneration") == 2 and s, timeout=20, what="generation 2"
    )
    assert applied["memory"] == "4Gi", applied
    assert (condition({"status": applied}, "Synced") or {}).get("status") == "True"
    assert platform_vm(sim, uuid_)["mem_size"] == 4 * 1024**3


@pytest.mark.usefixtures("operator")
def test_the_vm_follows_its_migration_at_once(kube: Kube) -> None:
    vm = unique("follow")
    kube.apply(manifest(vm))
    wait_ready(kube, vm)
    source = running_on_a_host(kube, vm)["host"]
    destination = next(h for h in HOSTS if h != source)
    name = unique("move")
    kube.apply(migration_manifest(name, vm, host=destination))
    wait_for(lambda: status(kube, vm).get("phase") == "Migrating", timeout=20, what="the VM Migrating")
    wait_phase(kube, name, "Succeeded", "Failed")
    # Released with the hand-over: the VM's own pass follows, not the resync 300 s later.
    followed = wait_for(
        lambda: (s := status(kube, vm)).get("phase") == "Running" and s.get("host") == destination and s,
        timeout=5,
        interval=0.2,
        what="the VM Running on the destination",
    )
    synced = condition({"status": followed}, "Synced")
    assert synced is not None and synced["reason"] != "Migrating", synced
