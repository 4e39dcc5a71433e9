"""The client's own promises: bad input never leaves, retries are bounded and safe, failures
are typed, batches never hide a failure, and credentials never show."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from tests.support.simulation import CLUSTER, TENANT
from vmop.compute import (
    CallRecord,
    ComputeClient,
    ComputeError,
    ComputeProtocolError,
    ComputeSettings,
    ComputeUnavailable,
    RetryPolicy,
    Scode,
    is_transient,
)
from vmop.compute.errors import ComputeConfigError
from vmop.compute.models import ComputeIdentifier, ComputeMeta
from vmop.compute.redact import Redactor
from vmop.compute.requests import ListQuery, UnifiedCreateRequest, VcpuSetRequest
from vmop.sim.app import create_app
from vmop.sim.faults import Faults
from vmop.sim.platform import Platform

VM = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid="b31d4319-476a-4f67-9c37-3cf5f4d54f0f")
OK = {"scode": 0, "desc": "", "message": "success", "message_cn": "成功", "stack": None, "data": {}}
SECRET = "s3cr3t-t0ken-value"


class Recorder:
    """A transport answering from a script, counting what it was sent."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    attempts: int = 4,
    observer: Callable[[CallRecord], None] | None = None,
    delays: list[float] | None = None,
    token: str | None = None,
) -> ComputeClient:
    async def fake_sleep(seconds: float) -> None:
        if delays is not None:
            delays.append(seconds)

    settings = ComputeSettings(
        base_url="http://platform.test",
        token=SecretStr(token) if token else None,
        retry=RetryPolicy(max_attempts=attempts, base_delay=0.5, max_delay=2.0),
    )
    return ComputeClient(settings, transport=httpx.MockTransport(handler), observer=observer, sleep=fake_sleep)


def create_request() -> UnifiedCreateRequest:
    return UnifiedCreateRequest(cluster_uuid=CLUSTER, tenant=TENANT, meta=ComputeMeta(compute_name="x"))


def test_bad_input_fails_before_sending_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="cpu_current"):
        VcpuSetRequest(**VM.model_dump(), cpu_current="two")
    with pytest.raises(ValidationError, match="compute_uuid"):
        ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT)
    with pytest.raises(ValidationError, match="cpu_max"):
        VcpuSetRequest(**VM.model_dump(), cpu_max=0)


async def test_wrongly_typed_arguments_never_reach_the_transport() -> None:
    recorder = Recorder(httpx.Response(200, json=OK))
    async with make_client(recorder) as client:
        with pytest.raises(ValidationError, match="vmemory"):
            await client.set_memory(VM, "4G")  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="device_order"):
            await client.set_boot_order(VM, [1, 2])  # type: ignore[list-item]
    assert recorder.requests == []


async def test_get_sends_query_parameters_post_sends_json() -> None:
    recorder = Recorder(httpx.Response(200, json={**OK, "data": {"domains": [], "total_count": 0}}))
    async with make_client(recorder) as client:
        await client.list_vms(ListQuery(cluster_uuid=CLUSTER, include_trash_vm=True, page_size=50))
        await client.start(VM)
    listed, started = recorder.requests
    assert listed.method == "GET"
    assert dict(listed.url.params) == {"cluster_uuid": CLUSTER, "include_trash_vm": "true", "page_size": "50"}
    assert started.method == "POST"
    assert json.loads(started.content)["compute_uuid"] == VM.compute_uuid


async def test_5xx_is_retried_with_capped_jittered_backoff() -> None:
    delays: list[float] = []
    recorder = Recorder(httpx.Response(503), httpx.Response(502), httpx.Response(200, json=OK))
    async with make_client(recorder, delays=delays) as client:
        await client.start(VM)
    assert len(recorder.requests) == 3
    assert len(delays) == 2
    assert 0 <= delays[0] <= 0.5
    assert 0 <= delays[1] <= 1.0


async def test_retries_give_up_as_unavailable() -> None:
    delays: list[float] = []
    recorder = Recorder(httpx.ConnectError("refused"))
    async with make_client(recorder, attempts=6, delays=delays) as client:
        with pytest.raises(ComputeUnavailable) as caught:
            await client.shutoff(VM)
    assert len(recorder.requests) == 6
    assert max(delays) <= 2.0  # the cap
    assert caught.value.transient
    assert "ConnectError" in str(caught.value)


async def test_a_create_that_may_have_arrived_is_not_retried() -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"))
    async with make_client(recorder) as client:
        with pytest.raises(ComputeUnavailable):
            await client.unified_create(create_request())
    assert len(recorder.requests) == 1  # a second create could duplicate the VM


async def test_a_create_that_never_left_is_retried() -> None:
    batch = {**OK, "data": {"success": 1, "fail": 0, "results": [{**OK, "data": {"vm_uuid": "u1", "vm_name": "x"}}]}}
    recorder = Recorder(httpx.ConnectError("refused"), httpx.Response(200, json=batch))
    async with make_client(recorder) as client:
        result = await client.unified_create(create_request())
    assert len(recorder.requests) == 2
    assert result.succeeded()[0].vm_uuid == "u1"


async def test_scode_errors_are_not_retried_and_carry_everything() -> None:
    refusal = {
        **OK,
        "scode": 20926,
        "message": "host do not satisfy cpu bloat limitation",
        "message_cn": "主机不满足CPU超分配限制",
        "desc": "no host",
    }
    recorder = Recorder(httpx.Response(200, json=refusal))
    async with make_client(recorder) as client:
        with pytest.raises(ComputeError) as caught:
            await client.start(VM)
    assert len(recorder.requests) == 1
    error = caught.value
    assert (error.scode, error.endpoint, error.desc) == (20926, "/v1/compute/start", "no host")
    assert error.message_cn == "主机不满足CPU超分配限制"
    assert "20926" in str(error)
    assert "主机不满足CPU超分配限制" in str(error)


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(200, text="<html>oops</html>"), "Invalid JSON"),
        (httpx.Response(404, text="<html>Not Found</html>"), "HTTP 404"),
        (httpx.Response(200, json={"data": {}}), "scode"),
    ],
)
async def test_non_envelope_answers_are_protocol_errors(response: httpx.Response, reason: str) -> None:
    async with make_client(Recorder(response)) as client:
        with pytest.raises(ComputeProtocolError, match=reason) as caught:
            await client.start(VM)
    assert not caught.value.transient


async def test_a_batch_that_hides_failures_is_refused() -> None:
    hidden = {**OK, "data": {"success": 1, "fail": 1, "results": [{**OK, "data": {}}]}}
    async with make_client(Recorder(httpx.Response(200, json=hidden))) as client:
        with pytest.raises(ComputeProtocolError, match="fail=1"):
            await client.batch_start([VM, VM])


async def test_the_observer_sees_each_call_with_its_scode() -> None:
    records: list[CallRecord] = []
    recorder = Recorder(httpx.Response(500), httpx.Response(200, json={**OK, "scode": 21002}))
    async with make_client(recorder, observer=records.append) as client:
        with pytest.raises(ComputeError):
            await client.start(VM)
    assert [(r.endpoint, r.scode, r.attempt) for r in records] == [
        ("/v1/compute/start", None, 1),
        ("/v1/compute/start", 21002, 2),
    ]


def test_transient_and_permanent_are_classified_in_one_place() -> None:
    assert is_transient(ComputeUnavailable("/x", "HTTP 503"))
    assert is_transient(ComputeError("/x", 12345, hint="busy"))  # the profile's hint, whatever the number
    assert is_transient(ComputeError("/x", 12345, hint="agent_missing"))
    assert not is_transient(ComputeError("/x", Scode.VM_ACTION_IN_PROGRESS))  # a number alone means nothing
    assert is_transient(ComputeError("/x", Scode.HOST_CPU_BLOAT_LIMIT))
    assert not is_transient(ComputeError("/x", Scode.VM_STATE_INVALID))
    assert not is_transient(ComputeError("/x", 99999))  # unknown codes are not retried blindly
    assert not is_transient(ComputeProtocolError("/x", "html"))
    assert not is_transient(ValueError())


async def test_credentials_never_show(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = ComputeSettings(base_url="http://p", token=SecretStr(SECRET), username="u", password=SecretStr(SECRET))
    client = make_client(Recorder(httpx.Response(503)), token=SECRET)
    with pytest.raises(ComputeUnavailable) as caught:
        await client.start(VM)
    await client.aclose()
    shown = [repr(settings), str(settings), repr(client), str(caught.value), repr(caught.value), caplog.text]
    assert all(SECRET not in text for text in shown)


async def test_bearer_token_is_sent_and_required(platform: Platform) -> None:
    app = create_app(platform, token=SECRET)
    settings = ComputeSettings(base_url="http://sim", token=SecretStr(SECRET))
    async with ComputeClient(settings, transport=httpx.ASGITransport(app=app)) as client:
        assert (await client.list_vms(ListQuery())).total_count >= 1
    wrong = ComputeSettings(base_url="http://sim", token=SecretStr("wrong"))
    async with ComputeClient(wrong, transport=httpx.ASGITransport(app=app)) as client:
        with pytest.raises(ComputeError) as caught:
            await client.list_vms(ListQuery())
    assert caught.value.scode == Scode.UNAUTHORIZED


async def test_basic_auth_header() -> None:
    recorder = Recorder(httpx.Response(200, json=OK))
    settings = ComputeSettings(base_url="http://p", username="admin", password=SecretStr(SECRET))
    async with ComputeClient(settings, transport=httpx.MockTransport(recorder)) as client:
        await client.start(VM)
    assert recorder.requests[0].headers["authorization"].startswith("Basic ")


def test_tls_verification_is_on_by_default_and_its_opt_out_warns(caplog: pytest.LogCaptureFixture) -> None:
    assert ComputeSettings(base_url="https://p").verify_tls is True
    caplog.set_level(logging.WARNING)
    ComputeClient(ComputeSettings(base_url="https://p", verify_tls=False))
    assert "TLS verification" in caplog.text


async def test_injected_faults_reach_the_client(platform: Platform) -> None:
    platform.faults.forced_scode = {"start": Scode.HOST_CPU_BLOAT_LIMIT}
    platform.faults.http_error_rate = {"list": 1.0}
    app = create_app(platform)
    settings = ComputeSettings(base_url="http://sim", retry=RetryPolicy(max_attempts=2, base_delay=0.001))
    async with ComputeClient(settings, transport=httpx.ASGITransport(app=app)) as client:
        with pytest.raises(ComputeError) as caught:
            await client.start(VM)
        assert caught.value.scode == Scode.HOST_CPU_BLOAT_LIMIT
        assert caught.value.transient
        with pytest.raises(ComputeUnavailable):
            await client.list_vms(ListQuery())
    assert app.state.sim.calls["list"] == 2


def test_json_logs_carry_the_object_and_scode_as_fields(capsys: pytest.CaptureFixture[str]) -> None:
    from vmop.logs import configure_logging

    configure_logging("INFO", "json")
    try:
        logging.getLogger("vmop.test").warning(
            "start failed", extra={"k8s_namespace": "ns", "k8s_name": "vm1", "scode": 20926}
        )
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    finally:
        logging.getLogger().handlers.clear()
    assert (line["level"], line["message"], line["k8s_name"], line["scode"]) == (
        "WARNING",
        "start failed",
        "vm1",
        20926,
    )


async def _refusal_quoting_the_headers(platform: Platform, settings: ComputeSettings) -> ComputeError:
    """start refused by a platform that quotes the request's headers (the sim's echo_headers)."""
    platform.set_faults(Faults(forced_scode={"start": Scode.INTERNAL_ERROR}, echo_headers=True))
    async with ComputeClient(settings, transport=httpx.ASGITransport(app=create_app(platform))) as client:
        with pytest.raises(ComputeError) as caught:
            await client.start(VM)
    return caught.value


async def test_a_bearer_token_quoted_by_the_platform_is_redacted(platform: Platform) -> None:
    settings = ComputeSettings(base_url="http://sim", token=SecretStr(SECRET), retry=RetryPolicy(max_attempts=1))
    error = await _refusal_quoting_the_headers(platform, settings)
    assert "authorization: Bearer [REDACTED]" in error.desc, error.desc  # the platform did quote it
    assert all(SECRET not in text for text in (str(error), error.desc, error.message, error.message_cn))


async def test_basic_credentials_quoted_by_the_platform_are_redacted_in_every_form(platform: Platform) -> None:
    user, password = "vmop-svc", "pw-9f8e7d6c"
    settings = ComputeSettings(
        base_url="http://sim", username=user, password=SecretStr(password), retry=RetryPolicy(max_attempts=1)
    )
    error = await _refusal_quoting_the_headers(platform, settings)
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    assert "authorization: Basic [REDACTED]" in error.desc, error.desc
    for value in (user, password, encoded, encoded.rstrip("=")):
        assert value not in str(error), (value, str(error))


def test_redaction_covers_percent_encoded_and_base64_forms() -> None:
    redact = Redactor(["a/b+c=d", ""])
    quoted = "token a/b+c=d, url a%2Fb%2Bc%3Dd, base64 " + base64.b64encode(b"a/b+c=d").decode()
    assert redact(quoted) == "token [REDACTED], url [REDACTED], base64 [REDACTED]"
    assert Redactor([])("nothing to hide") == "nothing to hide"


async def test_a_token_with_a_trailing_newline_works(platform: Platform) -> None:
    """A Secret made with `kubectl create secret --from-file` holds the file's final newline."""
    app = create_app(platform, token=SECRET)
    settings = ComputeSettings(base_url="http://sim", token=SecretStr(SECRET + "\n"))
    async with ComputeClient(settings, transport=httpx.ASGITransport(app=app)) as client:
        assert (await client.list_vms(ListQuery())).total_count >= 1


async def test_a_token_no_header_can_carry_is_a_configuration_error_never_retried() -> None:
    recorder = Recorder(httpx.Response(200, json=OK))
    client = make_client(recorder, token="s3cr\u0007et")
    with pytest.raises(ComputeConfigError) as caught:
        await client.start(VM)
    await client.aclose()
    assert not caught.value.transient and recorder.requests == []
    assert "s3cr" not in str(caught.value)
