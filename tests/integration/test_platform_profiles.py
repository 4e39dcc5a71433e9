"""What must hold whichever way the platform reads the doc where it is silent (run under every
simulator profile: VMOP_SIM_PROFILE, tests/support/simulation.py): a scope of 1,200 VMs is seen
whole by one paged listing per resync, and an object whose VM is already gone is released. And a
platform that stops answering shows in the status."""

from __future__ import annotations

import signal

import pytest
from tests.integration.test_virtualmachine_lifecycle import CLUSTER, TENANT, manifest, status, unique, wait_gone
from tests.support.processes import Kube, SimProcess, condition, wait_for

pytestmark = pytest.mark.integration

SCOPE_SIZE = 1200  # more than two pages of vmop's default page size (500)


def create_many(sim: SimProcess, prefix: str, count: int) -> list[tuple[str, str]]:
    """(uuid, name) of each VM made, in creation order."""
    body = {
        "cluster_uuid": CLUSTER,
        "tenant": TENANT,
        "meta": {"compute_name": prefix},
        "cpu_sockets": 1,
        "cpu_socket_cores": 1,
        "mem_size": 1 << 30,
        "disks": [],
        "create_num": count,
    }
    answer = sim.call("unified_create", body)
    assert answer["scode"] == 0, answer
    return [(item["data"]["vm_uuid"], item["data"]["vm_name"]) for item in answer["data"]["results"]]


@pytest.mark.profiles
@pytest.mark.usefixtures("operator")
def test_a_scope_of_1200_vms_is_seen_whole_by_one_paged_listing_per_resync(kube: Kube, sim: SimProcess) -> None:
    last, platform_name = create_many(sim, unique("many"), SCOPE_SIZE)[-1]  # listed in creation order: page 3
    name = unique("paged")
    adopted = manifest(
        name,
        adopt={"uuid": last, "observeOnly": True},
        disks=[],
        interfaces=[],
        cpu={"sockets": 1, "cores": 1},
        memory="1Gi",
    )
    adopted["spec"]["name"] = platform_name
    kube.apply(adopted)  # as the VM is: nothing suggests a change, so no pass needs details
    wait_for(lambda: status(kube, name).get("uuid") == last, timeout=60, what="the VM of the third page observed")
    before = sim.stats()["calls"]
    # Three resyncs (2 s each in the tests): each one paged listing (3 pages) and no inspect,
    # which a VM missing from the pages would cost on every pass.
    after = wait_for(
        lambda: (calls := sim.stats()["calls"]).get("list", 0) - before.get("list", 0) >= 9 and calls,
        timeout=30,
        what="three paged listings",
    )
    assert after.get("inspect", 0) == before.get("inspect", 0), (before, after)
    assert status(kube, name)["state"] == "shutoff"


@pytest.mark.profiles
@pytest.mark.usefixtures("operator")
def test_deleting_an_object_whose_vm_is_already_gone_releases_it(kube: Kube, sim: SimProcess) -> None:
    """Gone is decided by a list filtered on the uuid (which the doc guarantees), not by a
    not-found scode the doc never names."""
    name = unique("gone")
    kube.apply(manifest(name, recreateOnLoss=False))
    uuid_ = wait_for(lambda: status(kube, name).get("uuid"), timeout=40, what="created")
    answer = sim.call("delete", {"cluster_uuid": CLUSTER, "tenant": TENANT, "compute_uuid": uuid_, "real_delete": True})
    assert answer["scode"] == 0, answer
    kube.delete("virtualmachine", name)
    wait_gone(kube, name, timeout=30)


@pytest.mark.usefixtures("operator")
def test_a_platform_that_stops_answering_shows_synced_unknown_then_recovers(kube: Kube, sim: SimProcess) -> None:
    name = unique("hung")
    kube.apply(manifest(name))
    wait_for(lambda: synced(kube, name) == ("True", "ReconcileSuccess"), timeout=40, what="in sync")
    sim.process.send_signal(signal.SIGSTOP)  # the platform hangs: connections open, nothing answers
    try:
        # Two resync periods (2 s each in the tests), then the pass's status write.
        wait_for(lambda: synced(kube, name) == ("Unknown", "PlatformNotAnswering"), timeout=20, what="Unknown")
    finally:
        sim.process.send_signal(signal.SIGCONT)
    wait_for(lambda: synced(kube, name) == ("True", "ReconcileSuccess"), timeout=40, what="in sync again")


def synced(kube: Kube, name: str) -> tuple[str, str] | None:
    found = condition(kube.get("virtualmachine", name), "Synced")
    return (found["status"], found["reason"]) if found else None
