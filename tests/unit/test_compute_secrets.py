"""Console passwords and cloud-init data never reach an exception or a log line, even from a
platform that quotes the whole request in its refusal (the simulator's echo_body fault)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import pytest
from pydantic import SecretStr, ValidationError

from tests.support.simulation import CLUSTER, TENANT
from tests.unit.test_sim_rules import make_vm
from vmop.compute import ComputeClient, ComputeError
from vmop.compute.models import CloudInitData, ComputeIdentifier, ComputeInspectInfo, ComputeMeta
from vmop.compute.redact import REDACTED
from vmop.compute.requests import GraphicsPasswordSetRequest, UnifiedCreateRequest
from vmop.sim.faults import Faults
from vmop.sim.platform import Platform

PASSWORD = "Correct-Horse-Battery-9"
VNC = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # the platform's "encrypted" form is a secret as well
CLOUD_INIT = CloudInitData(
    meta_data={"hostname": "web-1"},
    user_data={"set_passwd": {"chpasswd": {"list": [f"root:{PASSWORD}"]}}, "runcmd": {"cmd": ["echo 'späť'"]}},
)
SECRETS = (PASSWORD, VNC, "echo 'späť'")

Call = Callable[[ComputeClient, ComputeIdentifier], Awaitable[object]]
CALLS: dict[str, Call] = {
    "cloud_init/set": lambda client, vm: client.set_cloud_init(vm, CLOUD_INIT),
    "graphics/password/set": lambda client, vm: client.set_graphics_password(vm, vnc=SecretStr(VNC)),
    "unified_create": lambda client, vm: client.unified_create(
        UnifiedCreateRequest(
            cluster_uuid=CLUSTER, tenant=TENANT, meta=ComputeMeta(compute_name="new"), cloud_init_data=CLOUD_INIT
        )
    ),
}


@pytest.mark.parametrize("endpoint", CALLS)
async def test_a_refusal_quoting_the_request_keeps_its_secrets(
    endpoint: str, client: ComputeClient, platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    vm = await make_vm(client)
    platform.set_faults(Faults(forced_scode={endpoint: 10500}, echo_body=True))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ComputeError) as caught:
        await CALLS[endpoint](client, vm)
    said = f"{caught.value} {caught.value!r} {caught.value.desc} {caplog.text}"
    assert REDACTED in caught.value.desc  # the platform did quote the secrets: they were taken out
    assert not [secret for secret in SECRETS if secret in said], said


async def test_a_refusal_of_the_platform_s_own_keeps_them_too(
    client: ComputeClient, caplog: pytest.LogCaptureFixture
) -> None:
    gone = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid="00000000-0000-4000-8000-000000000000")
    caplog.set_level(logging.DEBUG)
    for call in (CALLS["cloud_init/set"], CALLS["graphics/password/set"]):
        with pytest.raises(ComputeError) as caught:
            await call(client, gone)
        said = f"{caught.value} {caught.value!r} {caplog.text}"
        assert not [secret for secret in SECRETS if secret in said], said


def test_requests_never_show_their_secrets() -> None:
    vm = {"cluster_uuid": CLUSTER, "compute_uuid": "u"}
    request = GraphicsPasswordSetRequest(**vm, vnc_password=SecretStr(VNC))
    assert VNC not in repr(request) and VNC not in str(request)
    assert request.wire()["vnc_password"] == VNC  # sent as is
    assert PASSWORD not in repr(CLOUD_INIT) + str(CLOUD_INIT)
    # Only a request body (and the simulator's answers) write them out; any other JSON dump hides them.
    assert VNC not in request.model_dump_json() and PASSWORD not in CLOUD_INIT.model_dump_json()
    inspected = ComputeInspectInfo.model_validate({"uuid": "u", "vnc_password": VNC})
    assert VNC not in inspected.model_dump_json() + repr(inspected)
    with pytest.raises(ValidationError) as caught:  # a wrong type: the error does not quote it
        GraphicsPasswordSetRequest.model_validate({**vm, "vnc_password": 31415926535})
    assert "31415926535" not in str(caught.value)
