"""The wire under vmop's two HTTP clients, the compute API's (compute/client.py) and its own
Kubernetes requests' (controller/kube.py): aiohttp, kopf's own client (a C parser, a pool of
keep-alive connections), under httpx's API, which the clients, their auth and the tests' mock
transports use.

Its failures say whether the request can have reached the server, as httpx's own do: a connect
failure or timeout (``httpx.ConnectError``, ``httpx.ConnectTimeout``) was never sent; anything after
the connection was made (a dropped connection, a read timeout, a garbled answer) may have been, so a
create that failed so is never sent again blindly (compute/client.py ``_NOT_SENT``). httpx-aiohttp
would be the library for this, but its mapping calls a dropped connection a connect timeout.

While 1,000 VMs were created (bench/, py-spy, same machine), the Kubernetes writes over httpcore's
HTTP/2 took 20 of the operator's 72 sampled CPU-seconds and over aiohttp 8 of 45; all were Ready in
36 s instead of 54, and the apiserver spent 14% less CPU. The compute calls over httpcore then took
a fifth of what was left.
"""

from __future__ import annotations

import ssl
import urllib.request

import aiohttp
import httpx

# httpx's default: an idle connection is closed after 5 s, before servers such as uvicorn close it.
KEEPALIVE_SECONDS = 5.0


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool,
        connections: int,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        """``verify``: an SSL context, True for httpx's trust store (certifi, or $SSL_CERT_FILE),
        False for none (labs). ``proxy``: the proxy's URL; else, with ``trust_env``, the one
        $HTTPS_PROXY / $HTTP_PROXY / $ALL_PROXY name for the host unless $NO_PROXY exempts it, as
        httpx does. (aiohttp's own ``trust_env`` would also read ~/.netrc, in a thread, per request.)"""
        self._ssl = verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify)
        self._connections = connections
        self._proxy = proxy
        self._trust_env = trust_env
        self._env_proxies: dict[tuple[str, str], str | None] = {}
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made in the running loop, at the first request
            connector = aiohttp.TCPConnector(
                limit=self._connections, keepalive_timeout=KEEPALIVE_SECONDS, ssl=self._ssl
            )
            # httpx decodes the body by its Content-Encoding and keeps no cookies: nor does this.
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    def _proxy_for(self, url: httpx.URL) -> str | None:
        if self._proxy is not None or not self._trust_env:
            return self._proxy
        key = (url.scheme, url.host)
        if key not in self._env_proxies:
            proxies = urllib.request.getproxies_environment()
            exempt = urllib.request.proxy_bypass(url.host)  # $NO_PROXY, on POSIX
            self._env_proxies[key] = None if exempt else proxies.get(url.scheme) or proxies.get("all")
        return self._env_proxies[key]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        try:
            async with self._client().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=request.content or None,
                allow_redirects=False,
                proxy=self._proxy_for(request.url),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),  # a free connection from the pool, and making it
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as answer:
                content = await answer.read()
                status, headers, reason = answer.status, answer.raw_headers, answer.reason
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc), request=request) from exc
        except aiohttp.ClientConnectorCertificateError as exc:  # the ssl module's own error, as httpx chains it
            raise httpx.ConnectError(str(exc), request=request) from exc.certificate_error
        except aiohttp.ClientConnectorError as exc:  # refused, unresolved, TLS refused: never sent
            raise httpx.ConnectError(str(exc), request=request) from exc.os_error
        except (aiohttp.SocketTimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:  # after the connection was made: maybe sent
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        extensions = {"http_version": b"HTTP/1.1", "reason_phrase": (reason or "").encode()}
        return httpx.Response(
            status, headers=headers, stream=httpx.ByteStream(content), request=request, extensions=extensions
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
