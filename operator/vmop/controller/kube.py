"""vmop's own Kubernetes reads and writes: the passes' status and metadata patches, the namespace
annotations of deletion policy, the credentials Secret, the Secrets VirtualMachines name. Async end
to end (kubernetes_asyncio), and every request through the engine's one rate limit, which pauses
all of them when the apiserver says it is overloaded (engine/ratelimit.py): a burst never turns into a retry storm.

A write answers the object as stored after it: passes put that into the engine's store, so the next
pass reads what was written even before the watch echoes it (engine/store.py).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.client.exceptions import ApiException

from vmop.api import GROUP, VERSION
from vmop.engine.ratelimit import Answered, Overloaded, WriteLimiter, outcome_of_status

T = TypeVar("T")
# Seconds one request may take: past it the apiserver is taken as overloaded (its own timeout for a
# write is 60 s; a write that waited this long answers nothing a retry would not).
REQUEST_TIMEOUT = 30.0
# The generated client would send a dict body to a custom object as a JSON patch: ask for a merge.
PATCH_OPTIONS: dict[str, Any] = {"_content_type": "application/merge-patch+json", "_request_timeout": REQUEST_TIMEOUT}


class KubeAccess:
    def __init__(self, api: k8s.ApiClient, limiter: WriteLimiter) -> None:
        self._api = api
        self._objects = k8s.CustomObjectsApi(api)
        self._core = k8s.CoreV1Api(api)
        self._authorization = k8s.AuthorizationV1Api(api)
        self._limiter = limiter

    @classmethod
    async def connect(cls, kubeconfig: str | None, limiter: WriteLimiter, *, connections: int) -> KubeAccess:
        """In-cluster credentials, else the kubeconfig (``kubeconfig`` or $KUBECONFIG)."""
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            await k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        configuration.connection_pool_maxsize = connections
        return cls(k8s.ApiClient(configuration), limiter)

    async def close(self) -> None:
        await self._api.close()

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        permit = await self._limiter.acquire()
        try:
            answer = await request()
        except ApiException as exc:
            headers: Any = exc.headers or {}
            self._limiter.report(permit, outcome_of_status(exc.status or 0, headers.get("Retry-After")))
            raise
        except TimeoutError:
            self._limiter.report(permit, Overloaded())
            raise
        self._limiter.report(permit, Answered())
        return answer

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        return await self._merge(
            self._objects.patch_namespaced_custom_object_status, plural, namespace, name, {"status": status}
        )

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
        return await self._merge(
            self._objects.patch_namespaced_custom_object, plural, namespace, name, {"metadata": metadata}
        )

    async def _merge(
        self, patch: Callable[..., Awaitable[Any]], plural: str, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A merge patch of one of vmop's objects; the object as stored after it."""
        answer: Any = await self._call(lambda: patch(GROUP, VERSION, namespace, plural, name, body, **PATCH_OPTIONS))
        return dict(answer)

    async def list_objects(self, plural: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        found: Any = await self._call(
            lambda: self._objects.list_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, label_selector=selector, _request_timeout=REQUEST_TIMEOUT
            )
        )
        return list(found.get("items", []))

    async def create_object(self, plural: str, namespace: str, body: dict[str, Any]) -> None:
        await self._call(
            lambda: self._objects.create_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, body, _request_timeout=REQUEST_TIMEOUT
            )
        )

    async def json_patch(self, plural: str, namespace: str, name: str, operations: list[dict[str, Any]]) -> None:
        options: dict[str, Any] = {"_content_type": "application/json-patch+json", "_request_timeout": REQUEST_TIMEOUT}
        await self._call(
            lambda: self._objects.patch_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, cast(Any, operations), **options
            )
        )

    async def delete_object(self, plural: str, namespace: str, name: str, uid: str) -> None:
        """Delete the object if it is still the one with ``uid`` (else 409)."""
        options = k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(uid=uid))
        await self._call(
            lambda: self._objects.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, body=options, _request_timeout=REQUEST_TIMEOUT
            )
        )

    async def post_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self._call(
            lambda: self._core.create_namespaced_event(namespace, cast(Any, event), _request_timeout=REQUEST_TIMEOUT)
        )

    async def namespace_annotations(self, namespace: str) -> dict[str, str]:
        found: Any = await self._call(lambda: self._core.read_namespace(namespace, _request_timeout=REQUEST_TIMEOUT))
        return dict(found.metadata.annotations or {})

    async def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's values, decoded. Callers must keep them out of logs and errors."""
        found: Any = await self._call(
            lambda: self._core.read_namespaced_secret(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        )
        return {key: base64.b64decode(value).decode() for key, value in (found.data or {}).items()}

    async def may(self, verb: str, resource: str, group: str = "") -> bool:
        """Whether this identity may do ``verb`` on ``resource`` cluster-wide (a SelfSubjectAccessReview,
        which every authenticated identity may ask)."""
        attributes = k8s.V1ResourceAttributes(verb=verb, resource=resource, group=group)
        review = k8s.V1SelfSubjectAccessReview(spec=k8s.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes))
        answer: Any = await self._call(
            lambda: self._authorization.create_self_subject_access_review(review, _request_timeout=REQUEST_TIMEOUT)
        )
        return bool(answer.status.allowed)


def is_gone(error: BaseException) -> bool:
    """The object is no more (deleted meanwhile): nothing to write to."""
    return isinstance(error, ApiException) and error.status == 404


def is_conflict(error: BaseException) -> bool:
    """The object changed since the view the write was based on."""
    return isinstance(error, ApiException) and error.status == 409


class NamespacePolicies:
    """A namespace's annotation, read at most every ``ttl`` seconds, one read at a time: deleting a
    thousand VMs of one namespace reads it a few times, not a thousand."""

    def __init__(self, kube: KubeAccess, clock: Callable[[], float], ttl: float = 2.0) -> None:
        self._kube = kube
        self._clock = clock
        self._ttl = ttl
        self._read: dict[str, tuple[float, dict[str, str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def annotation(self, namespace: str, annotation: str) -> str | None:
        async with self._locks.setdefault(namespace, asyncio.Lock()):
            cached = self._read.get(namespace)
            if cached is None or self._clock() - cached[0] > self._ttl:
                cached = (self._clock(), await self._kube.namespace_annotations(namespace))
                self._read[namespace] = cached
        return cached[1].get(annotation)


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
        except ApiException as error:
            if error.status == 404:
                raise LookupError(f"Secret {name} does not exist in namespace {namespace}") from None
            if error.status == 403:
                raise LookupError(
                    f"vmop may not read Secret {name} in namespace {namespace} (RBAC: get on secrets; docs/security.md)"
                ) from None
            raise LookupError(f"Secret {name} could not be read: {error.status} {error.reason}") from None
        except (UnicodeDecodeError, ValueError):  # a value that is not text: its bytes are never shown
            raise LookupError(f"Secret {name} holds a value that is not UTF-8 text") from None
