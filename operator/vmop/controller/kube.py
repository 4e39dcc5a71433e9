"""vmop's own Kubernetes reads and writes: the passes' status and metadata patches, the namespace
annotations of deletion policy, the credentials Secret, the Secrets VirtualMachines name. Async end
to end (httpx on aiohttp, with the credentials of kopf's own login functions), and every request through the
engine's one rate limit, which pauses all of them when the apiserver says it is overloaded
(engine/ratelimit.py): a burst never turns into a retry storm.

A write answers the object as stored after it: passes put that into the engine's store, so the next
pass reads what was written even before the watch echoes it (engine/store.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import kopf

from vmop.api import GROUP, VERSION
from vmop.engine.ratelimit import Overloaded, WriteLimiter, outcome_of_status
from vmop.transport import AiohttpTransport

log = logging.getLogger(__name__)

# Seconds one request may take: past it the apiserver is taken as overloaded (its own timeout for a
# write is 60 s; a write that waited this long answers nothing a retry would not).
REQUEST_TIMEOUT = 30.0
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

Login = Callable[[], kopf.ConnectionInfo]


class KubeError(Exception):
    """The apiserver refused a request: ``status``, ``reason`` (the HTTP reason phrase), ``body``
    (its Status, JSON) and ``retry_after`` (the header, if any). ``status`` None: no answer (a
    timeout, a connection or TLS failure; ``reason`` says which)."""

    def __init__(self, status: int | None, reason: str, body: str = "", retry_after: str | None = None) -> None:
        super().__init__(f"{status} {reason}" if status is not None else reason)
        self.status = status
        self.reason = reason
        self.body = body
        self.retry_after = retry_after


def login(kubeconfig: str | None = None) -> kopf.ConnectionInfo:
    """kopf's own readers, as the operator's kopf login uses them: the in-cluster service account,
    else the kubeconfig (``kubeconfig`` or $KUBECONFIG). No exec plugins, no auth-provider
    refreshes: what kopf itself can log in with."""
    settings = kopf.OperatorSettings()
    found = kopf.login_with_service_account(settings=settings)
    if found is None:
        with _kubeconfig_environment(kubeconfig):
            found = kopf.login_with_kubeconfig(settings=settings)
    if found is None:
        raise kopf.LoginError("no service account token and no kubeconfig to log in with")
    return found


@contextlib.contextmanager
def _kubeconfig_environment(kubeconfig: str | None) -> Iterator[None]:
    """$KUBECONFIG, which kopf's reader takes, set to ``kubeconfig`` while it reads. The reader does
    not await: no other task sees the change."""
    if kubeconfig is None:
        yield
        return
    before = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = kubeconfig
    try:
        yield
    finally:
        if before is None:
            del os.environ["KUBECONFIG"]
        else:
            os.environ["KUBECONFIG"] = before


class KubeAccess:
    def __init__(
        self,
        login: Login,
        limiter: WriteLimiter,
        *,
        connections: int,
        timeout: float = REQUEST_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``login``: the credentials, called again once when the apiserver answers 401 (a rotated
        service-account token). ``transport``: tests put a fake apiserver here."""
        self._login = login
        self._limiter = limiter
        self._timeout = timeout
        info = login()
        self._authorization = info.as_http_headers()
        self._logins = 1  # how many times the credentials were read: a 401 rereads them once
        self._relogin = asyncio.Lock()
        # No more requests in flight than connections: a request's timeout counts from when it has
        # one, not while it queues for one behind a burst.
        self._in_flight = asyncio.Semaphore(connections)
        ssl_context = info.as_ssl_context()  # the CA and the client certificate, read once
        self._http = httpx.AsyncClient(
            base_url=info.server,
            headers={"Accept": "application/json"},
            timeout=timeout,
            # HTTP/1.1 on aiohttp (vmop/transport.py says why, with its measurements).
            transport=transport
            or AiohttpTransport(
                verify=ssl_context, connections=connections, proxy=info.proxy_url, trust_env=info.trust_env
            ),
        )

    @classmethod
    async def connect(cls, kubeconfig: str | None, limiter: WriteLimiter, *, connections: int) -> KubeAccess:
        """In-cluster credentials, else the kubeconfig (``kubeconfig`` or $KUBECONFIG)."""
        return cls(lambda: login(kubeconfig), limiter, connections=connections)

    async def close(self) -> None:
        await self._http.aclose()

    async def _request(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json", **params: str
    ) -> Any:
        """The apiserver's answer (JSON) to one request; a 401 rereads the credentials once and asks again."""
        content = json.dumps(body).encode() if body is not None else None
        response, logins = await self._send(method, path, content, content_type, params)
        if response.status_code == 401 and await self._reread_credentials(logins):
            response, _ = await self._send(method, path, content, content_type, params)
        if response.is_error:
            raise KubeError(
                response.status_code, response.reason_phrase, response.text, response.headers.get("Retry-After")
            )
        try:
            return response.json()
        except ValueError:  # not the apiserver (a proxy's page): no answer to use
            raise KubeError(response.status_code, "not JSON") from None

    async def _send(
        self, method: str, path: str, content: bytes | None, content_type: str, params: dict[str, str]
    ) -> tuple[httpx.Response, int]:
        """The answer, and which credentials it answers (how many logins they came after)."""
        permit = await self._limiter.acquire()
        logins = self._logins
        headers = {**self._authorization, **({"Content-Type": content_type} if content is not None else {})}
        try:
            async with self._in_flight, asyncio.timeout(self._timeout):  # httpx's bound each phase, this the whole
                response = await self._http.request(method, path, content=content, headers=headers, params=params)
        except (TimeoutError, httpx.TimeoutException) as exc:
            self._limiter.report(permit, Overloaded())
            raise KubeError(None, "Timeout") from exc
        except httpx.TransportError as exc:  # unreachable: no word on the apiserver's load
            raise KubeError(None, type(exc).__name__) from exc
        self._limiter.report(permit, outcome_of_status(response.status_code, response.headers.get("Retry-After")))
        return response, logins

    async def _reread_credentials(self, logins: int) -> bool:
        """Once for all the requests refused with the same credentials; whether there are new ones."""
        async with self._relogin:
            if self._logins == logins:
                try:
                    self._authorization = self._login().as_http_headers()
                except (OSError, ValueError, kopf.LoginError) as exc:  # the 401 stands
                    log.warning("cannot reread the Kubernetes credentials: %s", type(exc).__name__)
                    return False
                self._logins += 1
            return True

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return await self._merge(_object_path(plural, namespace, name) + "/status", {"status": status})

    async def patch_metadata(
        self,
        plural: str,
        namespace: str,
        name: str,
        *,
        annotations: dict[str, str | None] | None = None,
        finalizers: list[str] | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Annotations (None removes one) and the whole finalizer list. ``resource_version``: the
        object must still be at it (a finalizer list is replaced whole: another controller's
        change meanwhile must not be lost), else 409."""
        metadata: dict[str, Any] = {}
        if annotations:
            metadata["annotations"] = annotations
        if finalizers is not None:
            metadata["finalizers"] = finalizers
        if resource_version:
            metadata["resourceVersion"] = resource_version
        return await self._merge(_object_path(plural, namespace, name), {"metadata": metadata})

    async def _merge(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A merge patch of one of vmop's objects; the object as stored after it."""
        return dict(await self._request("PATCH", path, body, content_type=MERGE_PATCH))

    async def list_objects(self, plural: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        found = await self._request("GET", _objects_path(plural, namespace), labelSelector=selector)
        return list(found.get("items") or [])

    async def create_object(self, plural: str, namespace: str, body: dict[str, Any]) -> None:
        await self._request("POST", _objects_path(plural, namespace), body)

    async def json_patch(self, plural: str, namespace: str, name: str, operations: list[dict[str, Any]]) -> None:
        await self._request("PATCH", _object_path(plural, namespace, name), operations, content_type=JSON_PATCH)

    async def delete_object(self, plural: str, namespace: str, name: str, uid: str) -> None:
        """Delete the object if it is still the one with ``uid`` (else 409)."""
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": uid}}
        await self._request("DELETE", _object_path(plural, namespace, name), options)

    async def post_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self._request("POST", f"/api/v1/namespaces/{quote(namespace, safe='')}/events", event)

    async def namespace_annotations(self, namespace: str) -> dict[str, str]:
        return await self._namespace_metadata(namespace, "annotations")

    async def namespace_labels(self, namespace: str) -> dict[str, str]:
        return await self._namespace_metadata(namespace, "labels")

    async def _namespace_metadata(self, namespace: str, what: str) -> dict[str, str]:
        found = await self._request("GET", f"/api/v1/namespaces/{quote(namespace, safe='')}")
        return dict(found.get("metadata", {}).get(what) or {})

    async def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's values, decoded. Callers must keep them out of logs and errors."""
        found = await self._request(
            "GET", f"/api/v1/namespaces/{quote(namespace, safe='')}/secrets/{quote(name, safe='')}"
        )
        return {key: base64.b64decode(value).decode() for key, value in (found.get("data") or {}).items()}

    async def leases(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        found = await self._request("GET", _leases_path(namespace), labelSelector=selector)
        return list(found.get("items") or [])

    async def lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(await self._request("GET", f"{_leases_path(namespace)}/{quote(name, safe='')}"))
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._request("POST", _leases_path(namespace), body))

    async def replace_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """A PUT: refused (409) unless the Lease is still at ``body``'s resourceVersion."""
        name = quote(body["metadata"]["name"], safe="")
        return dict(await self._request("PUT", f"{_leases_path(namespace)}/{name}", body))

    async def server(self) -> str:
        """The apiserver's version and the protocol it answers in (any identity may read /version)."""
        response, _ = await self._send("GET", "/version", None, "", {})
        if response.is_error:
            raise KubeError(response.status_code, response.reason_phrase, response.text)
        return f"Kubernetes {response.json().get('gitVersion', '?')} over {response.http_version}"

    async def may(self, verb: str, resource: str, group: str = "") -> bool:
        """Whether this identity may do ``verb`` on ``resource`` cluster-wide (a SelfSubjectAccessReview,
        which every authenticated identity may ask)."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"verb": verb, "resource": resource, "group": group}},
        }
        answer = await self._request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
        return bool(answer.get("status", {}).get("allowed"))


def _objects_path(plural: str, namespace: str) -> str:
    if not namespace:  # a cluster-scoped kind (ComputeProvider)
        return f"/apis/{GROUP}/{VERSION}/{plural}"
    return f"/apis/{GROUP}/{VERSION}/namespaces/{quote(namespace, safe='')}/{plural}"


def _object_path(plural: str, namespace: str, name: str) -> str:
    return f"{_objects_path(plural, namespace)}/{quote(name, safe='')}"


def _leases_path(namespace: str) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{quote(namespace, safe='')}/leases"


def is_gone(error: BaseException) -> bool:
    """The object is no more (deleted meanwhile): nothing to write to."""
    return isinstance(error, KubeError) and error.status == 404


def is_conflict(error: BaseException) -> bool:
    """The object changed since the view the write was based on."""
    return isinstance(error, KubeError) and error.status == 409


class NamespacePolicies:
    """A namespace's annotations (deletion policy) and labels (a ComputeProvider's allowedNamespaces
    selector), each read at most every ``ttl`` seconds, one read at a time: deleting a thousand VMs
    of one namespace reads it a few times, not a thousand."""

    def __init__(self, kube: KubeAccess, clock: Callable[[], float], ttl: float = 2.0) -> None:
        self._kube = kube
        self._clock = clock
        self._ttl = ttl
        self._read: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def annotation(self, namespace: str, annotation: str) -> str | None:
        return (await self._cached(namespace, "annotations", self._kube.namespace_annotations)).get(annotation)

    async def labels(self, namespace: str) -> dict[str, str]:
        return await self._cached(namespace, "labels", self._kube.namespace_labels)

    async def _cached(
        self, namespace: str, what: str, read: Callable[[str], Awaitable[dict[str, str]]]
    ) -> dict[str, str]:
        key = (namespace, what)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._read.get(key)
            if cached is None or self._clock() - cached[0] > self._ttl:
                cached = (self._clock(), await read(namespace))
                self._read[key] = cached
        return cached[1]


class SecretCache:
    """The Secrets VirtualMachines name (cloud-init data, console passwords), each read at most
    every ``ttl`` seconds, one read at a time: a VM's pass of several rounds, or many VMs sharing
    one Secret, read it once. Values stay in memory only; a change is seen at the first pass after
    the ``ttl`` (Secrets are not watched: the resync brings that pass)."""

    def __init__(self, kube: KubeAccess, clock: Callable[[], float], ttl: float = 10.0) -> None:
        self._kube = kube
        self._clock = clock
        self._ttl = ttl
        self._read: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def data(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's data; LookupError, naming the Secret and never a value, when it is missing
        or vmop may not read it."""
        key = (namespace, name)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._read.get(key)
            if cached is None or self._clock() - cached[0] > self._ttl:
                cached = (self._clock(), await self._fetch(namespace, name))
                self._read[key] = cached
        return cached[1]

    async def _fetch(self, namespace: str, name: str) -> dict[str, str]:
        try:
            return await self._kube.secret_data(namespace, name)
        except KubeError as error:
            if error.status == 404:
                raise LookupError(f"Secret {name} does not exist in namespace {namespace}") from None
            if error.status == 403:
                raise LookupError(
                    f"vmop may not read Secret {name} in namespace {namespace} (RBAC: get on secrets; docs/security.md)"
                ) from None
            raise LookupError(f"Secret {name} could not be read: {error.status} {error.reason}") from None
        except (UnicodeDecodeError, ValueError):  # a value that is not text: its bytes are never shown
            raise LookupError(f"Secret {name} holds a value that is not UTF-8 text") from None
