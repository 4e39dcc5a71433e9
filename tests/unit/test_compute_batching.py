"""Batcher: power calls and deletes made together go out as batch calls, each caller still gets
its own VM's outcome; against the in-process simulator, and a platform that answers out of order."""

from __future__ import annotations

import asyncio
import json

import httpx

from tests.support.simulation import CLUSTER, TENANT
from vmop.compute import ComputeClient, ComputeSettings, RetryPolicy
from vmop.compute.batching import Batcher
from vmop.compute.dispatch import perform
from vmop.compute.errors import ComputeError, ComputeProtocolError, ComputeUnavailable
from vmop.compute.models import ComputeIdentifier, ComputeMeta
from vmop.compute.requests import DeleteRequest, UnifiedCreateRequest
from vmop.compute.scodes import Scode
from vmop.sim.platform import Platform

Made = tuple[ComputeClient, list[str]]


async def stopped_vms(client: ComputeClient, count: int) -> list[ComputeIdentifier]:
    vms = []
    for i in range(count):
        request = UnifiedCreateRequest(cluster_uuid=CLUSTER, tenant=TENANT, meta=ComputeMeta(compute_name=f"b{i}"))
        created = (await client.unified_create(request)).succeeded()[0]
        vms.append(ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=created.vm_uuid))
    return vms


async def gather(*calls: object) -> list[BaseException | None]:
    return list(await asyncio.gather(*calls, return_exceptions=True))  # type: ignore[arg-type]


async def test_starts_made_together_are_one_batch_call_and_each_caller_gets_its_own_outcome(
    calls: Made, platform: Platform
) -> None:
    client, called = calls
    vms = await stopped_vms(client, 5)
    await client.start(vms[0])  # running already: the platform refuses to start it again
    called.clear()
    batcher = Batcher(client)
    outcomes = await gather(*(perform(client, "start", vm, batcher) for vm in vms))
    assert called == ["batch_start"]
    refused = outcomes[0]
    assert isinstance(refused, ComputeError) and refused.scode != 0, outcomes
    assert outcomes[1:] == [None] * 4
    assert all(platform.world.vms[vm.compute_uuid].state == "running" for vm in vms)


async def test_a_call_that_comes_alone_goes_to_the_single_endpoint(calls: Made) -> None:
    client, called = calls
    (vm,) = await stopped_vms(client, 1)
    called.clear()
    await perform(client, "start", vm, Batcher(client))
    assert called == ["start"]


async def test_batches_hold_at_most_max_size_vms_and_split_by_options(calls: Made, platform: Platform) -> None:
    client, called = calls
    vms = await stopped_vms(client, 5)
    called.clear()
    batcher = Batcher(client, max_size=2)
    requests = [DeleteRequest(**vm.model_dump(), real_delete=i < 3, is_delete_volumes=True) for i, vm in enumerate(vms)]
    assert await gather(*(perform(client, "delete", r, batcher) for r in requests)) == [None] * 5
    # Permanent ones (3: a full batch of 2 and one more alone) and one batch to the recycle bin.
    assert sorted(called) == ["batch_delete", "batch_delete", "delete"]
    assert all(vm.compute_uuid not in platform.world.vms or platform.world.vms[vm.compute_uuid].trashed for vm in vms)


async def test_a_forced_refusal_of_the_single_endpoint_refuses_each_item_of_a_batch(
    calls: Made, platform: Platform
) -> None:
    client, _ = calls
    vms = await stopped_vms(client, 3)
    platform.faults.forced_scode = {"start": Scode.HOST_CPU_BLOAT_LIMIT}
    batcher = Batcher(client)
    outcomes = await gather(*(perform(client, "start", vm, batcher) for vm in vms))  # one batch
    outcomes += await gather(perform(client, "start", vms[0], batcher))  # alone
    assert all(isinstance(o, ComputeError) and o.scode == Scode.HOST_CPU_BLOAT_LIMIT for o in outcomes), outcomes


async def test_calls_the_batcher_does_not_take_go_alone(calls: Made) -> None:
    client, called = calls
    (vm,) = await stopped_vms(client, 1)
    called.clear()
    batcher = Batcher(client)
    assert not batcher.takes("reboot", vm)
    assert not batcher.takes("start", DeleteRequest(**vm.model_dump(), exclusive_desktop_uuid="desk"))
    assert batcher.takes("delete", DeleteRequest(**vm.model_dump(), real_delete=True))


def platform_answering(results: list[dict[str, object]] | int) -> ComputeClient:
    """A platform whose batch_start answers with these items (any order), or this HTTP status."""

    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(results, int):
            return httpx.Response(results)
        data = {"success": sum(r["scode"] == 0 for r in results), "fail": sum(r["scode"] != 0 for r in results)}
        body = {"scode": 0, "message": "success", "data": {**data, "results": results}}
        assert len(json.loads(request.content)["vms"]) == 3
        return httpx.Response(200, json=body)

    settings = ComputeSettings(base_url="http://platform.test", retry=RetryPolicy(max_attempts=1))
    return ComputeClient(settings, transport=httpx.MockTransport(handler))


def item(uuid: str, scode: int = 0) -> dict[str, object]:
    return {"scode": scode, "message": "x", "data": {"cluster_uuid": CLUSTER, "tenant": TENANT, "compute_uuid": uuid}}


VMS = [
    ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=f"0000000{i}-0000-4000-8000-0") for i in "123"
]


async def test_results_are_matched_by_uuid_not_by_position() -> None:
    """The doc's own batch_start example answers in another order than it was asked."""
    answer = [item(VMS[2].compute_uuid, 20926), item(VMS[0].compute_uuid)]  # and nothing about VMS[1]
    async with platform_answering(answer) as client:
        batcher = Batcher(client)
        outcomes = await gather(*(perform(client, "start", vm, batcher) for vm in VMS))
    assert outcomes[0] is None
    assert isinstance(outcomes[1], ComputeProtocolError) and "nothing about this VM" in str(outcomes[1])
    assert isinstance(outcomes[2], ComputeError) and outcomes[2].scode == 20926


async def test_a_batch_call_that_fails_as_a_whole_fails_each_caller() -> None:
    async with platform_answering(503) as client:
        batcher = Batcher(client)
        outcomes = await gather(*(perform(client, "start", vm, batcher) for vm in VMS))
    assert all(isinstance(o, ComputeUnavailable) for o in outcomes), outcomes
