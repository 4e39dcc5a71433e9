"""An in-memory stand-in for the apiserver side of controller/kube.py KubeAccess, for unit tests
of the engine's passes: merge patches of status and metadata, resourceVersions, the finalizer
precondition (409), 404 for a missing object, and every write recorded in order."""

from __future__ import annotations

import copy
from typing import Any

from vmop.controller.kube import KubeError


class FakeKube:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.writes: list[tuple[str, str, dict[str, Any]]] = []  # (what, name, body)
        self.events: list[dict[str, Any]] = []
        self.namespaces: dict[str, dict[str, str]] = {}
        self._rv = 100

    def add(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._rv += 1
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self.objects[(plural, obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
        return copy.deepcopy(obj)

    def _found(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        found = self.objects.get((plural, namespace, name))
        if found is None:
            raise KubeError(404, "Not Found")
        return found

    def _stored(self, found: dict[str, Any]) -> dict[str, Any]:
        self._rv += 1
        found["metadata"]["resourceVersion"] = str(self._rv)
        return copy.deepcopy(found)

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> dict[str, Any]:
        found = self._found(plural, namespace, name)
        self.writes.append(("status", name, status))
        merged = found.setdefault("status", {})
        for key, value in status.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return self._stored(found)

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
        found = self._found(plural, namespace, name)
        metadata = found["metadata"]
        if resource_version is not None and resource_version != metadata["resourceVersion"]:
            raise KubeError(409, "Conflict")
        self.writes.append(("metadata", name, {"annotations": annotations, "finalizers": finalizers}))
        current = metadata.setdefault("annotations", {})
        for key, value in (annotations or {}).items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        if finalizers is not None:
            metadata["finalizers"] = finalizers
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            del self.objects[(plural, namespace, name)]
            self._rv += 1
            metadata["resourceVersion"] = str(self._rv)
            return copy.deepcopy(found)
        return self._stored(found)

    async def post_event(self, namespace: str, event: dict[str, Any]) -> None:
        self.events.append(event)

    async def namespace_annotations(self, namespace: str) -> dict[str, str]:
        return dict(self.namespaces.get(namespace, {}))

    def delete(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        found = self._found(plural, namespace, name)
        found["metadata"]["deletionTimestamp"] = "2026-12-02T00:00:00Z"
        return self._stored(found)
