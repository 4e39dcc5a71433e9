"""Fuzzing both sides of the compute API.

The simulator through its own OpenAPI (schemathesis, in process): whatever arrives, no 5xx and every
answer under /v1/compute/ is an ``Output`` envelope with a ``scode``. The client's parsers through
``httpx.MockTransport`` (hypothesis): whatever comes back (random JSON, truncated envelopes, wrong
types, HTML error pages, broken encodings), a ``ComputeClient`` method either succeeds or raises a
``ComputeError`` subclass, never anything else, and no error message carries a header value.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from tests.support.simulation import CLUSTER, TENANT, FakeClock, make_platform
from vmop.compute import ComputeClient, ComputeError, ComputeSettings, RetryPolicy
from vmop.compute.models import ComputeIdentifier, ComputeMeta, Output
from vmop.compute.requests import GroupTreeQuery, ListQuery, UnifiedCreateRequest, VcpuSetRequest
from vmop.sim.app import API_PREFIX, create_app

# --- the simulator, through its OpenAPI --------------------------------------------------------------

SIM = create_app(make_platform(FakeClock()))
# Only the compute API: /sim/faults could make the simulator hang on purpose.
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", SIM).include(path_regex=f"^{API_PREFIX}")


@SCHEMA.parametrize()
@seed(20240611)
@settings(max_examples=10, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_simulator_answers_every_request_with_an_envelope(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.path}: HTTP {response.status_code} {response.text[:300]}"
    try:
        body = response.json()
    except ValueError:
        pytest.fail(f"{case.method} {case.path}: not JSON (HTTP {response.status_code}): {response.text[:300]}")
    assert isinstance(body, dict) and isinstance(body.get("scode"), int), f"{case.method} {case.path}: {body}"
    envelope = Output[Any].model_validate(body)
    if envelope.scode != 0:
        assert envelope.message and envelope.message_cn, f"a refusal says what in both languages: {body}"


# --- the client's parsers, with hypothesis -------------------------------------------------------------

TOKEN = "fz-T0ken-9f8e7d6c5b4a"
USER, PASSWORD = "fz-operator", "fz-Passw0rd-1a2b3c"
# What must never show in an error: the header values the client sent.
SECRETS = (
    TOKEN,
    f"Bearer {TOKEN}",
    PASSWORD,
    base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
)
VM = ComputeIdentifier(cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid="b31d4319-476a-4f67-9c37-3cf5f4d54f0f")

Method = Callable[[ComputeClient], Awaitable[object]]
METHODS: dict[str, Method] = {
    "list": lambda c: c.list_vms(ListQuery(cluster_uuid=CLUSTER, tenant=TENANT)),
    "list_all": lambda c: c.list_all_vms(CLUSTER, TENANT, page_size=2),
    "inspect": lambda c: c.inspect(VM),
    "detail": lambda c: c.detail(VM),
    "log": lambda c: c.log(VM),
    "unified_create": lambda c: c.unified_create(
        UnifiedCreateRequest(
            cluster_uuid=CLUSTER,
            tenant=TENANT,
            meta=ComputeMeta(compute_name="fuzz"),
            cpu_sockets=1,
            cpu_socket_cores=1,
            mem_size=1024**3,
        )
    ),
    "start": lambda c: c.start(VM),
    "batch_start": lambda c: c.batch_start([VM, VM]),
    "vcpu_set": lambda c: c.set_vcpu(
        VcpuSetRequest(
            cluster_uuid=CLUSTER, tenant=TENANT, compute_uuid=VM.compute_uuid, cpu_sockets=1, cpu_socket_cores=2
        )
    ),
    "migrate": lambda c: c.migrate(VM, "10.0.0.2"),
    "clone_progress": lambda c: c.clone_progress(VM),
    "group_tree": lambda c: c.group_tree(GroupTreeQuery(cluster_uuid=CLUSTER, tenant=TENANT)),
}

json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
# Field names the client's models know, so that wrong types land on real fields.
KNOWN_KEYS = st.sampled_from(
    [
        "domains",
        "total_count",
        "uuid",
        "vm_uuid",
        "results",
        "success",
        "fail",
        "progress",
        "compute_name",
        "list",
        "state",
        "disks",
        "interfaces",
        "volume_uuids",
        "mac_addresses",
        "cpu_sockets",
        "mem_size",
    ]
)
data_values = json_values | st.dictionaries(KNOWN_KEYS, json_values, max_size=5)
envelopes = st.fixed_dictionaries(
    {"scode": st.one_of(st.just(0), st.integers(-5, 30000), json_values)},
    optional={
        "message": json_values,
        "message_cn": json_values,
        "desc": json_values,
        "stack": json_values,
        "data": data_values,
    },
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["envelope", "json", "truncated", "bytes", "html", "empty"]))
    if kind == "envelope":
        return json.dumps(draw(envelopes)).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "truncated":
        full = json.dumps(draw(envelopes)).encode()
        return full[: draw(st.integers(0, max(0, len(full) - 1)))]
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "html":
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    return b""


statuses = st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 413, 429, 500, 502, 503])
headers = st.fixed_dictionaries(
    {},
    optional={
        "content-type": st.sampled_from(["application/json", "text/html", "text/plain; charset=latin-1", "x/y"]),
        "content-encoding": st.sampled_from(["gzip", "deflate", "br", "identity", "bogus"]),
    },
)
answers = st.lists(st.tuples(statuses, headers, bodies()), min_size=1, max_size=3)


async def _no_sleep(_: float) -> None:
    return None


def _client(script: list[tuple[int, dict[str, str], bytes]], credentials: str) -> ComputeClient:
    remaining = list(script)

    def answer(_: httpx.Request) -> httpx.Response:
        status, extra, content = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        return httpx.Response(status, headers=extra, content=content)

    auth: dict[str, Any] = (
        {"token": SecretStr(TOKEN)} if credentials == "token" else {"username": USER, "password": SecretStr(PASSWORD)}
    )
    settings_ = ComputeSettings(
        base_url="https://hci.fuzz.test", retry=RetryPolicy(max_attempts=2, base_delay=0.001), **auth
    )
    return ComputeClient(settings_, transport=httpx.MockTransport(answer), sleep=_no_sleep)


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@seed(8)
@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(method=st.sampled_from(sorted(METHODS)), script=answers, credentials=st.sampled_from(["token", "basic"]))
def test_client_survives_any_response(
    method: str, script: list[tuple[int, dict[str, str], bytes]], credentials: str
) -> None:
    async def call() -> ComputeError | None:
        async with _client(script, credentials) as client:
            try:
                await METHODS[method](client)
            except ComputeError as error:  # anything else fails the test as it is
                return error
        return None

    error = asyncio.run(call())
    if error is not None:
        shown = " ".join([str(error), repr(error), *map(str, error.args), error.message, error.desc])
        assert not _leaks(shown), f"{method}: {error!r} shows a credential"
        assert error.endpoint.startswith("/v1/compute/"), error.endpoint
        assert str(error), "every failure says something"
