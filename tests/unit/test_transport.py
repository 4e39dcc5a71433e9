"""vmop's HTTP transport (vmop/transport.py) against real sockets: answers come through as
httpx's, and each failure says whether the request can have reached the platform, so that a create
is retried only when it cannot (never after the connection was made)."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from vmop.compute.client import ComputeClient
from vmop.compute.errors import ComputeUnavailable
from vmop.compute.models import ComputeMeta
from vmop.compute.requests import UnifiedCreateRequest
from vmop.compute.settings import ComputeSettings, RetryPolicy
from vmop.transport import AiohttpTransport

CLUSTER = "c27a25bc-5da2-430f-bfaf-6c8d33f21128"
TENANT = "a5badacf-a25c-4171-9aff-b619fc2d300a"

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(serve: Serve) -> AsyncIterator[tuple[str, list[bytes]]]:
    """A local HTTP/1.1 server; yields its URL and the request heads it read."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        try:
            await serve(reader, writer)
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", heads
    finally:
        listening.close()


def answer(body: bytes, *extra: str) -> Serve:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}", *extra]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()

    return serve


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the request, answers nothing, closes the connection."""


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


def client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, transport=AiohttpTransport(verify=False, connections=2), timeout=5)


async def test_an_answer_comes_through_with_its_status_headers_and_a_body_decoded_by_its_encoding() -> None:
    envelope = json.dumps({"scode": 0, "data": {"ok": True}}).encode()
    served = server(answer(gzip.compress(envelope), "Content-Encoding: gzip", "X-Seen: yes"))
    async with served as (url, heads), client(url) as http:
        response = await http.post("/v1/compute/start", json={"compute_uuid": "u"})
    assert (response.status_code, response.headers["x-seen"], response.json()) == (200, "yes", json.loads(envelope))
    assert response.http_version == "HTTP/1.1"
    assert heads[0].startswith(b"POST /v1/compute/start HTTP/1.1\r\n")


async def test_a_refused_connection_was_never_sent() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    async with client(f"http://127.0.0.1:{port}") as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("/v1/compute/list")


async def test_a_connection_dropped_after_the_request_may_have_been_sent() -> None:
    async with server(hang_up) as (url, _), client(url) as http:
        with pytest.raises(httpx.TransportError) as caught:
            await http.post("/v1/compute/unified_create", json={})
    assert not isinstance(caught.value, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


async def test_no_answer_in_time_is_a_read_timeout() -> None:
    transport, served = AiohttpTransport(verify=False, connections=1), server(never_answer)
    async with served as (url, _), httpx.AsyncClient(base_url=url, transport=transport, timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get("/v1/compute/list")


async def test_a_create_whose_connection_dropped_is_sent_once_and_a_refused_one_is_retried() -> None:
    request = UnifiedCreateRequest(cluster_uuid=CLUSTER, tenant=TENANT, meta=ComputeMeta(compute_name="x"))
    retry = RetryPolicy(max_attempts=3, base_delay=0.001)
    async with server(hang_up) as (url, heads), ComputeClient(ComputeSettings(base_url=url, retry=retry)) as compute:
        with pytest.raises(ComputeUnavailable):
            await compute.unified_create(request)
    assert len(heads) == 1, "a create that may have reached the platform was sent again"

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    attempts: list[float] = []
    async with ComputeClient(
        ComputeSettings(base_url=f"http://127.0.0.1:{port}", retry=retry), sleep=_count(attempts)
    ) as compute:
        with pytest.raises(ComputeUnavailable):
            await compute.unified_create(request)
    assert len(attempts) == 2, "a create that never left was not tried again"


def _count(attempts: list[float]) -> Callable[[float], Awaitable[None]]:
    async def sleep(seconds: float) -> None:
        attempts.append(seconds)

    return sleep


async def test_the_environment_s_proxy_is_followed_unless_no_proxy_exempts_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = json.dumps({"scode": 0}).encode()
    async with server(answer(body)) as (proxy, heads):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "exempt.invalid")
        async with client("http://platform.invalid") as http:
            assert (await http.get("/v1/compute/list")).json() == {"scode": 0}
            with pytest.raises(httpx.ConnectError):
                await http.get("http://exempt.invalid/v1/compute/list")
    assert heads[0].startswith(b"GET http://platform.invalid/v1/compute/list HTTP/1.1\r\n"), heads
    assert len(heads) == 1, "the exempt host went through the proxy"
