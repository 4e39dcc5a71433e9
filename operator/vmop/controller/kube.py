"""The few Kubernetes reads and writes a pass makes outside kopf's own patching: the create
mark before a create call, the VirtualMachine a migration is about, namespace annotations, the
credentials Secret. Uses the official client (its calls are blocking, so they run in a thread)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from vmop.api import GROUP, VERSION


class KubeAccess:
    def __init__(self, kubeconfig: str | None = None, *, connections: int = 10) -> None:
        """``connections``: kept open, one per thread that may call at once (beyond them each
        call would open, and drop, a TLS connection of its own)."""
        try:
            k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
        configuration = k8s.Configuration.get_default_copy()
        configuration.connection_pool_maxsize = connections
        api = k8s.ApiClient(configuration)
        self._objects = k8s.CustomObjectsApi(api)
        self._core = k8s.CoreV1Api(api)
        self._authorization = k8s.AuthorizationV1Api(api)

    async def annotate(self, plural: str, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
        body = {"metadata": {"annotations": annotations}}
        await asyncio.to_thread(
            self._objects.patch_namespaced_custom_object, GROUP, VERSION, namespace, plural, name, body
        )

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        body = {"status": status}
        await asyncio.to_thread(
            self._objects.patch_namespaced_custom_object_status, GROUP, VERSION, namespace, plural, name, body
        )

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One of vmop's objects as the apiserver has it now; None if there is none."""
        try:
            found: Any = await asyncio.to_thread(
                self._objects.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return dict(found)

    async def namespace_annotations(self, namespace: str) -> dict[str, str]:
        found: Any = await asyncio.to_thread(self._core.read_namespace, namespace)
        return dict(found.metadata.annotations or {})

    async def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """The Secret's values, decoded. Callers must keep them out of logs and errors."""
        found: Any = await asyncio.to_thread(self._core.read_namespaced_secret, name, namespace)
        return {key: base64.b64decode(value).decode() for key, value in (found.data or {}).items()}

    async def may(self, verb: str, resource: str, group: str = "") -> bool:
        """Whether this identity may do ``verb`` on ``resource`` cluster-wide (a SelfSubjectAccessReview,
        which every authenticated identity may ask)."""
        attributes = k8s.V1ResourceAttributes(verb=verb, resource=resource, group=group)
        review = k8s.V1SelfSubjectAccessReview(spec=k8s.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes))
        answer: Any = await asyncio.to_thread(self._authorization.create_self_subject_access_review, review)
        return bool(answer.status.allowed)
