"""The client reads every answer the compute doc allows (docs/platform-assumptions.md): refusals
whatever their data and HTTP status, nulls and fractions, an odd VM in a list page, paging by
either parameter, and transport failures without a made-up scode."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.simulation import CLUSTER, TENANT
from tests.unit.test_compute_client import OK, VM, Recorder, make_client
from vmop.compute import CallRecord, ComputeClient, ComputeError, ComputeSettings, ComputeUnavailable, RetryPolicy
from vmop.compute import endpoints as ep
from vmop.compute.errors import ComputeProtocolError
from vmop.compute.profile import PlatformProfile
from vmop.compute.requests import ListQuery
from vmop.config import OperatorConfig
from vmop.reconcile.observed import from_inspect
from vmop.reconcile.power import current_power
from vmop.reconcile.status import last_error

SCOPE = ListQuery(cluster_uuid=CLUSTER, tenant=TENANT)
REFUSAL = {"scode": 21777, "desc": "d", "message": "vm busy", "message_cn": "虚拟机忙", "stack": None}


def vm_entry(index: int, **fields: Any) -> dict[str, Any]:
    return {"uuid": f"vm-{index:04d}", "name": f"n{index}", "state": "running", "action": "noaction", **fields}


class Paged:
    """A platform of ``count`` VMs that reads one paging parameter (or none) and honours page_size."""

    def __init__(self, count: int, reads: str | None, *, unpaged_works: bool = True) -> None:
        self.vms = [vm_entry(i) for i in range(count)]
        self.reads = reads
        self.unpaged_works = unpaged_works
        self.params: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        self.params.append(params)
        size = int(params.get("page_size", "0"))
        page = int(params.get(self.reads, "0")) if self.reads else 0
        if size <= 0:
            shown = self.vms if self.unpaged_works else self.vms[:10]
        else:
            shown = self.vms[page * size : (page + 1) * size]
        return httpx.Response(200, json={**OK, "data": {"domains": shown, "total_count": len(self.vms)}})


def client_with(handler: Any, profile: PlatformProfile | None = None, **kwargs: Any) -> ComputeClient:
    settings = ComputeSettings(
        base_url="http://platform.test",
        retry=RetryPolicy(max_attempts=3, base_delay=0.001),
        profile=profile or PlatformProfile(),
    )
    return ComputeClient(settings, transport=httpx.MockTransport(handler), **kwargs)


@pytest.mark.parametrize("data", [None, "", {}, "odd text", [1, 2], {"vm_uuid": {"nested": True}}])
@pytest.mark.parametrize("status", [200, 400, 500])
async def test_a_refusal_keeps_its_scode_and_both_messages_whatever_data_and_status(data: Any, status: int) -> None:
    recorder = Recorder(httpx.Response(status, json={**REFUSAL, "data": data}))
    async with make_client(recorder) as client:
        with pytest.raises(ComputeError) as caught:
            await client.start(VM)
    error = caught.value
    assert (error.scode, error.message, error.message_cn, error.desc) == (21777, "vm busy", "虚拟机忙", "d")
    assert not isinstance(error, ComputeUnavailable | ComputeProtocolError)
    assert len(recorder.requests) == 1  # an answer, not a failure to retry


@pytest.mark.parametrize("data", [None, "", {}, "odd"])
async def test_batch_items_refused_with_any_data_keep_their_scode(data: Any) -> None:
    items = [{**REFUSAL, "data": data}, {**OK, "data": {"compute_uuid": VM.compute_uuid}}]
    batch = {**OK, "data": {"success": 1, "fail": 1, "results": items}}
    async with make_client(Recorder(httpx.Response(200, json=batch))) as client:
        results = await client.batch_start([VM, VM])
    assert [e.scode for e in results.failures] == [21777]


async def test_a_success_with_empty_string_data_reads_as_no_data() -> None:
    async with make_client(Recorder(httpx.Response(200, json={**OK, "data": ""}))) as client:
        await client.start(VM)  # the doc's own examples write "data": ""


async def test_transport_failures_carry_no_scode_and_say_unreachable() -> None:
    async with make_client(Recorder(httpx.Response(503, text="busy")), attempts=2) as client:
        with pytest.raises(ComputeUnavailable) as caught:
            await client.start(VM)
    shown = last_error(caught.value, 0.0)
    assert shown.scode is None
    assert shown.message == "platform unreachable: HTTP 503"
    async with make_client(Recorder(httpx.ConnectError("refused")), attempts=1) as client:
        with pytest.raises(ComputeUnavailable) as refused:
            await client.start(VM)
    assert refused.value.scode is None and "unreachable" in str(refused.value)


async def test_nulls_in_ints_and_bools_and_fractions_are_read() -> None:
    inspect = vm_entry(
        1,
        create_time=None,
        cpu_current="2",
        cpu_sockets=None,
        vnc_enable=None,
        kvm_clock_enable=None,
        mem_size=1073741824.0,
        disks=[{"disk_target_device": "vda", "disk_vsd_source": {"disk_capacity": None}}],
        interfaces=None,
        statistic={"cpu": {"ratio": None, "logical": 2.0}},
    )
    recorder = Recorder(
        httpx.Response(200, json={**OK, "data": inspect}),
        httpx.Response(200, json={**OK, "data": {"progress": 45.5}}),
    )
    async with make_client(recorder) as client:
        info = await client.inspect(VM)
        progress = await client.clone_progress(VM)
    assert (info.create_time, info.cpu_current, info.cpu_sockets, info.kvm_clock_enable) == (0, 2, 0, False)
    assert info.vnc_enable is None  # an option the planner compares: null is "not reported", never false
    assert info.mem_size == 1 << 30 and info.disks[0].capacity() == 0 and info.interfaces == []
    assert progress == 45  # never rounded up: 100 would claim a finished clone
    assert from_inspect(info).cpus == 2


async def test_one_unreadable_vm_is_skipped_named_and_counted_not_the_page() -> None:
    page = {
        "domains": [vm_entry(0), {"uuid": None, "name": "no-uuid"}, vm_entry(2, interface={"not": "a list"}), None],
        "total_count": None,
    }
    records: list[CallRecord] = []
    async with make_client(Recorder(httpx.Response(200, json={**OK, "data": page})), observer=records.append) as c:
        listed = await c.list_vms(SCOPE)
    assert [vm.uuid for vm in listed.domains] == ["vm-0000"]
    assert listed.unreadable == ["#1", "vm-0002", "#3"]
    assert [r.unreadable for r in records] == [3]


@pytest.mark.parametrize("reads", ["page_number", "page_num"])
async def test_default_paging_works_whichever_parameter_the_platform_reads(reads: str) -> None:
    platform = Paged(1200, reads)
    async with client_with(platform) as client:
        listing = await client.list_all_vms(CLUSTER, TENANT, page_size=500)
    assert len({vm.uuid for vm in listing.domains}) == 1200
    assert len(platform.params) == 3  # one call per page
    assert all("page_number" in p and "page_num" in p for p in platform.params)


async def test_pages_that_do_not_advance_fall_back_to_one_unpaged_list() -> None:
    platform = Paged(1200, "page_num")
    async with client_with(platform, PlatformProfile(page_params=("page_number",))) as client:
        listing = await client.list_all_vms(CLUSTER, TENANT, page_size=500)
    assert len({vm.uuid for vm in listing.domains}) == 1200
    assert [p["page_size"] for p in platform.params] == ["500", "500", "0"]


async def test_a_short_listing_that_cannot_be_completed_is_an_error_not_a_partial_view() -> None:
    platform = Paged(1200, None, unpaged_works=False)
    async with client_with(platform) as client:
        with pytest.raises(ComputeProtocolError, match="of 1200 VMs"):
            await client.list_all_vms(CLUSTER, TENANT, page_size=500)


async def test_page_size_not_above_zero_is_one_unpaged_list() -> None:
    platform = Paged(7, "page_number")
    async with client_with(platform) as client:
        listing = await client.list_all_vms(CLUSTER, TENANT, page_size=0)
    assert (len(listing.domains), len(platform.params)) == (7, 1)


async def test_a_null_total_pages_until_a_short_page() -> None:
    vms = [vm_entry(i) for i in range(5)]

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page_number"])
        return httpx.Response(200, json={**OK, "data": {"domains": vms[page * 2 : page * 2 + 2], "total_count": None}})

    async with client_with(handler) as client:
        listing = await client.list_all_vms(CLUSTER, TENANT, page_size=2)
    assert [vm.uuid for vm in listing.domains] == [vm["uuid"] for vm in vms]


async def test_profile_hints_classify_refusals_by_the_platform_s_own_codes() -> None:
    profile = PlatformProfile(busy_scodes=frozenset({21777}), not_found_scodes=frozenset({31000}))
    answers = [
        httpx.Response(200, json={**REFUSAL, "data": None}),
        httpx.Response(200, json={**REFUSAL, "scode": 31000}),
    ]
    async with client_with(Recorder(*answers), profile) as client:
        with pytest.raises(ComputeError) as busy:
            await client.start(VM)
        with pytest.raises(ComputeError) as gone:
            await client.start(VM)
    assert (busy.value.hint, busy.value.transient, busy.value.refused) == ("busy", True, True)
    assert (gone.value.hint, gone.value.transient) == ("not_found", False)


async def test_each_call_waits_as_long_as_its_kind_needs() -> None:
    seen: dict[str, float] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.path.removeprefix("/v1/compute/")] = request.extensions["timeout"]["read"]
        data: dict[str, Any] = {"domains": [], "total_count": 0} if request.method == "GET" else {}
        return httpx.Response(200, json={**OK, "data": data})

    async with client_with(handler) as client:
        await client.list_vms(SCOPE)
        await client.start(VM)
        await client.save(VM)
    settings = ComputeSettings(base_url="http://x")
    assert seen == {"list": settings.query_timeout, "start": settings.action_timeout, "save": settings.long_timeout}
    assert settings.query_timeout < settings.action_timeout < settings.long_timeout


def test_the_create_grace_outlasts_every_create_call() -> None:
    """A create answered after vmop gave up is found before a second create: the grace period
    (twice --compute-timeout by default) is longer than any create call may wait."""
    config = OperatorConfig(compute_url="http://x")
    creates = [
        endpoint for endpoint in vars(ep).values() if isinstance(endpoint, ep.Endpoint) and not endpoint.idempotent
    ]
    assert {endpoint.pace for endpoint in creates} == {"action"}, creates
    assert config.create_grace > config.compute_timeout


@pytest.mark.parametrize(("state", "action"), [("shutoff", "save"), ("pmsuspend", "noaction")])
async def test_a_hibernated_vm_reads_as_hibernated_in_either_shape(state: str, action: str) -> None:
    body = json.dumps({**OK, "data": vm_entry(1, state=state, action=action)})
    async with make_client(Recorder(httpx.Response(200, content=body))) as client:
        info = await client.inspect(VM)
    assert current_power(from_inspect(info)) == "Hibernated"
