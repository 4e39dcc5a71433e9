"""The benchmark's own Kubernetes access: a small async client on httpx (no kubectl per object).

It counts every request it makes by (verb, resource, subresource), in the apiserver's own verb
names, so that the benchmark's traffic can be taken out of the apiserver's request counters.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

GROUP = "vmop.io"
VERSION = "v1alpha1"
PLURAL = "virtualmachines"
FIELD_MANAGER = "vmop-bench"

# (verb, resource, subresource) as apiserver_request_total labels them
RequestKey = tuple[str, str, str]
Event = dict[str, Any]


def _file_or_data(entry: dict[str, Any], key: str) -> Path | None:
    if entry.get(key):
        return Path(entry[key])
    data = entry.get(f"{key}-data")
    if not data:
        return None
    handle = tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False)  # noqa: SIM115
    handle.write(base64.b64decode(data))
    handle.close()
    return Path(handle.name)


@dataclass
class KubeConfig:
    server: str
    ssl_context: ssl.SSLContext
    headers: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> KubeConfig:
        config = yaml.safe_load(path.read_text())
        context_name = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        ca = _file_or_data(cluster, "certificate-authority")
        ssl_context = ssl.create_default_context(cafile=str(ca) if ca else None)
        if cluster.get("insecure-skip-tls-verify"):
            ssl_context.check_hostname = False
            ssl_context.verify_mode = ssl.CERT_NONE
        cert, key = _file_or_data(user, "client-certificate"), _file_or_data(user, "client-key")
        if cert and key:
            ssl_context.load_cert_chain(str(cert), str(key))
        headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
        return cls(cluster["server"].rstrip("/"), ssl_context, headers)


@dataclass
class Kube:
    config: KubeConfig
    own: Counter[RequestKey] = field(default_factory=Counter)
    _client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
            self._client = httpx.AsyncClient(
                base_url=self.config.server,
                verify=self.config.ssl_context,
                headers=self.config.headers,
                timeout=httpx.Timeout(60.0),
                limits=limits,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    @staticmethod
    def path(namespace: str, name: str | None = None) -> str:
        base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"
        return f"{base}/{name}" if name else base

    # ------------------------------------------------------------------ namespaces

    async def create_namespace(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        response = await self.client.post("/api/v1/namespaces", json=body)
        if response.status_code != 409:
            response.raise_for_status()

    async def delete_namespace(self, name: str, *, within: float = 600.0) -> None:
        """Delete and wait until it is gone (its objects with it)."""
        await self.client.delete(f"/api/v1/namespaces/{name}")
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if (await self.client.get(f"/api/v1/namespaces/{name}")).status_code == 404:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError(f"namespace {name} still there after {within:.0f}s")

    # ------------------------------------------------------------------ objects

    async def apply_many(
        self, namespace: str, objects: Iterable[dict[str, Any]], *, concurrency: int = 32
    ) -> dict[str, float]:
        """Server-side apply of every object, ``concurrency`` requests in flight. Returns, per
        name, the wall time at which the apiserver answered (the object exists from then on)."""
        limit = asyncio.Semaphore(concurrency)
        done: dict[str, float] = {}

        async def one(obj: dict[str, Any]) -> None:
            name = obj["metadata"]["name"]
            async with limit:
                response = await self.client.patch(
                    self.path(namespace, name),
                    params={"fieldManager": FIELD_MANAGER, "force": "true"},
                    content=json.dumps(obj),
                    headers={"Content-Type": "application/apply-patch+yaml"},
                )
            self.own[("APPLY", PLURAL, "")] += 1
            response.raise_for_status()
            done[name] = time.time()

        await asyncio.gather(*(one(obj) for obj in objects))
        return done

    async def list(self, namespace: str) -> tuple[list[dict[str, Any]], str]:
        response = await self.client.get(self.path(namespace))
        self.own[("LIST", PLURAL, "")] += 1
        response.raise_for_status()
        body = response.json()
        return list(body["items"]), str(body["metadata"]["resourceVersion"])

    async def delete_all(self, namespace: str, *, attempts: int = 10) -> None:
        """DELETE the collection. The apiserver marks its objects one by one before it answers, and
        gives up on the request after its own timeout (a minute): at 3,000 objects beside a busy
        operator it did. Asking again marks the rest (marked ones stay as they are); the deletion
        window times it all."""
        for attempt in range(1, attempts + 1):
            self.own[("DELETECOLLECTION", PLURAL, "")] += 1
            try:
                response = await self.client.delete(self.path(namespace), timeout=None)
            except httpx.TransportError:
                if attempt == attempts:
                    raise
                continue
            if response.status_code < 500 or attempt == attempts:
                response.raise_for_status()
                return

    async def watch(self, namespace: str, resource_version: str, on_event: Callable[[str, Event], None]) -> None:
        """Follow the namespace's VirtualMachines from ``resource_version`` until cancelled (a
        closed stream is reopened from the last version seen)."""
        version = resource_version
        while True:
            params = {"watch": "true", "resourceVersion": version, "allowWatchBookmarks": "true"}
            params["timeoutSeconds"] = "1800"
            self.own[("WATCH", PLURAL, "")] += 1
            async with self.client.stream("GET", self.path(namespace), params=params, timeout=None) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":
                        raise RuntimeError(f"watch error: {obj}")
                    version = obj["metadata"]["resourceVersion"]
                    if kind != "BOOKMARK":
                        on_event(kind, obj)

    async def metrics(self) -> str:
        response = await self.client.get("/metrics")
        response.raise_for_status()
        return response.text


_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _samples(metrics_text: str) -> Iterator[tuple[dict[str, str], int]]:
    """apiserver_request_total's samples for vmop.io resources and events: (labels, count)."""
    for line in metrics_text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("group") == GROUP or labels.get("resource") == "events":
            yield labels, int(float(match["value"]))


def request_counts(metrics_text: str) -> Counter[RequestKey]:
    """Requests by (verb, resource, subresource), summed over response codes."""
    counts: Counter[RequestKey] = Counter()
    for labels, count in _samples(metrics_text):
        counts[(labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))] += count
    return counts


def refused_counts(metrics_text: str) -> Counter[RequestKey]:
    """The answers of 400 and above, by (verb, resource[/subresource], code)."""
    counts: Counter[RequestKey] = Counter()
    for labels, count in _samples(metrics_text):
        if int(labels.get("code") or 0) >= 400:
            resource = "/".join(filter(None, (labels.get("resource", ""), labels.get("subresource", ""))))
            counts[(labels.get("verb", ""), resource, labels.get("code", ""))] += count
    return counts
